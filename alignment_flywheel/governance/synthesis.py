"""Candidate predicates over what a cluster's members share, for refinement to choose from.

A predicate is a small CEL expression over one top-level argument that holds for every member of
a cluster. Candidates, from the most general kind to the most specific (:data:`KIND_ORDER`):

* ``steered`` (given the members' session contexts and the oracle's tool catalog): every member
  is an action the request never named, with nothing from the user's request, that destroys
  something or is aimed at a recipient, payee, destination or URL that only the text of an
  earlier tool output mentioned (:mod:`.steered`). It names no tool or value, so its rule
  applies to every tool (``*``).
* ``untrusted`` (given the members' session contexts): every member's value of the argument came
  from an earlier tool's output and none from the user's request: ``has(provenance.k) &&
  !("user" in provenance.k) && provenance.k.exists(s, s.startsWith("tool:") ||
  s.startsWith("text:"))``. What the members
  share is where the value came from, not the value, so the rule carries over to values nobody
  reported (CaMeL's point: data from tool outputs steering a side effect). Values from nowhere
  (the agent's own words) are not enough: benign calls are full of them. Only for members that
  all have a session context.
* ``novel`` (given the values the argument had in the confirmed-benign history of the cluster's
  tools, ``known``): every member's value (for a list, one of its elements) is none of them, and
  every value names something (a single-token address, account, URL, id or name: never a command
  or prose, where every value is new). The
  known values become a named set of the artifact (data beside rules, :attr:`Predicate.data`,
  named ``benign_<scope>_<key>``), so the rule stops values nobody reported and the set can be
  grown by later patches.

* ``flag``: every member's command has a short flag containing a letter (``-rf``, ``-Rf`` and
  ``-fr`` all contain ``r``).
* ``host``: every member's URL-like argument names the same host (with or without a scheme:
  ``https://a.example/x`` and ``www.a.example/x`` both name their host).
* ``prefix``: every member's path-like argument starts with the same directory prefix.
* ``word``: every member's argument contains the word (letters, digits, ``_``; case-insensitive),
  only in commands, SQL, paths and single tokens: never in free text (a body, a title, several
  words of prose), where a shared word is a lexical accident, not what the members have in common.
* ``element``: every member's list argument contains the same string (an e-mail's
  ``recipients``, a meeting's ``participants``).
* ``value``: every member's argument has the same value, a string that is not free text.
* ``number``: every member's numeric argument is at least the smallest member value.

Every predicate guards its argument: ``has(args.k) && type(args.k) == string && ...``, so a call
without the key, or with a value of another type, simply does not match (it is never a rule error,
which the risk policy would escalate). Keys that are not identifiers are read as ``args["k"]``.

:func:`exact_condition` is the narrowest rule there is: the tool call equals one of the given calls,
argument for argument; refinement falls back to it when no general rule passes its regression.
The tools glob is the members' tool if they share one, else their common dotted prefix with ``*``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from alignment_flywheel.events import Proposal
from alignment_flywheel.governance import steered
from alignment_flywheel.governance.features import string_shape
from alignment_flywheel.oracle.catalog import ToolCatalog
from alignment_flywheel.oracle.provenance import SessionContext, provenance
from alignment_flywheel.oracle.sources import TEXT_PREFIX, TOOL_PREFIX, USER

WORD = re.compile(r"[a-z0-9_]+")
FLAG = re.compile(r"(?:^|\s)-([a-zA-Z]+)")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
BARE_HOST = re.compile(r"^([a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})(?::\d+)?(?:[/?#]|$)")
KIND_ORDER = {
    "steered": -3,
    "untrusted": -2,
    "novel": -1,
    "flag": 0,
    "host": 1,
    "prefix": 2,
    "word": 3,
    "element": 4,
    "value": 5,
    "number": 6,
}
WORD_SHAPES = frozenset({"command", "sql", "path", "word"})
VALUE_SHAPES = frozenset({"url", "path", "number", "email", "word", "flag"})
IDENTIFIER_SHAPES = frozenset({"url", "number", "email", "word"})
MIN_WORD = 2
MAX_WORDS_PER_KEY = 12
MAX_ELEMENTS_PER_KEY = 12
MAX_VALUE_CHARS = 256
MAX_EXACT_CALLS = 64


@dataclass(frozen=True, slots=True)
class Predicate:
    """A CEL expression every member satisfies, and what it is about (for the rationale)."""

    expression: str
    kind: str
    key: str
    value: str
    data: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """The named sets the expression reads (name, values), added to the artifact with the rule."""
    tools: str | None = None
    """The rule's tools glob when it reaches beyond the members' tools (``*``)."""

    def describe(self) -> str:
        return f"{self.kind} {self.value!r} in {self.key}"


def tools_glob(tools: Sequence[str]) -> str:
    unique = sorted(set(tools))
    if len(unique) == 1:
        return unique[0]
    parts = [t.split(".") for t in unique]
    common = []
    for segments in zip(*parts, strict=False):
        if len(set(segments)) != 1:
            break
        common.append(segments[0])
    return ".".join(common) + ".*" if common else "*"


def shared_predicates(
    members: Sequence[Proposal],
    sessions: Mapping[uuid.UUID, SessionContext] | None = None,
    known: Known | None = None,
    *,
    catalog: ToolCatalog | None = None,
    untrusted: bool = True,
) -> list[Predicate]:
    """Every candidate predicate that holds for all members, most general kinds first
    (``untrusted``: whether that kind is a candidate at all)."""
    arguments = [m.arguments_object() for m in members]
    keys = set.intersection(*(set(a) for a in arguments)) if arguments else set()
    found = _wide(members, arguments, sessions or {}, catalog)
    if untrusted:
        found += _untrusted(members, arguments, keys, sessions or {})
    if known is not None:
        found += _novel(arguments, keys, known)
    for key in sorted(keys):
        values = [a[key] for a in arguments]
        if all(isinstance(v, str) for v in values):
            found += _string_predicates(key, [str(v) for v in values])
        elif all(isinstance(v, list) for v in values):
            found += [_element(key, e) for e in _shared_elements(values)]
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            low = min(float(v) for v in values)
            found.append(_number(key, low))
    return sorted(found, key=lambda p: KIND_ORDER[p.kind])


def _wide(
    members: Sequence[Proposal],
    arguments: list[dict[str, Any]],
    sessions: Mapping[uuid.UUID, SessionContext],
    catalog: ToolCatalog | None,
) -> list[Predicate]:
    if not steered.all_steered(members, arguments, sessions, catalog):
        return []
    why = (
        "an action nobody requested, with nothing from the user, that destroys something or "
        "aims where only a tool output's text pointed"
    )
    return [Predicate(steered.steered_expression(), "steered", "*", why, tools="*")]


def _untrusted(
    members: Sequence[Proposal],
    arguments: list[dict[str, Any]],
    keys: set[str],
    sessions: Mapping[uuid.UUID, SessionContext],
) -> list[Predicate]:
    contexts = [sessions.get(m.proposal_id) for m in members]
    if not members or any(c is None for c in contexts):
        return []
    sources = [provenance(c, a) for c, a in zip(contexts, arguments, strict=True) if c is not None]
    found = []
    for key in sorted(keys):
        if IDENTIFIER.fullmatch(key) is None:
            continue
        if all(USER not in s[key] and any(_from_tool(x) for x in s[key]) for s in sources):
            ref = f"provenance.{key}"
            tool = (
                f'{ref}.exists(s, s.startsWith("{TOOL_PREFIX}") || s.startsWith("{TEXT_PREFIX}"))'
            )
            when = f'has({ref}) && !("{USER}" in {ref}) && {tool}'
            found.append(Predicate(when, "untrusted", key, "a tool output, not the user"))
    return found


@dataclass(frozen=True)
class Known:
    """The values each argument had in the benign history of a cluster's tools (``scope``)."""

    scope: str
    values: Mapping[str, frozenset[str]]

    def set_name(self, key: str) -> str:
        slug = re.sub(r"[^a-z0-9]+", "_", f"{self.scope}_{key}".lower()).strip("_")
        return f"benign_{slug}"[:64].rstrip("_")


