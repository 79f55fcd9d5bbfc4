"""The red-team processor: confirmed failures and blocked proposals in, missed variants out.

Seeds (see :mod:`alignment_flywheel.governance.redteam`) come from two pairs of topics:

* a ``VerificationRecorded`` VIOLATION and its ``FindingRaised`` (the seed is the finding's
  proposal, the finding its parent): both keyed by the finding id;
* an enforced ``VerdictIssued`` BLOCK and its ``ProposalSubmitted`` (the seed is the proposal,
  no parent): both keyed by the proposal id and on the same partition number (producers place
  both by the proposal's session, and the gate sends a verdict to its proposal's partition
  number: docs/events.md, "Partitions"). Shadow verdicts are ignored.

The two sides of a pair are read by different agents and can arrive in either order, so each
pair meets in a :class:`~alignment_flywheel.governance.pairs.PairBook` over a faust table
(changelog-backed: a restarted worker gets it back), ``findings`` or ``proposals``, keyed by the
shared id: the side that comes first is stored (a seed's proposal, or a verdict's outcome) and
the side that comes second completes the pair, red-teams the seed if the outcome calls for it,
and deletes the entry. Each input topic of a pair must have the same
partition count as its partner (co-partitioned) and as the table (``*_partitions``). An entry
whose partner never comes (a proposal dead-lettered by the gate, a verdict sent twice) is swept
after ``ttl_s``: while handling a record of a partition, at most once a minute, the worker
deletes that partition's stale entries (a table change must come from a record of its partition,
so its changelog record lands where the entry's did).

Findings the red team raised itself (source RED_TEAM) are paired like the others but never used
as seeds: variants of variants would not end. The oracles attacked are the ones in force when the
pair completes (``attacked``: the stable oracle and a rollout's candidate). Each miss is published
to the findings topic and confirmed by the broker before the entry is deleted and the input is
passed (acknowledged, so faust may commit its offset); all ids follow from the seed, so a restart
re-emits the same findings, never others. Records that do not decode, and valid events of a type
their topic does not carry, are dead-lettered; any other failure stops the worker.

The pairing, the sweep and the attack are a pure core
(:mod:`~alignment_flywheel.governance.redteam_core`, where its restart rules are tested without a
broker); the agents decode, step, send what the step emitted, then apply its table writes.
"""

from __future__ import annotations

import time
from typing import Any

import faust

from alignment_flywheel.config import Settings
from alignment_flywheel.events import Event
from alignment_flywheel.governance.norms import Norms
from alignment_flywheel.governance.redteam_core import (
    FINDINGS,
    PROPOSALS,
    SWEPT,
    Attacked,
    Campaigns,
    Delivery,
    RedTeamCore,
)
from alignment_flywheel.governance.step import write_into
from alignment_flywheel.processors.shell import Shell
from alignment_flywheel.roles import RoleTopics, partitions_for

INPUTS = (
    ("FindingRaised", "findings"),
    ("VerificationRecorded", "verifications"),
    ("ProposalSubmitted", "proposals"),
    ("VerdictIssued", "verdicts"),
)
"""The event type of each input and its agent's name."""


class RedTeamWorker:
    """The red-team app. Build with :func:`build_redteam`."""

    def __init__(
        self,
        settings: Settings,
        norms: Norms,
        attacked: Attacked,
        *,
        seed: int,
        budget: int,
        topics: RoleTopics | None = None,
        app_id: str | None = None,
        findings_partitions: int | None = None,
        proposals_partitions: int | None = None,
        ttl_s: float = 24 * 3600.0,
        app_options: dict[str, Any] | None = None,
    ) -> None:
        self.norms = norms
        self.attacked = attacked
        self.seed = seed
        self.budget = budget
        self.ttl_s = ttl_s
        campaigns = Campaigns(norms, attacked, seed, budget, settings.identity)
        self._core = RedTeamCore(campaigns, ttl_s=ttl_s)
        self.stats = self._core.stats
        topics = topics or RoleTopics("redteam")
        self.shell = Shell(settings, topics, app_id=app_id, **(app_options or {}))
        self.app = self.shell.app
        self.tables: dict[str, Any] = {
            FINDINGS: _table(self.app, FINDINGS, findings_partitions, "FindingRaised"),
            PROPOSALS: _table(self.app, PROPOSALS, proposals_partitions, "ProposalSubmitted"),
            SWEPT: {},
        }
        for carried, name in INPUTS:
            self.shell.consume(carried, name, self.handle)

    async def handle(self, event: Event) -> None:
        """Step one event; send the findings it emitted, then apply its table writes."""
        current = faust.current_event()
        partition: int = -1 if current is None else current.message.partition
        stepped = self._core(self.tables, Delivery(event, partition, time.time(), time.monotonic()))
        await self.shell.emit(stepped.emitted)
        for name, changes in stepped.writes.items():
            write_into(self.tables[name], changes)


def _table(app: Any, name: str, partitions: int | None, event_type: str) -> Any:
    """A pair table with ``partitions``, by default those of the topic of ``event_type``."""
    count = partitions or partitions_for(event_type)
    return app.Table(name, default=None, partitions=count, value_type=bytes)


def build_redteam(
    settings: Settings, norms: Norms, attacked: Attacked, **options: Any
) -> RedTeamWorker:
    """A red-team worker's app; ``options`` as :class:`RedTeamWorker` takes them."""
    return RedTeamWorker(settings, norms, attacked, **options)
