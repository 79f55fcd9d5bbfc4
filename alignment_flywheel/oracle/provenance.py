"""Session context and provenance: where each argument value of a tool call came from.

A pure state machine (no I/O, no clock): :class:`SessionContext` is the state of one agent
session, :func:`step` folds one event into it, :func:`provenance` reads it. The gate, the SDK and
the HTTP endpoint keep one context per session; replaying the session's events through
:func:`step` from :data:`EMPTY` always rebuilds the same context.

The fold (events of one session, in order):

* ``SessionStarted`` starts the session afresh: its request (at most
  :data:`~alignment_flywheel.events.MAX_REQUEST_CHARS` characters) becomes the user's request and
  the observed outputs are forgotten. A second ``SessionStarted`` of the same session restarts it.
* ``ToolResultObserved`` appends ``(tool, output)`` (the output at most
  :data:`~alignment_flywheel.events.MAX_OUTPUT_CHARS` characters). A result observed before any
  ``SessionStarted`` still counts; the request is then empty, so no value comes from the user.
* Bounds: a context keeps the last :data:`MAX_OUTPUTS` outputs and at most
  :data:`MAX_CONTEXT_CHARS` characters of them; older outputs are dropped first (a value only they
  held then has no source). Each source's normalised text and word set are computed once, when its
  event is folded, never per proposal.

Provenance of a proposal's arguments (:func:`provenance`), for each top-level argument key:

* The sources, in this order: ``"user"`` when the value occurs in the request, then
  ``"tool:<name>"`` for each earlier tool whose output contains it (each name once, in the order
  the tools were first observed).
* ``["none"]`` when a value occurs nowhere; ``["trivial"]`` when it is too plain to attribute.
* Matching: a string is normalised (Unicode NFKC, case-folded, runs of whitespace collapsed to one
  space, trimmed) and must occur in a source's normalised text as a whole: not inside a longer
  word, i.e. a match that starts (ends) with a word character (``\\w``: letters, digits,
  underscore) must not be preceded (followed) by one. So ``"100"`` does not match ``"1000"``, and
  ``"DE89 3704"`` matches ``"de89  3704"``, but not ``"DE893704"``.
* A number is matched by its canonical text: an integer (or an integral float under 2**53) as its
  decimal digits (``100.0`` is ``"100"``), another float as Python's ``repr`` (``12.5``). No
  thousands separators or currency forms are tried.
* ``null``, booleans and values whose normalised text is shorter than :data:`MIN_CHARS` characters
  (``""``, ``"ok"``, ``42``) are trivial: they would match almost anything.
* A list or an object is matched element by element (an object's values, not its keys), nested at
  any depth: the key's sources are the union of its non-trivial elements' sources, plus ``"none"``
  if any of them has no source; ``["trivial"]`` when it has no non-trivial element (empty, or only
  trivial ones).
* Work is bounded: at most :data:`MAX_LEAVES` scalar values are examined per proposal; the ones
  beyond count as having no source (``"none"``).

What a rule sees (the CEL variable ``provenance``, :func:`provenance_variable`): with a session
context, a map of every top-level argument key to its list of sources (the SDK, the HTTP endpoint
and the gate decide a session they keep nothing of in :data:`EMPTY`: every value that is not
trivial is ``["none"]``); without a context at all (a caller that passes none, e.g. an enforcer
used directly), an empty map. A rule therefore guards with ``has()``, e.g.
``has(provenance.iban) && !("user" in provenance.iban)``; without the guard it fails on a missing
key, which the rule oracle reports as a rule error (raising the uncertainty), never as a match.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alignment_flywheel.events import (
    MAX_OUTPUT_CHARS,
    MAX_REQUEST_CHARS,
    SessionStarted,
    ToolResultObserved,
)

MAX_OUTPUTS = 64
MAX_CONTEXT_CHARS = 262_144
MAX_LEAVES = 1_024
MIN_CHARS = 3
USER = "user"
NONE = "none"
TRIVIAL = "trivial"
TOOL_PREFIX = "tool:"
SessionEvent = SessionStarted | ToolResultObserved

_WORDS = re.compile(r"\w+")
_EXACT_FLOAT = 2.0**53


def normalise(text: str) -> str:
    """NFKC, case-folded, whitespace runs collapsed to one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@dataclass(frozen=True, slots=True)
class Source:
    """One place a value can come from: its name, normalised text and set of words."""

    name: str
    text: str
    words: frozenset[str]

    @classmethod
    def of(cls, name: str, raw: str) -> Source:
        text = normalise(raw)
        return cls(name, text, frozenset(_WORDS.findall(text)))


