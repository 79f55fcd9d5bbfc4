"""The oracle's fast path: each tool's rules compiled into one Python function.

Rules (measured by ``benchmarks/oracle.py``; the differential test
``tests/unit/test_fastpath_differential.py`` proves them):

* Each rule's ``when`` is parsed (:mod:`.celparse`) and translated (:mod:`.translate`) into a
  Python expression that gives exactly CEL's value or raises. A rule outside the translated subset
  runs on the CEL engine, always; :func:`explain` lists which rules run where, and
  ``flywheel oracle explain`` prints it.
* A tool's function returns the positions of the rules that matched, and ``~position`` for each
  rule the CEL engine must decide on this input: a rule whose translation raised (a missing key, a
  type CEL refuses, anything it is not sure of) and every rule left to CEL. The CEL engine's answer
  (a match, a non-match or a ``RULE_ERROR`` with CEL's message) is then the rule's answer, so an
  error is always CEL's, with CEL's text.
* Arguments CEL and Python might read differently are left to CEL whole (:func:`plain_arguments`):
  integers
  of 16 digits or more (CEL's ints stop at 2**63 and it compares ints with doubles; Python's ints
  are unbounded, and ints below 2**53 compare with doubles alike in both), NaN and infinities,
  and lone surrogates.
"""

from __future__ import annotations

import json
import json.scanner
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alignment_flywheel.errors import FlywheelError
from alignment_flywheel.events import Proposal
from alignment_flywheel.oracle import expressions
from alignment_flywheel.oracle.celparse import Unsupported, parse
from alignment_flywheel.oracle.expressions import ARTIFACT_VARIABLES, FUNCTIONS
from alignment_flywheel.oracle.provenance import SessionContext, requested
from alignment_flywheel.oracle.translate import Translator

MAX_INT_DIGITS = 15
_SURROGATE_ESCAPE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"  # an escaped lone high surrogate
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F]"  # an escaped lone low surrogate
)
_RAW_SURROGATE = re.compile("[\ud800-\udfff]")


class _Exotic(Exception):
    pass


def _integer(text: str) -> int:
    if len(text) > MAX_INT_DIGITS:
        raise _Exotic
    return int(text)


def _constant(text: str) -> Any:
    raise _Exotic


_DECODER = json.JSONDecoder(parse_int=_integer, parse_constant=_constant)
_SCAN: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(_DECODER)  # type: ignore[arg-type]


def plain_arguments(text: str) -> dict[str, Any] | None:
    """The arguments parsed, or None when they hold what the fast path leaves to CEL (see the
    module's rules); decoding and checking cost about what ``json.loads`` alone costs."""
    if "\\u" in text and _SURROGATE_ESCAPE.search(text) is not None:
        return None
    if not text.isascii() and _RAW_SURROGATE.search(text) is not None:
        return None
    try:
        if text[:1] == "{" and text[-1:] == "}":
            found, end = _SCAN(text, 0)  # the decoder's C scanner, without its whitespace steps
            if end != len(text):
                found = _DECODER.decode(text)
        else:
            found = _DECODER.decode(text)
    except _Exotic:
        return None
    return found if isinstance(found, dict) else None


ToolFunction = Callable[[Proposal, dict[str, Any], SessionContext | None], Any]


class Fallback(FlywheelError):
    """The translation is not sure of this input: the CEL engine decides the rule."""


_NUMBERS = (int, float)
_SCALARS = (str, bool, int, float, type(None))
_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _fail() -> Any:
    raise Fallback


def _bool(value: Any) -> bool:
    if value is True or value is False:
        return bool(value)
    raise Fallback


def _equal(a: Any, b: Any) -> bool:
    kind, other = a.__class__, b.__class__
    if kind is other:
        if kind is list:
            return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
        if kind is dict:
            return bool(a.keys() == b.keys()) and all(_equal(a[k], b[k]) for k in a)
        if kind in _SCALARS:
            return bool(a == b)
        raise Fallback
    if kind in _NUMBERS and other in _NUMBERS:
        return bool(a == b)
    if kind in _SCALARS and other in _SCALARS:
        return False
    raise Fallback


def _in(element: Any, container: Any) -> bool:
    if container.__class__ is dict:
        if element.__class__ is str:
            return element in container
        raise Fallback
    if container.__class__ is list:
        return any(_equal(element, item) for item in container)
    raise Fallback


def _compare(a: Any, b: Any, op: str) -> bool:
    kind, other = a.__class__, b.__class__
    if (kind in _NUMBERS and other in _NUMBERS) or (kind is other and kind in (str, bool)):
        return bool(_ORDER[op](a, b))
    raise Fallback


def _has(holder: Any, field: str) -> bool:
    if holder.__class__ is dict:
        return field in holder
    raise Fallback


def _size(value: Any) -> int:
    kind = value.__class__
    if (kind is str and value.isascii()) or kind is list or kind is dict:
        return len(value)
    raise Fallback


def _double(value: Any) -> float:
    if value.__class__ is int:
        return float(value)
    if value.__class__ is float:
        return float(value)
    raise Fallback


def _at(holder: Any, key: Any) -> Any:
    if holder.__class__ is list and key.__class__ is int and 0 <= key < len(holder):
        return holder[key]
    if holder.__class__ is dict and key.__class__ is str:
        return holder[key]
    raise Fallback


def _items(collection: Any) -> Any:
    if collection.__class__ is list or collection.__class__ is dict:
        return collection
    raise Fallback


def _split(text: Any, separator: Any) -> list[str]:
    if text.__class__ is str and separator.__class__ is str:
        found: list[str] = FUNCTIONS["split"](text, separator)
        return found
    raise Fallback


