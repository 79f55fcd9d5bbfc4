"""The red team's pure core (:mod:`.step`): seeds meet their outcomes, confirmed ones are attacked.

The step takes one :class:`Delivery` (a decoded event, its partition and the time it is handled)
and reads the tables ``findings`` and ``proposals`` (changelog-backed :class:`~.pairs.PairBook`
entries, keyed by the finding id or the proposal id) and the memory table ``swept`` (when each
book's partition was last swept). Rules:

* **Sides.** A ``FindingRaised`` is a seed (eligible unless the red team raised it) and a
  ``VerificationRecorded`` its outcome (confirmed when VIOLATION), in ``findings``; a
  ``ProposalSubmitted`` is a seed and an enforced ``VerdictIssued`` its outcome (confirmed when
  BLOCK), in ``proposals``. A shadow verdict, or any other event, writes and emits nothing.
* **The meeting.** The side that comes first is stored (with the time and the partition); the
  side that comes second completes the pair. A confirmed pair with an eligible seed is attacked
  (:func:`~.redteam.red_team` on the oracles in force when the step runs): the step emits one
  ``FindingRaised`` per miss, ids derived from the seed (:mod:`.redteam`). A completed pair's
  entry is deleted.
* **The sweep.** Before its side, a delivery deletes its book's entries of its own partition
  older than ``ttl_s``, at most once per :data:`SWEEP_EVERY_S` of the monotonic clock per book
  and partition (``swept``, in memory: a restarted worker sweeps on its first record).
* **Order.** The shell sends what the step emitted, then applies its writes: a pair's entry is
  deleted only after its findings are confirmed.
* **Redelivery and restarts.** A side redelivered after its pair's delete was written is stored
  again and emits nothing (it waits until swept). A side redelivered when the delete was lost (a
  crash after the findings were sent, before the table write) completes the pair again and emits
  the same findings (same ids, same events while the oracles in force are the same). A crash
  before the findings were confirmed leaves the entry in place: the redelivered side attacks, so
  no confirmed pair is left without its findings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from alignment_flywheel.events import (
    Decision,
    Event,
    FindingRaised,
    FindingSource,
    ProposalSubmitted,
    VerdictIssued,
    VerificationOutcome,
    VerificationRecorded,
)
from alignment_flywheel.governance.norms import Norms
from alignment_flywheel.governance.pairs import Pair, PairBook, Seed
from alignment_flywheel.governance.redteam import Target, campaign_findings, red_team
from alignment_flywheel.governance.step import Overlay, Stepped, Tables, Writes

log = logging.getLogger(__name__)
FINDINGS, PROPOSALS, SWEPT = "findings", "proposals", "swept"
SWEEP_EVERY_S = 60.0
Attacked = Callable[[], Sequence[Target]]
"""The oracles in force: the stable one and a rollout's candidate."""
Side = tuple[str, str, Seed | bool]
"""A delivery's book, key and half: a seed, or whether the outcome confirms it."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One input record: its event, its partition, the wall clock and the monotonic clock."""

    event: Event
    partition: int
    now: float
    tick: float


@dataclass
class RedTeamStats:
    campaigns: int = 0
    variants: int = 0
    findings: int = 0
    swept: int = 0


@dataclass(frozen=True, slots=True)
class Campaigns:
    """How seeds are attacked: the norms, the oracles in force, the seed and the budget."""

    norms: Norms
    attacked: Attacked
    seed: int
    budget: int
    producer: str


class RedTeamCore:
    """The red team's step (see the module rules)."""

    def __init__(self, campaigns: Campaigns, *, ttl_s: float) -> None:
        self.campaigns = campaigns
        self.ttl_s = ttl_s
        self.stats = RedTeamStats()

    def __call__(self, tables: Tables, delivery: Delivery) -> Stepped[FindingRaised]:
        side = side_of(delivery.event)
        if side is None:
            return Stepped()
        name, key, half = side
        overlay = Overlay(tables[name])
        book = PairBook(overlay, clock=lambda: delivery.now)
        swept = self._sweep(tables, name, book, delivery)
        if isinstance(half, Seed):
            pair = book.seed_side(key, half, delivery.partition)
        else:
            pair = book.outcome_side(key, half, delivery.partition)
        found = self._act(book, key, pair)
        return Stepped({name: overlay.changes, **swept}, found)

    def attack(self, seed: Seed) -> tuple[FindingRaised, ...]:
        """Red-team one seed against the oracles in force; a finding per miss."""
        config = self.campaigns
        campaign = red_team(
            seed.proposal, config.norms, config.attacked(), seed=config.seed, budget=config.budget
        )
        found = campaign_findings(
            campaign, parent_finding_id=seed.parent_finding_id, producer=config.producer
        )
        self.stats.campaigns += 1
        self.stats.variants += len(campaign.variants)
        self.stats.findings += len(found)
        log.info("red team: %d variants, %d misses", len(campaign.variants), len(found))
        return tuple(found)

    def _act(self, book: PairBook, key: str, pair: Pair | None) -> tuple[FindingRaised, ...]:
        if pair is None:
            return ()
        found = self.attack(pair.seed) if pair.attack else ()
        book.complete(key)
        return found

    def _sweep(self, tables: Tables, name: str, book: PairBook, delivery: Delivery) -> Writes:
        """Delete the book's stale entries of the delivery's partition, if it is time to."""
        key = f"{name}/{delivery.partition}"
        last: float | None = tables[SWEPT].get(key)
        if last is not None and delivery.tick - last < SWEEP_EVERY_S:
            return {}
        stale = book.stale(delivery.partition, self.ttl_s)
        for old in stale:
            book.complete(old)
        self.stats.swept += len(stale)
        return {SWEPT: {key: delivery.tick}}


def side_of(event: Event) -> Side | None:
    """The book, key and half an event is, or None for an event that is neither side."""
    if isinstance(event, FindingRaised):
        eligible = event.source is not FindingSource.RED_TEAM
        return FINDINGS, str(event.finding_id), Seed(event.proposal, event.finding_id, eligible)
    if isinstance(event, VerificationRecorded):
        confirmed = event.outcome is VerificationOutcome.VIOLATION
        return FINDINGS, str(event.finding_id), confirmed
    if isinstance(event, ProposalSubmitted):
        proposal = event.proposal
        return PROPOSALS, str(proposal.proposal_id), Seed(proposal, None, eligible=True)
    if isinstance(event, VerdictIssued) and event.enforced:
        return PROPOSALS, str(event.proposal_id), event.decision is Decision.BLOCK
    return None
