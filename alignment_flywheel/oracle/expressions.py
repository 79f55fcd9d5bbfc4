"""CEL expressions over a proposal: compiled once, evaluated against one context per proposal.

Rules:

* Every expression (a rule's ``when``, a risk tier's ``when``) sees the same variables:
  ``tool`` (string), ``args`` (the arguments object), ``risk`` (``origin``, ``blast_radius``,
  ``proposer_confidence``, ``environment``), ``proposer``, ``session``, ``reasoning`` (``""`` when
  absent) and ``parent`` (the parent proposal id, ``""`` when absent).
* ``provenance`` maps each top-level argument key to where its value came from (``"user"``,
  ``"tool:<name>"``, ``"none"``, ``"trivial"``), judged against the session context
  (:mod:`alignment_flywheel.oracle.provenance`); an empty map without one, so rules guard with
  ``has(provenance.key)``. It is computed only for expressions that reference it.
* ``requested`` (bool) says whether the session's request names the tool's action
  (:func:`~alignment_flywheel.oracle.provenance.requested`); false without a session context.
  ``provenance`` and ``requested`` are the :data:`SESSION_VARIABLES`: a decision that reads them
  depends on the session context.
* An oracle rule also sees what its artifact says (:data:`ARTIFACT_VARIABLES`): ``data`` (the
  artifact's named sets, each a list), ``effect`` (the tool's effect class: ``"read_only"``,
  ``"side_effect"``, ``"destructive"`` or ``"unknown"``) and ``roles`` (argument name to role); see
  :mod:`alignment_flywheel.oracle.catalog` and :mod:`alignment_flywheel.oracle.data`. Callers
  that have no artifact (norms, tier expressions) do not provide them.
* The functions are CEL's standard ones (``size``, ``matches``, ``startsWith``, ``contains``,
  ``int``, ``double``, ``timestamp``, the ``has``/``exists``/``all``/``map``/``filter`` macros ...)
  plus cel-go's ``strings`` and ``sets`` extensions (``lowerAscii``, ``trim``, ``split``,
  ``replace``, ``sets.intersects`` ...).
* Compiling refuses syntax errors, names that are not among those variables (or CEL's type names,
  as in ``type(args.to) == string``) and functions that do not exist, with CEL's message or a list
  of what is known.
* Evaluating must give a bool. Anything else (a missing key, a type error, a non-bool result) is an
  :class:`ExpressionError` whose message says what failed; callers decide what it means (the rule
  oracle reports it as evidence, never as a silent non-match).

Speed (converting Python values into CEL costs about a microsecond per value, far more than
evaluating a simple rule, and CEL's ``matches`` compiles its pattern on every call):

* A context is built once per proposal and shared by every expression evaluated on it, with only
  the variables those expressions reference; when they reach ``args`` only through field access
  (``args.cmd``, ``args["cmd"]``, ``has(args.cmd)``), only those fields are converted.
* ``x.matches("literal")`` is compiled once into a call of a registered function that runs the
  pattern with Python's ``re`` (``search``, as CEL's ``matches`` is unanchored), translated by
  :mod:`alignment_flywheel.oracle.regex` so that it matches exactly what CEL's regex engine
  matches; a pattern outside that translation's subset is left to CEL, and so is a non-ASCII
  subject of a pattern using the Unicode classes ``\\d \\w \\s \\b``.
* ``data.name`` is compiled as ``data["name"]``: the CEL binding copies a list reached by field
  selection on every evaluation, but not one reached by index. :func:`data_references` names the
  sets an expression reads, so that the artifact can refuse a rule naming a set it does not hold.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import cel
from cel.stdlib import EXTENSIONS

from alignment_flywheel.errors import FlywheelError
from alignment_flywheel.events import Proposal
from alignment_flywheel.oracle.celparse import Unsupported
from alignment_flywheel.oracle.provenance import SessionContext, provenance_variable, requested
from alignment_flywheel.oracle.regex import Translated
from alignment_flywheel.oracle.regex import translate as translate_regex

ARTIFACT_VARIABLES = frozenset({"data", "effect", "roles"})
VARIABLES = frozenset({"tool", "args", "risk", "proposer", "session", "reasoning", "parent"})
VARIABLES |= ARTIFACT_VARIABLES
SESSION_VARIABLES = frozenset({"provenance", "requested"})
VARIABLES |= SESSION_VARIABLES
TYPE_NAMES = frozenset(
    {"bool", "bytes", "double", "int", "list", "map", "null_type", "string", "type", "uint"}
)
FUNCTIONS: dict[str, Callable[..., Any]] = {**EXTENSIONS["strings"], **EXTENSIONS["sets"]}
NATIVE_FUNCTIONS = frozenset(
    {
        "bytes",
        "contains",
        "double",
        "duration",
        "dyn",
        "endsWith",
        "int",
        "matches",
        "size",
        "startsWith",
        "string",
        "timestamp",
        "type",
        "uint",
        "getDate",
        "getDayOfMonth",
        "getDayOfWeek",
        "getDayOfYear",
        "getFullYear",
        "getHours",
        "getMilliseconds",
        "getMinutes",
        "getMonth",
        "getSeconds",
    }
)
KNOWN_FUNCTIONS = NATIVE_FUNCTIONS | frozenset(FUNCTIONS)
_LITERAL = (
    r"""[rR]?(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''"""
    r"""|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')"""
)
_TOKENS = re.compile(
    rf"(?P<call>\.\s*matches\s*\(\s*(?P<pattern>{_LITERAL})\s*\))"
    rf"|(?P<args>(?<![.\w])args\b\s*(?:\.\s*(?P<field>[A-Za-z_]\w*)(?P<method>\s*\()?"
    rf"|\[\s*(?P<key>{_LITERAL})\s*\])?)"
    rf"|(?P<literal>{_LITERAL})"
)