def known_values(scope: str, proposals: Iterable[Proposal]) -> Known:
    """The string values (and list elements) each argument had in ``proposals``."""
    values: dict[str, set[str]] = {}
    for proposal in proposals:
        for key, value in proposal.arguments_object().items():
            items = value if isinstance(value, list) else [value]
            values.setdefault(key, set()).update(v for v in items if isinstance(v, str))
    return Known(scope, {key: frozenset(found) for key, found in values.items()})


def _novel(arguments: list[dict[str, Any]], keys: set[str], known: Known) -> list[Predicate]:
    found = []
    for key in sorted(keys):
        seen = known.values.get(key)
        if not seen or IDENTIFIER.fullmatch(key) is None:
            continue
        values = [a[key] for a in arguments]
        if not all(_identifier_like(key, v) for v in values):
            continue
        name = known.set_name(key)
        data = ((name, tuple(sorted(seen))),)
        if all(isinstance(v, str) and v not in seen for v in values):
            when = f"has(args.{key}) && type(args.{key}) == string && !(args.{key} in data.{name})"
        elif all(isinstance(v, list) and any(_unknown(e, seen) for e in v) for v in values):
            body = f"args.{key}.exists(v, type(v) == string && !(v in data.{name}))"
            when = f"has(args.{key}) && type(args.{key}) == list && {body}"
        else:
            continue
        found.append(Predicate(when, "novel", key, "a value the benign history never had", data))
    return found


