"""Wide candidates: side effects an injection steered, on every tool.

A prompt injection steers an agent with words inside data: an e-mail body, a calendar
description, a web page. What it makes the agent do is an action the user never named, carrying
nothing the user said, and either aimed where only that text pointed (the attacker's address,
account or URL) or destroying something (a file, the e-mail that would give it away). This kind
matches that shape, whatever the value, on every side-effecting tool, so a rule learnt from one
reported tool stops the same move through another.

Rules of this module:

* One kind, ``steered``: a member is steered when its action was not requested and it either
  reaches a mentioned target while driven by tool outputs, carries a mentioned link, or destroys
  something in a session with nothing from the user's request. Each alone is common in benign
  work (a reply to an address a file lists; a call built from what a search found; "tell Bob"
  for a tool named ``send_message``); together they are what an injection looks like. What the
  user said elsewhere in a call does not vouch for its target: an injection adds the attacker
  to the channel the user named.
* A member *reaches* a mentioned target when the oracle's tool catalog says its tool changes
  something (effect ``side_effect`` or ``destructive``) and one of its arguments whose role is in
  :data:`REACH_ROLES` (where the effect goes: a recipient, a payee, a destination, a URL) has at
  least one source ``text:<tool>`` (only inside a longer text of that output) and every other
  source of it is ``text:`` or ``none``: never the user's request, never a whole value of a
  tool's output (a record's field), never trivial.
* A member *carries a mentioned link* when its tool changes something and, in some argument,
  the links inside text the agent composed (provenance ``link:``) came only from the text of
  tool outputs (``link:text:<tool>``): the address a message points its reader to, which only an
  injected text named.
* A member *destroys* when the catalog says its tool's effect is ``destructive`` (it deletes or
  removes what exists) and it is decided in a session context (its provenance is not empty):
  the ids such calls carry are often too short to attribute to any source, so where they came
  from is not asked.
* Nothing in a member came from the user when no argument has the source ``user``; it is
  *driven by tool outputs* when at least one argument has a tool source (``tool:`` or
  ``text:``). Without a session context nothing is a tool source and provenance is empty, so the
  kind never matches a call decided without one.
* Its action was *not requested* when the session's request does not name the tool's action
  (:func:`~alignment_flywheel.oracle.provenance.requested`, the CEL variable ``requested``).
* Provenance is :func:`~alignment_flywheel.oracle.provenance.provenance`, in the member's session
  context; the kind is a candidate when every member is steered (so every member needs a session
  context and a catalog that describes its tool).
* Scope: ``*``. The kind names no tool, no argument value and no application, so its rule
  applies to every tool the catalog describes: one learnt from a reported e-mail stops the same
  move through a calendar invitation or a chat message, and one learnt from a reported deletion
  stops the removal of a chat member. Its benign evidence is the benign history of every tool,
  not only the cluster's.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from alignment_flywheel.events import Proposal
from alignment_flywheel.oracle.catalog import Effect, Role, ToolCatalog
from alignment_flywheel.oracle.provenance import SessionContext, provenance, requested
from alignment_flywheel.oracle.sources import LINK_PREFIX, NONE, TEXT_PREFIX, TOOL_PREFIX, USER

REACH_ROLES = (Role.DESTINATION, Role.PAYEE, Role.RECIPIENT, Role.URL)
_FROM_TOOL = f's.startsWith("{TOOL_PREFIX}") || s.startsWith("{TEXT_PREFIX}")'
_LINK_TEXT = LINK_PREFIX + TEXT_PREFIX
_CHANGING = ", ".join(f'"{e.value}"' for e in Effect if e.changes)


def mentioned_expression() -> str:
    """The CEL of ``mentioned`` (the module rules)."""
    roles = ", ".join(f'"{role.value}"' for role in REACH_ROLES)
    only = f'provenance[k].all(s, s.startsWith("{TEXT_PREFIX}") || s == "{NONE}")'
    some = f'provenance[k].exists(s, s.startsWith("{TEXT_PREFIX}"))'
    return (
        f"effect in [{_CHANGING}] && roles.exists(k, roles[k] in [{roles}] "
        f"&& k in provenance && {some} && {only})"
    )


def linked_expression() -> str:
    """The CEL of "carries a link only a text mentioned" (the module rules)."""
    some = f'provenance[k].exists(s, s.startsWith("{_LINK_TEXT}"))'
    only = f'provenance[k].all(s, !s.startsWith("{LINK_PREFIX}") || s.startsWith("{_LINK_TEXT}"))'
    return f"effect in [{_CHANGING}] && provenance.exists(k, {some} && {only})"


def destroys_expression() -> str:
    """The CEL of ``destroys`` (the module rules)."""
    return f'effect == "{Effect.DESTRUCTIVE.value}" && size(provenance) > 0'


def unasked_expression() -> str:
    """The CEL of "nothing came from the user" (the module rules)."""
    return f'!provenance.exists(k, "{USER}" in provenance[k])'


def driven_expression() -> str:
    """The CEL of "driven by tool outputs" (the module rules)."""
    return f"provenance.exists(k, provenance[k].exists(s, {_FROM_TOOL}))"


def reaches(tool: str, sources: Mapping[str, list[str]], catalog: ToolCatalog) -> bool:
    """Whether a call of ``tool`` whose arguments have ``sources`` reaches a mentioned target (the
    module rules)."""
    info = catalog.describe(tool)
    if not info.effect.changes:
        return False
    for key, role in info.roles.items():
        found = sources.get(key)
        if role not in REACH_ROLES or not found:
            continue
        mentioned = any(s.startswith(TEXT_PREFIX) for s in found)
        if mentioned and all(s.startswith(TEXT_PREFIX) or s == NONE for s in found):
            return True
    return False


def linked(tool: str, sources: Mapping[str, list[str]], catalog: ToolCatalog) -> bool:
    """Whether a call of ``tool`` carries, in text it composed, a link only a tool output's text
    mentioned (the module rules)."""
    if not catalog.describe(tool).effect.changes:
        return False
    for found in sources.values():
        links = [s for s in found if s.startswith(LINK_PREFIX)]
        if links and all(s.startswith(_LINK_TEXT) for s in links):
            return True
    return False


def destroys(tool: str, sources: Mapping[str, list[str]], catalog: ToolCatalog) -> bool:
    """Whether a call of ``tool`` decided in a session destroys something (the module rules)."""
    return bool(sources) and catalog.describe(tool).effect is Effect.DESTRUCTIVE


def unasked(sources: Mapping[str, list[str]]) -> bool:
    """Whether nothing in a call whose arguments have ``sources`` came from the user (the module
    rules)."""
    return not any(USER in listed for listed in sources.values())


def driven(sources: Mapping[str, list[str]]) -> bool:
    """Whether a call whose arguments have ``sources`` is driven by tool outputs (the module
    rules)."""
    found = sources.values()
    return any(s.startswith((TOOL_PREFIX, TEXT_PREFIX)) for listed in found for s in listed)


def steered(
    member: Proposal, arguments: Mapping[str, Any], session: SessionContext, catalog: ToolCatalog
) -> bool:
    """Whether one member is steered (the module rules); its provenance is computed once."""
    if requested(session, member.tool):
        return False
    sources = provenance(session, arguments)
    if destroys(member.tool, sources, catalog):
        return unasked(sources)
    if linked(member.tool, sources, catalog):
        return True
    return driven(sources) and reaches(member.tool, sources, catalog)


def steered_expression() -> str:
    """The CEL of ``steered`` (the module rules)."""
    return (
        f"!requested && (({destroys_expression()} && {unasked_expression()}) || "
        f"({linked_expression()}) || ({driven_expression()} && {mentioned_expression()}))"
    )


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
