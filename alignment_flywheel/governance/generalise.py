"""Leave-one-member-out validation: would a rule learnt without a member have stopped it?

Refinement prefers the rule that carries over to failures nobody reported. Within a cluster, the
members play the unreported ones:

* For each member ``m`` (only the cluster's members are held out; red-team variants stay in the
  pool), the candidates are derived again from the pool without ``m``
  (:func:`~.synthesis.shared_predicates`, with the same session contexts). A candidate *holds out*
  ``m`` when a candidate of the same identity is derived without ``m`` and that one matches ``m``
  (evaluated in ``m``'s session context).
* A candidate's identity is its kind and argument, plus its value for the kinds whose value is the
  literal that was shared (``word``, ``element``, ``value``, ``flag``); a ``number``'s bound, a
  ``prefix``, a ``host``, ``untrusted`` or ``novel`` are re-learnt, so only kind and argument
  count. A candidate is evaluated by an oracle of that rule alone (:func:`probe`), named sets,
  provenance and the base oracle's tool catalog included, exactly as the patched oracle would.
* A conjunction holds out the members every one of its predicates holds out (:func:`held_out`).
  With fewer than two members nothing can be held out: every conjunction scores 0, and the other
  criteria (false positives, generality) decide alone.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Mapping, Sequence

from alignment_flywheel.events import EvidenceKind, Proposal
from alignment_flywheel.governance.synthesis import Known, Predicate, shared_predicates
from alignment_flywheel.oracle.artifact import build_artifact
from alignment_flywheel.oracle.catalog import ToolCatalog
from alignment_flywheel.oracle.provenance import SessionContext
from alignment_flywheel.oracle.rules import RuleOracle

Identity = tuple[str, ...]
LITERAL_KINDS = frozenset({"word", "element", "value", "flag"})


def identity(predicate: Predicate) -> Identity:
    """What makes two candidates, learnt from different members, the same candidate."""
    if predicate.kind in LITERAL_KINDS:
        return (predicate.kind, predicate.key, predicate.value)
    return (predicate.kind, predicate.key)


def catalog_json(catalog: ToolCatalog | None) -> str:
    """The catalog's items as canonical JSON (how :func:`probe` is keyed), ``""`` without one."""
    if catalog is None or catalog.items is None:
        return ""
    items = [i if isinstance(i, str) else i.model_dump(mode="json") for i in catalog.items]
    return json.dumps(items, sort_keys=True)


@functools.lru_cache(maxsize=4096)
def probe(predicate: Predicate, tools: str = "") -> RuleOracle:
    """An oracle of the predicate alone (with the named sets it reads and the catalog ``tools``,
    from :func:`catalog_json`): it evaluates the predicate exactly as the patched oracle will,
    ``data``, ``provenance``, ``effect`` and ``roles`` included."""
    rule = {"id": "probe", "when": predicate.expression, "score": 0.0, "message": "probe"}
    data = {name: list(values) for name, values in predicate.data}
    document: dict[str, object] = {"name": "probe", "version": 1, "data": data, "rules": [rule]}
    if tools:
        document["tools"] = json.loads(tools)
    return RuleOracle(build_artifact(document))


def matches(
    predicate: Predicate, proposal: Proposal, session: SessionContext | None, tools: str = ""
) -> bool:
    """Whether the predicate holds for the proposal (a failing expression does not)."""
    signal = probe(predicate, tools).evaluate(proposal, session=session)
    return any(item.kind is EvidenceKind.RULE_MATCH for item in signal.evidence)


def matching_bits(
    predicate: Predicate,
    cases: Sequence[tuple[Proposal, SessionContext | None]],
    tools: str = "",
) -> int:
    """Bit ``i`` set when the predicate holds for case ``i`` (a proposal in its session)."""
    value = 0
    for position, (proposal, session) in enumerate(cases):
        if matches(predicate, proposal, session, tools):
            value |= 1 << position
    return value


def held_out_table(
    members: Sequence[Proposal],
    pool: Sequence[Proposal],
    sessions: Mapping[uuid.UUID, SessionContext],
    known: Known | None = None,
    *,
    catalog: ToolCatalog | None = None,
    untrusted: bool = True,
) -> dict[Identity, frozenset[uuid.UUID]]:
    """For each candidate identity, the members it holds out (see the module rules)."""
    if len(members) < 2:
        return {}
    tools = catalog_json(catalog)
    table: dict[Identity, set[uuid.UUID]] = {}
    for member in members:
        rest = [p for p in pool if p.proposal_id != member.proposal_id]
        session = sessions.get(member.proposal_id)
        found = shared_predicates(rest, sessions, known, catalog=catalog, untrusted=untrusted)
        for predicate in found:
            if matches(predicate, member, session, tools):
                table.setdefault(identity(predicate), set()).add(member.proposal_id)
    return {key: frozenset(ids) for key, ids in table.items()}


def held_out(combo: Sequence[Predicate], table: Mapping[Identity, frozenset[uuid.UUID]]) -> int:
    """How many members every predicate of the conjunction holds out."""
    if not combo:
        return 0
    sets = [table.get(identity(p), frozenset()) for p in combo]
    return len(frozenset.intersection(*sets))