def _identifier_like(key: str, value: Any) -> bool:
    """A single token naming something (an address, an account, a URL, an id, a name), or a list
    of them: novelty means something there; in a command or prose every value is new."""
    items = value if isinstance(value, list) else [value]
    return bool(items) and all(
        isinstance(v, str) and string_shape(key, v) in IDENTIFIER_SHAPES for v in items
    )


def _unknown(element: Any, seen: frozenset[str]) -> bool:
    return isinstance(element, str) and element not in seen


def _from_tool(source: str) -> bool:
    return source.startswith((TOOL_PREFIX, TEXT_PREFIX))


def _ref(key: str) -> tuple[str, str]:
    """How an expression reads the argument, and how it asks whether it is there."""
    if IDENTIFIER.fullmatch(key):
        return f"args.{key}", f"has(args.{key})"
    quoted = json.dumps(key)
    return f"args[{quoted}]", f"{quoted} in args"


def _guarded(key: str, types: tuple[str, ...], body: str) -> str:
    ref, present = _ref(key)
    typed = " || ".join(f"type({ref}) == {t}" for t in types)
    typed = f"({typed})" if len(types) > 1 else typed
    return f"{present} && {typed} && {body.format(ref=ref)}"


def _string_predicates(key: str, values: list[str]) -> list[Predicate]:
    shapes = {string_shape(key, v) for v in values}
    found: list[Predicate] = []
    if shapes <= WORD_SHAPES:
        found += [_word(key, w) for w in _shared_words(values)]
        found += [_flag(key, f) for f in _shared_flag_letters(values)]
    prefix = _shared_prefix(values)
    if prefix:
        body = "{ref}.startsWith(" + json.dumps(prefix) + ")"
        found.append(Predicate(_guarded(key, ("string",), body), "prefix", key, prefix))
    host = _shared_host(values)
    if host:
        found.append(_host(key, host))
    if len(set(values)) == 1 and shapes <= VALUE_SHAPES and len(values[0]) <= MAX_VALUE_CHARS:
        body = "{ref} == " + _literal(values[0])
        found.append(Predicate(_guarded(key, ("string",), body), "value", key, values[0]))
    return found


