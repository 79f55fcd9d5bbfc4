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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import faust

from alignment_flywheel.codec import EventCodec
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
from alignment_flywheel.processors.app import agent, create_app
from alignment_flywheel.processors.streams import (
    DeadLetterWriter,
    Expected,
    event_topic,
    expected_on,
    raw_topic,
    send_confirmed,
    stepping,
)
from alignment_flywheel.roles import group_for, partitions_for, topic_for

DEFAULT_APP_ID = group_for("redteam")


@dataclass(frozen=True)
class RedTeamTopics:
    findings: str = topic_for("FindingRaised")
    verifications: str = topic_for("VerificationRecorded")
    proposals: str = topic_for("ProposalSubmitted")
    verdicts: str = topic_for("VerdictIssued")
    dead_letters: str = topic_for("DeadLettered")
    findings_partitions: int = partitions_for("FindingRaised")
    proposals_partitions: int = partitions_for("ProposalSubmitted")


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
        app_id: str = DEFAULT_APP_ID,
        topics: RedTeamTopics | None = None,
        ttl_s: float = 24 * 3600.0,
        app_options: dict[str, Any] | None = None,
    ) -> None:
        self.topics = topics or RedTeamTopics()
        self.norms = norms
        self.attacked = attacked
        self.seed = seed
        self.budget = budget
        self.ttl_s = ttl_s
        self._producer = settings.identity
        campaigns = Campaigns(norms, attacked, seed, budget, settings.identity)
        self._core = RedTeamCore(campaigns, ttl_s=ttl_s)
        self.stats = self._core.stats
        self._codec = EventCodec.from_settings(settings)
        self.app = create_app(settings, app_id, **(app_options or {}))
        self._declare(app_id)

    def _declare(self, app_id: str) -> None:
        app, names = self.app, self.topics
        self._findings = event_topic(app, names.findings, self._codec)
        self._dead = DeadLetterWriter.on(
            app, names.dead_letters, self._codec, producer=self._producer, group=app_id
        )
        self.tables: dict[str, Any] = {
            FINDINGS: _table(app, FINDINGS, names.findings_partitions),
            PROPOSALS: _table(app, PROPOSALS, names.proposals_partitions),
            SWEPT: {},
        }
        inputs = (
            (names.findings, "FindingRaised", "findings"),
            (names.verifications, "VerificationRecorded", "verifications"),
            (names.proposals, "ProposalSubmitted", "proposals"),
            (names.verdicts, "VerdictIssued", "verdicts"),
        )
        for topic, carried, name in inputs:
            consume = self._consumer(expected_on(topic_for(carried)))
            agent(app, raw_topic(app, topic), name=name)(consume)

    def _consumer(self, expected: Expected) -> Callable[[Any], Awaitable[None]]:
        """An agent that steps each event of its input (:func:`stepping`)."""
        return stepping(self._codec, self._dead, expected, self.handle)

    async def handle(self, event: Event) -> None:
        """Step one event; send the findings it emitted, then apply its table writes."""
        current = faust.current_event()
        partition: int = -1 if current is None else current.message.partition
        stepped = self._core(self.tables, Delivery(event, partition, time.time(), time.monotonic()))
        for finding in stepped.emitted:
            await send_confirmed(self._findings, finding)
        for name, changes in stepped.writes.items():
            write_into(self.tables[name], changes)


def _table(app: Any, name: str, partitions: int) -> Any:
    return app.Table(name, default=None, partitions=partitions, value_type=bytes)


def build_redteam(
    settings: Settings, norms: Norms, attacked: Attacked, **options: Any
) -> RedTeamWorker:
    """A red-team worker's app; ``options`` as :class:`RedTeamWorker` takes them."""
    return RedTeamWorker(settings, norms, attacked, **options)
