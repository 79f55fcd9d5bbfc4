"""The red-team processor: confirmed failures and blocked proposals in, missed variants out.

Seeds (see :mod:`alignment_flywheel.governance.redteam`) come from two pairs of topics:

* a ``VerificationRecorded`` VIOLATION and its ``FindingRaised`` (the seed is the finding's
  proposal, the finding its parent): both keyed by the finding id;
* an enforced ``VerdictIssued`` BLOCK and its ``ProposalSubmitted`` (the seed is the proposal,
  no parent): both keyed by the proposal id and on the same partition number (producers place
  both by the proposal's session, and the gate sends a verdict to its proposal's partition
  number: docs/events.md, "Partitions"). Shadow verdicts are ignored.

The two sides of a pair are read by different agents and can arrive in either order, so each
pair meets in a :class:`~alignment_flywheel.processors.pairs.PairBook` over a faust table
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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import faust

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import (
    Decision,
    FindingRaised,
    FindingSource,
    ProposalSubmitted,
    VerdictIssued,
    VerificationOutcome,
    VerificationRecorded,
)
from alignment_flywheel.governance.norms import Norms
from alignment_flywheel.governance.redteam import Target, campaign_findings, red_team
from alignment_flywheel.processors.app import agent, create_app
from alignment_flywheel.processors.codec import FaustEventCodec
from alignment_flywheel.processors.pairs import Pair, PairBook, Seed
from alignment_flywheel.processors.streams import (
    DeadLetterWriter,
    decoded,
    expected_on,
    raw_topic,
    send_confirmed,
)
from alignment_flywheel.roles import group_for, partitions_for, topic_for

log = logging.getLogger(__name__)
DEFAULT_APP_ID = group_for("redteam")
Attacked = Callable[[], Sequence[Target]]
SWEEP_EVERY_S = 60.0


@dataclass(frozen=True)
class RedTeamTopics:
    findings: str = topic_for("FindingRaised")
    verifications: str = topic_for("VerificationRecorded")
    proposals: str = topic_for("ProposalSubmitted")
    verdicts: str = topic_for("VerdictIssued")
    dead_letters: str = topic_for("DeadLettered")
    findings_partitions: int = partitions_for("FindingRaised")
    proposals_partitions: int = partitions_for("ProposalSubmitted")


@dataclass
class RedTeamStats:
    campaigns: int = 0
    variants: int = 0
    findings: int = 0
    swept: int = 0


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
        self.stats = RedTeamStats()
        self._swept: dict[tuple[int, int], float] = {}
        self._producer = settings.identity
        self._codec = EventCodec.from_settings(settings)
        self.app = create_app(settings, app_id, **(app_options or {}))
        self._declare(app_id)

    def _declare(self, app_id: str) -> None:
        app, names = self.app, self.topics
        self._findings = app.topic(
            names.findings, value_serializer=FaustEventCodec(self._codec), key_serializer="raw"
        )
        self._dead = DeadLetterWriter.on(
            app, names.dead_letters, self._codec, producer=self._producer, group=app_id
        )
        self.finding_pairs = PairBook(
            app.Table(
                "findings", default=None, partitions=names.findings_partitions, value_type=bytes
            )
        )
        self.proposal_pairs = PairBook(
            app.Table(
                "proposals", default=None, partitions=names.proposals_partitions, value_type=bytes
            )
        )
        agent(app, raw_topic(app, names.findings), name="findings")(self._on_findings)
        agent(app, raw_topic(app, names.verifications), name="verifications")(self._on_verified)
        agent(app, raw_topic(app, names.proposals), name="proposals")(self._on_proposals)
        agent(app, raw_topic(app, names.verdicts), name="verdicts")(self._on_verdicts)

    async def _on_findings(self, stream: Any) -> None:
        findings = expected_on(topic_for("FindingRaised"))
        async for event in decoded(stream, self._codec, self._dead, findings):
            if isinstance(event, FindingRaised):
                eligible = event.source is not FindingSource.RED_TEAM
                seed = Seed(event.proposal, event.finding_id, eligible)
                await self._seed_side(self.finding_pairs, str(event.finding_id), seed)

    async def _on_verified(self, stream: Any) -> None:
        verifications = expected_on(topic_for("VerificationRecorded"))
        async for event in decoded(stream, self._codec, self._dead, verifications):
            if isinstance(event, VerificationRecorded):
                confirmed = event.outcome is VerificationOutcome.VIOLATION
                await self._outcome_side(self.finding_pairs, str(event.finding_id), confirmed)

    async def _on_proposals(self, stream: Any) -> None:
        proposals = expected_on(topic_for("ProposalSubmitted"))
        async for event in decoded(stream, self._codec, self._dead, proposals):
            if isinstance(event, ProposalSubmitted):
                seed = Seed(event.proposal, None, eligible=True)
                await self._seed_side(self.proposal_pairs, str(event.proposal.proposal_id), seed)

    async def _on_verdicts(self, stream: Any) -> None:
        verdicts = expected_on(topic_for("VerdictIssued"))
        async for event in decoded(stream, self._codec, self._dead, verdicts):
            if isinstance(event, VerdictIssued) and event.enforced:
                blocked = event.decision is Decision.BLOCK
                await self._outcome_side(self.proposal_pairs, str(event.proposal_id), blocked)

    async def _seed_side(self, book: PairBook, key: str, seed: Seed) -> None:
        await self._act(book, key, book.seed_side(key, seed, self._sweep(book)))

    async def _outcome_side(self, book: PairBook, key: str, confirmed: bool) -> None:
        await self._act(book, key, book.outcome_side(key, confirmed, self._sweep(book)))

    async def _act(self, book: PairBook, key: str, pair: Pair | None) -> None:
        if pair is None:
            return
        if pair.attack:
            await self.attack(pair.seed)
        book.complete(key)

    async def attack(self, seed: Seed) -> list[FindingRaised]:
        """Red-team one seed against the oracles in force; publish a finding per miss."""
        campaign = red_team(
            seed.proposal, self.norms, self.attacked(), seed=self.seed, budget=self.budget
        )
        found = campaign_findings(
            campaign, parent_finding_id=seed.parent_finding_id, producer=self._producer
        )
        for finding in found:
            await send_confirmed(self._findings, finding)
        self.stats.campaigns += 1
        self.stats.variants += len(campaign.variants)
        self.stats.findings += len(found)
        log.info("red team: %d variants, %d misses", len(campaign.variants), len(found))
        return found

    def _sweep(self, book: PairBook) -> int:
        """The current record's partition, after deleting its stale entries (once a minute)."""
        event = faust.current_event()
        partition: int = -1 if event is None else event.message.partition
        now = time.monotonic()
        last = self._swept.get((id(book), partition))
        if last is not None and now - last < SWEEP_EVERY_S:
            return partition
        self._swept[(id(book), partition)] = now
        stale = book.stale(partition, self.ttl_s)
        for key in stale:
            book.complete(key)
        self.stats.swept += len(stale)
        return partition


def build_redteam(
    settings: Settings, norms: Norms, attacked: Attacked, **options: Any
) -> RedTeamWorker:
    """A red-team worker's app; ``options`` as :class:`RedTeamWorker` takes them."""
    return RedTeamWorker(settings, norms, attacked, **options)