_BINDERS = re.compile(r"\b(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")


def _field_access(variable: str) -> re.Pattern[str]:
    """A string literal (skipped), or ``variable``, ``variable.name`` or ``variable["key"]``."""
    return re.compile(
        rf"(?P<literal>{_LITERAL})|(?<![.\w]){variable}\b\s*"
        rf"(?:\.\s*(?P<name>[A-Za-z_]\w*)\b(?!\s*\()|\[\s*(?P<key>{_LITERAL})\s*\])?"
    )


_DATA = _field_access("data")
_PROVENANCE = _field_access("provenance")
_IN_HAS = re.compile(r"\bhas\s*\(\s*$")


class ExpressionError(FlywheelError):
    """A compiled expression failed on one input, or did not give a bool."""


@dataclass(frozen=True, slots=True, eq=False)
class Expression:
    """A compiled expression and what its context must hold.

    ``args_fields`` is None when the expression uses ``args`` as a whole; ``provenance_fields``
    likewise for ``provenance``.
    """

    source: str
    program: cel.Program
    functions: Mapping[str, Callable[..., Any]]
    variables: frozenset[str]
    args_fields: frozenset[str] | None
    provenance_fields: frozenset[str] | None = frozenset()


@dataclass(frozen=True, slots=True)
class ContextPlan:
    """What to put in the context shared by a set of expressions."""

    functions: Mapping[str, Callable[..., Any]]
    variables: frozenset[str]
    args_fields: frozenset[str] | None
    provenance_fields: frozenset[str] | None = frozenset()

    @classmethod
    def of(cls, expressions: Iterable[Expression]) -> ContextPlan:
        functions: dict[str, Callable[..., Any]] = {}
        variables: set[str] = set()
        listed = list(expressions)
        for expression in listed:
            functions.update(expression.functions)
            variables |= expression.variables
        fields = _union(e.args_fields for e in listed)
        provenance = _union(e.provenance_fields for e in listed)
        return cls(functions, frozenset(variables), fields, provenance)