def _string_test(text: Any, argument: Any, name: str) -> bool:
    if text.__class__ is str and argument.__class__ is str:
        if name == "contains":
            return argument in text
        return bool(text.startswith(argument) if name == "startsWith" else text.endswith(argument))
    raise Fallback


def _risk(proposal: Proposal) -> dict[str, Any]:
    risk = proposal.risk
    return {
        "origin": risk.origin.value,
        "blast_radius": risk.blast_radius.value,
        "proposer_confidence": risk.proposer_confidence,
        "environment": risk.environment,
    }


def _parent(proposal: Proposal) -> str:
    parent = proposal.parent_proposal_id
    return "" if parent is None else str(parent)


RUNTIME: dict[str, Any] = {
    "_fail": _fail,
    "_bool": _bool,
    "_equal": _equal,
    "_in": _in,
    "_compare": _compare,
    "_has": _has,
    "_size": _size,
    "_double": _double,
    "_at": _at,
    "_items": _items,
    "_split": _split,
    "_string_test": _string_test,
    "_risk": _risk,
    "_parent": _parent,
    "_lower_ascii": FUNCTIONS["lowerAscii"],
    "_NUMBERS": _NUMBERS,
    "_NoneType": type(None),
    "_expressions": expressions,
    "_requested": requested,
}


@dataclass(frozen=True, slots=True)
class CompiledTool:
    """One tool's rules as one function, and which rules the CEL engine runs always."""

    function: ToolFunction
    on_cel: tuple[int, ...]
    """Positions of the rules outside the translated subset."""
    reasons: Mapping[int, str]
    """Why each of them is."""
    source: str


def translate_rule(source: str, translator: Translator) -> str:
    """The Python expression of one rule; Unsupported when it must run on CEL."""
    return translator.rule(parse(source))


def compile_tool(
    sources: Sequence[str],
    fixed: Mapping[str, Any],
    provenance_keys: frozenset[str] | None = frozenset(),
    *,
    first: bool = False,
) -> CompiledTool:
    """The function of one tool's rules (``sources``, in order) given the artifact variables
    ``fixed``; ``provenance_keys`` are the argument keys whose provenance the rules read (None:
    all), as the CEL path computes them. Compiled once per distinct input (an artifact's tools
    often share their rules, and refinement builds many artifacts from the same rules).

    ``first``: the function returns, instead of a list, the position of the first rule that holds,
    ``~position`` when that rule must go to the CEL engine first, ``len(sources)`` when none does
    (the risk policy's tiers)."""
    key = (tuple(sources), json.dumps(fixed, sort_keys=True, default=repr), provenance_keys, first)
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = _compile(sources, fixed, provenance_keys, first)
        if len(_COMPILED) >= MAX_COMPILED:
            _COMPILED.clear()
        _COMPILED[key] = compiled
    return compiled


_COMPILED: dict[tuple[Any, ...], CompiledTool] = {}
MAX_COMPILED = 4096


def _compile(
    sources: Sequence[str],
    fixed: Mapping[str, Any],
    provenance_keys: frozenset[str] | None,
    first: bool,
) -> CompiledTool:
    namespace: dict[str, Any] = dict(RUNTIME)
    translator = Translator(namespace, fixed)
    body: list[str] = []
    on_cel: list[int] = []
    reasons: dict[int, str] = {}
    for position, source in enumerate(sources):
        try:
            expression = translate_rule(source, translator)
        except (Unsupported, RecursionError) as exc:
            on_cel.append(position)
            reasons[position] = str(exc) or type(exc).__name__
            body.append(f"    return {~position}" if first else f"    hits.append({~position})")
            continue
        found, failed = (
            (f"return {position}", f"return {~position}")
            if first
            else (f"hits.append({position})", f"hits.append({~position})")
        )
        body += [
            "    try:",
            f"        if {expression}:",
            f"            {found}",
            "    except Exception:",
            f"        {failed}",
        ]
    prelude = _prelude("\n".join(body), namespace, provenance_keys)
    ending = f"    return {len(sources)}" if first else "    return hits"
    text = "\n".join(["def _tool(P, A, S):", *prelude, "    hits = []", *body, ending])
    exec(compile(text, "<oracle fast path>", "exec"), namespace)
    return CompiledTool(namespace["_tool"], tuple(on_cel), reasons, text)


def _prelude(
    body: str, namespace: dict[str, Any], provenance_keys: frozenset[str] | None
) -> list[str]:
    lines = []
    if "_V_provenance" in body:
        namespace["_provenance_keys"] = provenance_keys
        chosen = "_chosen(A, _provenance_keys)"
        lines.append(f"    _V_provenance = _expressions.provenance_variable(S, {chosen})")
        namespace["_chosen"] = _chosen
    if "_V_requested" in body:
        lines.append("    _V_requested = _requested(S, P.tool)")
    return lines


def _chosen(arguments: dict[str, Any], keys: frozenset[str] | None) -> dict[str, Any]:
    return arguments if keys is None else {k: arguments[k] for k in keys if k in arguments}


def explain(sources: Sequence[str]) -> list[str | None]:
    """For each rule: None when the fast path translates it, else why the CEL engine runs it.
    Judged on the rule alone: the artifact's variables (``data``, ``effect``, ``roles``) count as
    known, as the oracle folds in each tool's values (a rule naming a set or role a tool does not
    have goes to CEL there, which then reports the missing key)."""
    found: list[str | None] = []
    for source in sources:
        translator = Translator({}, {}, ARTIFACT_VARIABLES)
        try:
            translate_rule(source, translator)
        except (Unsupported, RecursionError) as exc:
            found.append(str(exc) or type(exc).__name__)
        else:
            found.append(None)
    return found