def _shared_words(values: list[str]) -> list[str]:
    sets = [set(WORD.findall(v.lower())) for v in values]
    shared = set.intersection(*sets)
    words = sorted(w for w in shared if len(w) >= MIN_WORD and not w.isdigit())
    return words[:MAX_WORDS_PER_KEY]


def _word(key: str, word: str) -> Predicate:
    pattern = json.dumps(f"(^|[^a-z0-9_]){re.escape(word)}([^a-z0-9_]|$)")
    body = "{ref}.lowerAscii().matches(" + pattern + ")"
    return Predicate(_guarded(key, ("string",), body), "word", key, word)


def _shared_flag_letters(values: list[str]) -> list[str]:
    sets = [set("".join(FLAG.findall(v)).lower()) for v in values]
    return sorted(set.intersection(*sets)) if sets else []


def _flag(key: str, letter: str) -> Predicate:
    pattern = json.dumps(f"(^|\\s)-[a-zA-Z]*[{letter}{letter.upper()}]")
    body = "{ref}.matches(" + pattern + ")"
    return Predicate(_guarded(key, ("string",), body), "flag", key, f"-{letter}")


def _host(key: str, host: str) -> Predicate:
    pattern = json.dumps("^([a-z][a-z0-9+.-]*://)?([^/@]*@)?" + re.escape(host) + "([:/?#]|$)")
    body = "{ref}.lowerAscii().matches(" + pattern + ")"
    return Predicate(_guarded(key, ("string",), body), "host", key, host)


def _element(key: str, element: str) -> Predicate:
    body = _literal(element) + " in {ref}"
    return Predicate(_guarded(key, ("list",), body), "element", key, element)


def _number(key: str, low: float) -> Predicate:
    body = "double({ref}) >= " + repr(low)
    return Predicate(_guarded(key, ("int", "double"), body), "number", key, str(low))


def _shared_elements(values: list[Any]) -> list[str]:
    sets = [{e for e in v if isinstance(e, str) and len(e) <= MAX_VALUE_CHARS} for v in values]
    shared = set.intersection(*sets) if sets else set()
    return sorted(shared)[:MAX_ELEMENTS_PER_KEY]


def _shared_prefix(values: list[str]) -> str | None:
    if not all(v.startswith("/") for v in values):
        return None
    parts = [v.split("/")[1:-1] for v in values]
    common = []
    for segments in zip(*parts, strict=False):
        if len(set(segments)) != 1 or not segments[0]:
            break
        common.append(segments[0])
    return "/" + "/".join(common) + "/" if common else None


def _host_of(value: str) -> str | None:
    text = value.strip().lower()
    if "://" in text:
        return urlsplit(text).hostname or None
    if " " in text or "@" in text:
        return None
    match = BARE_HOST.match(text)
    return match.group(1) if match else None


def _shared_host(values: list[str]) -> str | None:
    hosts = {_host_of(v) for v in values}
    if len(hosts) != 1:
        return None
    return hosts.pop()


def _literal(value: Any) -> str:
    """A CEL literal for a JSON value (CEL's literals are JSON's, strings in UTF-8)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def exact_condition(calls: Sequence[Proposal]) -> str:
    """The narrowest condition: the arguments equal one of the calls' (tool is the rule's)."""
    distinct = sorted({_literal(c.arguments_object()) for c in calls})[:MAX_EXACT_CALLS]
    return " || ".join(f"args == {literal}" for literal in distinct)


def rule_document(
    rule_id: str,
    tools: str,
    when: str,
    *,
    message: str,
    severity: str,
    norms: Sequence[str],
) -> dict[str, Any]:
    """The oracle rule (add_rule or replace_rule payload) for a condition."""
    return {
        "id": rule_id,
        "tools": [tools],
        "when": when,
        "score": 0.0,
        "severity": severity,
        "message": message,
        "norms": list(norms),
    }


def conjunction(predicates: Sequence[Predicate]) -> str:
    """The ``when`` of a conjunction of predicates."""
    return " && ".join(f"({p.expression})" for p in predicates)