def _union(parts: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
    """The union of field sets; None (every field) as soon as one is None."""
    found: set[str] = set()
    for part in parts:
        if part is None:
            return None
        found |= part
    return frozenset(found)


def compile_expression(source: str) -> Expression:
    """The compiled expression; ValueError with CEL's message when it cannot be used."""
    if not source.strip():
        raise ValueError("empty expression")
    try:
        cel.compile(source)
    except ValueError as exc:
        raise ValueError(" ".join(str(exc).split())) from None
    rewritten, functions, fields = _rewrite(source)
    program = cel.compile(_index_data(rewritten))
    bound = set(_BINDERS.findall(source))
    referenced = set(program.variables()) - bound - TYPE_NAMES
    unknown = sorted(referenced - VARIABLES)
    if unknown:
        known = ", ".join(sorted(VARIABLES))
        raise ValueError(f"unknown variable(s) {', '.join(unknown)}; known: {known}")
    called = program.references()["functions"]
    missing = sorted(
        f for f in called if f[0] not in "_@!" and f not in KNOWN_FUNCTIONS and f not in functions
    )
    if missing:
        raise ValueError(f"unknown function(s) {', '.join(missing)}")
    used = {name: FUNCTIONS[name] for name in called if name in FUNCTIONS}
    provenance = _provenance_fields(source)
    return Expression(
        source, program, {**used, **functions}, frozenset(referenced), fields, provenance
    )


def _provenance_fields(source: str) -> frozenset[str] | None:
    """The argument keys whose provenance the expression reads (None: it reads the whole map)."""
    return _fields_read(_PROVENANCE, source)


def _fields_read(access: re.Pattern[str], source: str) -> frozenset[str] | None:
    """The names read through ``access`` (a :func:`_field_access` pattern) outside string
    literals; None when the variable is also used otherwise (whole, or by a computed key)."""
    names: set[str] = set()
    for token in access.finditer(source):
        if token.group("literal"):
            continue
        name = token.group("name") or _literal_value(token.group("key"))
        if name is None:
            return None
        names.add(name)
    return frozenset(names)


def _rewrite(source: str) -> tuple[str, dict[str, Callable[..., Any]], frozenset[str] | None]:
    """Literal ``matches`` patterns as registered functions; the ``args`` fields referenced."""
    functions: dict[str, Callable[..., Any]] = {}
    fields: set[str] | None = set()
    parts: list[str] = []
    position = 0
    for token in _TOKENS.finditer(source):
        if token.group("call"):
            replacement = _regex_call(token.group("pattern"), functions)
            if replacement is not None:
                parts += [source[position : token.start()], replacement]
                position = token.end()
        elif token.group("args") and fields is not None:
            field = token.group("field") or _literal_value(token.group("key"))
            if field is None or token.group("method"):
                fields = None
            else:
                fields.add(field)
    parts.append(source[position:])
    return "".join(parts), functions, None if fields is None else frozenset(fields)


def _literal_value(literal: str | None) -> str | None:
    if literal is None:
        return None
    value = cel.evaluate(literal)
    return value if isinstance(value, str) else None


def _regex_call(literal: str, functions: dict[str, Callable[..., Any]]) -> str | None:
    pattern = _literal_value(literal)
    if pattern is None:
        return None
    try:
        translated = translate_regex(pattern)
    except Unsupported:
        return None
    name = "flywheelMatches_" + hashlib.sha256(pattern.encode()).hexdigest()[:16]
    functions[name] = _matcher(translated, pattern)
    return f".{name}()"


def _matcher(translated: Translated, pattern: str) -> Callable[[str], bool]:
    """CEL's ``matches`` with this pattern: Python's ``re`` where it is exact, else CEL's own."""
    search = translated.pattern.search
    if not translated.ascii_only:
        return lambda text: search(text) is not None
    program = cel.compile("text.matches(pattern)")

    def matches(text: str) -> bool:
        if text.isascii():
            return search(text) is not None
        found = program.execute(cel.Context(variables={"text": text, "pattern": pattern}))
        return bool(found)

    return matches


def data_references(source: str) -> frozenset[str] | None:
    """The named sets the expression reads (``data.x``, ``data["x"]``); None when it uses ``data``
    otherwise (``data[args.kind]``, ``data`` as a whole), so that any set may be read."""
    if "data" in _BINDERS.findall(source):
        return frozenset()
    return _fields_read(_DATA, source)


def _index_data(source: str) -> str:
    """``data.x`` as ``data["x"]`` (not inside ``has()``, nor when a macro binds ``data``)."""
    if "data" in _BINDERS.findall(source):
        return source
    parts: list[str] = []
    position = 0
    for token in _DATA.finditer(source):
        name = token.group("name")
        if name is not None and not _IN_HAS.search(source, 0, token.start()):
            parts += [source[position : token.start()], f'data["{name}"]']
            position = token.end()
    parts.append(source[position:])
    return "".join(parts)


def proposal_variables(
    proposal: Proposal,
    arguments: Mapping[str, Any],
    plan: ContextPlan | None = None,
    session: SessionContext | None = None,
) -> dict[str, Any]:
    """The variables the plan's expressions see for this proposal (all of them without a plan)."""
    wanted = VARIABLES if plan is None else plan.variables
    values: dict[str, Any] = {}
    if "provenance" in wanted:
        keys = None if plan is None else plan.provenance_fields
        chosen = arguments if keys is None else {k: arguments[k] for k in keys if k in arguments}
        values["provenance"] = provenance_variable(session, chosen)
    if "requested" in wanted:
        values["requested"] = requested(session, proposal.tool)
    if "args" in wanted:
        fields = None if plan is None else plan.args_fields
        values["args"] = (
            arguments if fields is None else {k: arguments[k] for k in fields if k in arguments}
        )
    if "risk" in wanted:
        risk = proposal.risk
        values["risk"] = {
            "origin": risk.origin.value,
            "blast_radius": risk.blast_radius.value,
            "proposer_confidence": risk.proposer_confidence,
            "environment": risk.environment,
        }
    if "tool" in wanted:
        values["tool"] = proposal.tool
    if len(wanted - {"args", "risk", "tool"}):
        parent = proposal.parent_proposal_id
        others = {
            "proposer": proposal.proposer_id,
            "session": proposal.session_id,
            "reasoning": proposal.reasoning or "",
            "parent": "" if parent is None else str(parent),
        }
        values.update((k, v) for k, v in others.items() if k in wanted)
    return values


def make_context(
    variables: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]] = FUNCTIONS
) -> cel.Context:
    """An evaluation context with these variables and functions."""
    return cel.Context(variables=dict(variables), functions=dict(functions))


def proposal_context(
    proposal: Proposal,
    arguments: Mapping[str, Any],
    plan: ContextPlan | None = None,
    session: SessionContext | None = None,
) -> cel.Context:
    """One evaluation context for every expression of the plan evaluated on this proposal."""
    functions = FUNCTIONS if plan is None else plan.functions
    return make_context(proposal_variables(proposal, arguments, plan, session), functions)


def evaluate_bool(program: cel.Program, context: cel.Context) -> bool:
    """The expression's value; ExpressionError when it fails or is not a bool."""
    try:
        value = program.execute(context)
    except KeyError as exc:
        raise ExpressionError(f"no such key: {exc.args[0]!r}") from None
    except (IndexError, TypeError, ValueError, RuntimeError, ArithmeticError) as exc:
        raise ExpressionError(" ".join(str(exc).split())) from None
    if not isinstance(value, bool):
        # A map's items come back from CEL in no fixed order: its size, not its text.
        shown = f"of {len(value)}" if isinstance(value, dict | list) else f"{value!r:.60}"
        raise ExpressionError(f"must give a bool, gave {type(value).__name__} {shown}")
    return value