@dataclass(frozen=True, slots=True)
class SessionContext:
    """The state of one session: the user's request and the tool outputs seen, oldest first.

    ``sources`` is derived (the request's source, then one per output); it is computed when a
    context is built without it and extended one output at a time by :func:`step`.
    """

    request: str = ""
    outputs: tuple[tuple[str, str], ...] = ()
    sources: tuple[Source, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.sources) != 1 + len(self.outputs):
            outputs = (Source.of(TOOL_PREFIX + tool, text) for tool, text in self.outputs)
            built = (Source.of(USER, self.request), *outputs)
            object.__setattr__(self, "sources", built)

    @property
    def size(self) -> int:
        """Characters held: the request and every output."""
        return len(self.request) + sum(len(text) for _, text in self.outputs)


EMPTY = SessionContext()
"""The context of a session before any event."""


def step(context: SessionContext, event: SessionEvent) -> SessionContext:
    """The context after one event of its session (the rules of the module docstring)."""
    if isinstance(event, SessionStarted):
        return SessionContext(event.request[:MAX_REQUEST_CHARS])
    output = event.output[:MAX_OUTPUT_CHARS]
    outputs = (*context.outputs, (event.tool, output))
    sources = (*context.sources, Source.of(TOOL_PREFIX + event.tool, output))
    return _bounded(SessionContext(context.request, outputs, sources))


def fold(events: Iterable[SessionEvent], context: SessionContext = EMPTY) -> SessionContext:
    """The context after every event, in order."""
    for event in events:
        context = step(context, event)
    return context


def _bounded(context: SessionContext) -> SessionContext:
    outputs, sources = context.outputs, context.sources
    total = sum(len(text) for _, text in outputs)
    drop = 0
    while len(outputs) - drop > MAX_OUTPUTS or total > MAX_CONTEXT_CHARS:
        total -= len(outputs[drop][1])
        drop += 1
    if drop == 0:
        return context
    kept = (sources[0], *sources[1 + drop :])
    return SessionContext(context.request, outputs[drop:], kept)


# --- provenance -----------------------------------------------------------------------------------


def provenance(context: SessionContext, arguments: Mapping[str, Any]) -> dict[str, list[str]]:
    """For each top-level argument key, the sources of its value (see the module docstring)."""
    matcher = _Matcher(context.sources)
    return {key: matcher.key_sources(value) for key, value in arguments.items()}


def provenance_variable(
    context: SessionContext | None, arguments: Mapping[str, Any]
) -> dict[str, list[str]]:
    """What the CEL variable ``provenance`` holds: empty without a session context."""
    return {} if context is None else provenance(context, arguments)


def leaf_text(value: Any) -> str | None:
    """The normalised text a scalar is matched by; None when it is trivial."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        exact = math.isfinite(value) and value.is_integer() and abs(value) < _EXACT_FLOAT
        text = str(int(value)) if exact else repr(value)
    else:
        text = normalise(str(value))
    return text if len(text) >= MIN_CHARS else None


class _Matcher:
    """Matches the scalars of one proposal against the sources, within :data:`MAX_LEAVES`."""

    def __init__(self, sources: tuple[Source, ...]) -> None:
        self.sources = sources
        self.rank: dict[str, int] = {}
        for source in sources:
            self.rank.setdefault(source.name, len(self.rank))
        self.left = MAX_LEAVES
        self.seen: dict[str, tuple[str, ...]] = {}

    def key_sources(self, value: Any) -> list[str]:
        names: set[str] = set()
        plain, missing = True, False
        for leaf in _leaves(value):
            if self.left <= 0:
                plain, missing = False, True
                break
            self.left -= 1
            text = leaf_text(leaf)
            if text is None:
                continue
            plain = False
            found = self._sources_of(text)
            missing = missing or not found
            names.update(found)
        if plain:
            return [TRIVIAL]
        ordered = sorted(names, key=self.rank.__getitem__)
        return [*ordered, NONE] if missing else ordered

    def _sources_of(self, text: str) -> tuple[str, ...]:
        found = self.seen.get(text)
        if found is None:
            words = frozenset(_WORDS.findall(text))
            whole_word = words == {text}
            found = tuple(
                dict.fromkeys(
                    s.name
                    for s in self.sources
                    if words <= s.words and (whole_word or occurs(text, s.text))
                )
            )
            self.seen[text] = found
        return found


def _leaves(value: Any) -> Iterable[Any]:
    """The scalars of a JSON value, depth first, in order (without recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
        else:
            yield item


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def occurs(needle: str, haystack: str) -> bool:
    """True when ``needle`` occurs in ``haystack`` and not inside a longer word."""
    start = haystack.find(needle)
    if start < 0:
        return False
    end = start + len(needle)
    left = _is_word(needle[0]) and start > 0 and _is_word(haystack[start - 1])
    right = _is_word(needle[-1]) and end < len(haystack) and _is_word(haystack[end])
    if not (left or right):
        return True
    head = r"(?<!\w)" if _is_word(needle[0]) else ""
    tail = r"(?!\w)" if _is_word(needle[-1]) else ""
    return re.search(head + re.escape(needle) + tail, haystack) is not None
