"""Wide candidates: side effects steered by what a tool output's text said, on every tool.

A prompt injection steers an agent with words inside data: an e-mail body, a calendar
description, a web page. What it makes the agent do carries a value that appears there and
nowhere else (the attacker's address, account or URL), and nothing the user asked for. This
kind matches that shape, whatever the value, on every side-effecting tool of the members'
application, so a rule learnt from one reported tool stops the same move through another.

Rules of this module:

* One kind, ``steered``: a member is steered when it reaches a mentioned target, is unasked and
  its action was not requested. Each alone is common in benign work (a reply to an address a file
  lists; a call built from what a search found; "tell Bob" for a tool named ``send_message``);
  together they are what an injection looks like: an action the user never named, aimed where
  only some text pointed, carrying nothing the user said.
* A member *reaches* a mentioned target when the oracle's tool catalog says its
  tool is side-effecting and one of its arguments whose role is in :data:`REACH_ROLES` (where the
  effect goes: a recipient, a payee, a destination, a URL) has at least one source ``text:<tool>``
  (only inside a longer text of that output) and every other source of it is ``text:`` or
  ``none``: never the user's request, never a whole value of a tool's output (a record's field),
  never trivial.
* A member is *unasked* when no argument of it has the source ``user`` (nothing in the call is
  what the user's request said), and at least one has a tool source (``tool:`` or ``text:``):
  the call is driven by tool outputs alone. Without a session context nothing is a tool source,
  so the kind never matches a call decided without one.
* Its action was *not requested* when the session's request does not name the tool's action
  (:func:`~alignment_flywheel.oracle.provenance.requested`, the CEL variable ``requested``).
* Provenance is :func:`~alignment_flywheel.oracle.provenance.provenance`, in the member's session
  context; the kind is a candidate when every member is steered (so every member needs a session
  context and a catalog that describes its tool).
* Scope: ``*``. The kind names no tool, no argument value and no application, so its rule
  applies to every side-effecting tool the catalog describes: one learnt from a reported e-mail
  stops the same move through a calendar invitation or a chat message. Its benign evidence is
  the benign history of every tool, not only the cluster's.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from alignment_flywheel.events import Proposal
from alignment_flywheel.oracle.catalog import Effect, Role, ToolCatalog
from alignment_flywheel.oracle.provenance import (
    NONE,
    TEXT_PREFIX,
    TOOL_PREFIX,
    USER,
    SessionContext,
    provenance,
    requested,
)

REACH_ROLES = (Role.DESTINATION, Role.PAYEE, Role.RECIPIENT, Role.URL)
_FROM_TOOL = f's.startsWith("{TOOL_PREFIX}") || s.startsWith("{TEXT_PREFIX}")'


def mentioned_expression() -> str:
    """The CEL of ``mentioned`` (the module rules)."""
    roles = ", ".join(f'"{role.value}"' for role in REACH_ROLES)
    only = f'provenance[k].all(s, s.startsWith("{TEXT_PREFIX}") || s == "{NONE}")'
    some = f'provenance[k].exists(s, s.startsWith("{TEXT_PREFIX}"))'
    return (
        f'effect == "{Effect.SIDE_EFFECT.value}" && roles.exists(k, roles[k] in [{roles}] '
        f"&& k in provenance && {some} && {only})"
    )


def unasked_expression() -> str:
    """The CEL of ``unasked`` (the module rules)."""
    return (
        f'!provenance.exists(k, "{USER}" in provenance[k]) '
        f"&& provenance.exists(k, provenance[k].exists(s, {_FROM_TOOL}))"
    )


def reaches(tool: str, sources: Mapping[str, list[str]], catalog: ToolCatalog) -> bool:
    """Whether a call of ``tool`` whose arguments have ``sources`` reaches a mentioned target (the
    module rules)."""
    info = catalog.describe(tool)
    if info.effect is not Effect.SIDE_EFFECT:
        return False
    for key, role in info.roles.items():
        found = sources.get(key)
        if role not in REACH_ROLES or not found:
            continue
        mentioned = any(s.startswith(TEXT_PREFIX) for s in found)
        if mentioned and all(s.startswith(TEXT_PREFIX) or s == NONE for s in found):
            return True
    return False


def unasked(sources: Mapping[str, list[str]]) -> bool:
    """Whether a call whose arguments have ``sources`` is driven by tool outputs alone (the module
    rules)."""
    found = sources.values()
    from_tool = any(s.startswith((TOOL_PREFIX, TEXT_PREFIX)) for listed in found for s in listed)
    return from_tool and not any(USER in listed for listed in found)


def steered(
    member: Proposal, arguments: Mapping[str, Any], session: SessionContext, catalog: ToolCatalog
) -> bool:
    """Whether one member is steered (the module rules); its provenance is computed once."""
    if requested(session, member.tool):
        return False
    sources = provenance(session, arguments)
    return reaches(member.tool, sources, catalog) and unasked(sources)


def steered_expression() -> str:
    """The CEL of ``steered`` (the module rules)."""
    return f"!requested && {mentioned_expression()} && {unasked_expression()}"


def all_steered(
    members: Sequence[Proposal],
    arguments: Sequence[Mapping[str, Any]],
    sessions: Mapping[uuid.UUID, SessionContext],
    catalog: ToolCatalog | None,
) -> bool:
    """Whether every member is steered (the module rules)."""
    contexts = [sessions.get(m.proposal_id) for m in members]
    if not members or catalog is None:
        return False
    return all(
        c is not None and steered(m, a, c, catalog)
        for m, a, c in zip(members, arguments, contexts, strict=True)
    )
