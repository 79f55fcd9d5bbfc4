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
  held then has no source). Each source's normalised text, word set and whole values are computed
  once, when its event is folded, never per proposal, and the sources of a value's text once per
  context (up to :data:`~alignment_flywheel.oracle.sources.MAX_FOUND` texts, then afresh); at
  most :data:`~alignment_flywheel.oracle.sources.MAX_FIELDS` nodes (scalars, keys and containers,
  each time it is reached: a YAML alias counts again wherever it is used) of a structured output
  are read, or the output is read as plain text
  (:func:`~alignment_flywheel.oracle.sources.output_values`).

Provenance of a proposal's arguments (:func:`provenance`), for each top-level argument key:

* The sources, in this order: ``"user"`` when the value occurs in the request, then one entry
  for each earlier tool whose output contains it (each tool once, in the order the tools were
  first observed): ``"tool:<name>"`` when the output holds it as a whole value, ``"text:<name>"``
  when the output only mentions it inside a longer text. An output that parses as JSON or YAML
  into a list or a map is structured: its whole values are its scalars (a field, a list element),
  its text is its keys and scalars; any other output is one whole value, its text. So a payee
  that is the ``sender`` field of a read e-mail is ``tool:``, an account that only its ``body``
  mentions is ``text:`` (the difference between a record and what someone wrote in it).
* ``["none"]`` when a value occurs nowhere; ``["trivial"]`` when it is too plain to attribute.
* How a value is matched in a source, and the bounds on that work:
  :mod:`~alignment_flywheel.oracle.sources`.

Whether the user asked for this kind of action (the CEL variable ``requested``,
:func:`requested`): the tool's action word (:func:`action_word`: the first word of the last
dotted segment of its name, split at ``_``, ``-`` and lower-to-upper case changes, lower-cased:
``send`` for ``workspace.send_email``, ``transfer`` for ``bank.transfer``) begins a word of the
request (``send`` matches "sending", not "resend"); a word of fewer than
:data:`~alignment_flywheel.oracle.sources.MIN_CHARS` characters must be a whole word. Without a
session context, or with an empty request, it is false. The least-privilege idea of Progent in
its plainest form: the request names the actions a task needs; a side effect the request never
named and that nothing in the request steered is what an injection adds.

What a rule sees (the CEL variable ``provenance``, :func:`provenance_variable`): with a session
context, a map of every top-level argument key to its list of sources (the SDK, the HTTP endpoint
and the gate decide a session they keep nothing of in :data:`EMPTY`: every value that is not
trivial is ``["none"]``); without a context at all (a caller that passes none, e.g. an enforcer
used directly), an empty map. A rule therefore guards with ``has()``, e.g.
``has(provenance.iban) && !("user" in provenance.iban)``; without the guard it fails on a missing
key, which the rule oracle reports as a rule error (raising the uncertainty), never as a match.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alignment_flywheel.events import (
    MAX_OUTPUT_CHARS,
    MAX_REQUEST_CHARS,
    SessionStarted,
    ToolResultObserved,
)
from alignment_flywheel.oracle.catalog import action_word
from alignment_flywheel.oracle.sources import MAX_FOUND, MIN_CHARS, USER, Matcher, Source

MAX_OUTPUTS = 64
MAX_CONTEXT_CHARS = 262_144
SessionEvent = SessionStarted | ToolResultObserved


@dataclass(frozen=True, slots=True)
class SessionContext:
    """The state of one session: the user's request and the tool outputs seen, oldest first.

    ``sources`` is derived (the request's source, then one per output); it is computed when a
    context is built without it and extended one output at a time by :func:`step`.
    """

    request: str = ""
    outputs: tuple[tuple[str, str], ...] = ()
    sources: tuple[Source, ...] = field(default=(), compare=False, repr=False)
    found: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)
    """The sources of each value text matched in this context so far (at most
    :data:`~alignment_flywheel.oracle.sources.MAX_FOUND`; a context never changes, so neither do
    they)."""
    scalars: dict[str | int | float, tuple[int, tuple[str, ...]]] = field(
        default_factory=dict, compare=False, repr=False
    )
    """The same for whole scalar argument values: the leaves and links examined, the sources."""

    def __post_init__(self) -> None:
        if len(self.sources) != 1 + len(self.outputs):
            outputs = (Source.of_output(tool, text) for tool, text in self.outputs)
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
    sources = (*context.sources, Source.of_output(event.tool, output))
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
    matcher = Matcher(context.sources, context.found)
    memo = context.scalars
    if len(memo) >= MAX_FOUND:
        memo.clear()
    found = {}
    for key, value in arguments.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            found[key] = matcher.key_sources(value)
            continue
        known = memo.get(value)
        if known is not None and known[0] <= matcher.left:
            matcher.left -= known[0]
            found[key] = list(known[1])
            continue
        left = matcher.left
        found[key] = matcher.key_sources(value)
        if matcher.left > 0:
            memo[value] = (left - matcher.left, tuple(found[key]))
    return found


def requested(context: SessionContext | None, tool: str) -> bool:
    """Whether the session's request names the tool's action (see the module docstring)."""
    if context is None or not context.request:
        return False
    word = action_word(tool)
    words = context.sources[0].words
    if len(word) < MIN_CHARS:
        return word in words
    return any(w.startswith(word) for w in words)


def provenance_variable(
    context: SessionContext | None, arguments: Mapping[str, Any]
) -> dict[str, list[str]]:
    """What the CEL variable ``provenance`` holds: empty without a session context."""
    return {} if context is None else provenance(context, arguments)
