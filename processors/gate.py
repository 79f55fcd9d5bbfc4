"""The gate: a faust processor that decides every proposal on Kafka, exactly once per proposal.

Flow, per record of the proposals topic (raw bytes):

1. A record with the header ``flywheel-decided-by`` (``sdk``, ``http``) was already decided in
   process by its producer; the gate counts it and passes over it (no decision, no verdict).
2. The bytes are decoded with the shared codec. A record that does not decode (garbage, unknown
   fingerprint, schema or model violation, oversized) is dead-lettered with its original bytes and
   the reason; a decoded event that is not a ``ProposalSubmitted`` is dead-lettered too, and so is
   a record nested so deeply that decoding its JSON overflows the recursion limit.
3. The :class:`Decider` (the enforcer, in process and synchronous) decides. It fails closed on
   oracle failures; if it raises :class:`~alignment_flywheel.errors.InvalidInputError` the record
   is dead-lettered. Any other exception stops the worker (mode's crashing supervisor): no silent
   restart. An unknown tool is not an error: the oracle has no rule for it and the risk policy
   decides.
4. ``VerdictIssued`` goes to the verdicts topic keyed by the proposal id; for ESCALATE, a
   ``ReviewRequested`` (deadline = now + ``review_timeout_s``) goes to the reviews topic, same key.

Exactly one verdict per proposal, across restarts:

* The decision id is ``uuid5(DECISION_NAMESPACE, proposal_id)`` and the review id
  ``uuid5(REVIEW_NAMESPACE, proposal_id)``: any verdict ever issued for a proposal carries the same
  ids, whichever worker issued it.
* The table ``decided`` (changelog-backed, compacted, co-partitioned with the proposals topic)
  maps proposal id → the encoded ``VerdictIssued``. A proposal found in it is not decided again:
  a record redelivered after a crash re-sends the verdict issued before, byte for byte (and its
  review request, same review id and deadline), never a new decision. Re-sending, rather than
  emitting nothing, matters: the table's changelog write and the verdict are separate records and
  a crash can keep one and lose the other. The cost: every record processed after the last
  offset commit is re-sent after a crash (a few hundred byte-identical verdicts, same event id,
  in the SIGKILL test). The table is windowed by the record's timestamp (tumbling
  :data:`DEDUP_WINDOW`, dropped after :data:`DEDUP_EXPIRES`), so it stays bounded; a redelivered
  record has the same timestamp, hence the same window. Expiry is relative to the newest record
  timestamp seen on the partition (stream time, not wall-clock time, so downtime does not expire
  anything), and a redelivered record is at most one commit interval (~3 s) older in stream time
  than the newest one processed before the crash. Memory: about rate * DEDUP_EXPIRES verdicts.
* Faust flushes the producer (verdicts and changelog) before it commits offsets, so a committed
  proposal always has its verdict on the broker, and only records after the last commit are ever
  redelivered. If a crash loses the changelog write too, the redelivered proposal is decided again
  with the same decision id; its content could differ only if the oracle had been swapped in
  between. Faust's ``processing_guarantee="exactly_once"`` (transactions) was tried with this
  broker and aiokafka 0.14: in the SIGKILL test it issued more duplicates (89 of 1,200, all with
  the same decision) than the table and ran slower, so it is not used.

Revise loop: a REVISE verdict carries the amendment; the proposer resubmits with
``parent_proposal_id``. The global table ``revise_depth`` maps the id of every proposal that got a
REVISE to its depth, on every worker, so ``depth(child) = depth(parent) + 1`` whatever partition
the parent was on; a proposal without a parent has depth 0, one whose parent is not in the table
(not revised, or decided elsewhere) depth 1. The table is replicated through its changelog: a
child reaching another worker within milliseconds of its parent's REVISE could see depth 1 instead
of the parent's depth + 1 (the proposer normally resubmits after reading the verdict).
The depth is passed to ``decide(revision_depth=...)``; the risk policy enforces the budget.

Hot reload of the oracle (issue #4): the seam is ``Enforcer.swap_oracle``; the gate holds the
enforcer, never the oracle.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.enforcement.verdict import Verdict, verdict_event
from alignment_flywheel.errors import CodecError, InvalidInputError
from alignment_flywheel.events import (
    Decision,
    Proposal,
    ProposalSubmitted,
    ReviewRequested,
    VerdictIssued,
    new_envelope,
)
from alignment_flywheel.processors.app import agent, create_app
from alignment_flywheel.processors.codec import FaustEventCodec
from alignment_flywheel.processors.streams import DeadLetterWriter
from alignment_flywheel.stack.catalog import load_catalog

log = logging.getLogger(__name__)

DECIDED_BY_HEADER = "flywheel-decided-by"
DECISION_NAMESPACE = uuid.UUID("5b0c7a52-3f0e-4c55-9a55-6f1d7e0b9a01")
REVIEW_NAMESPACE = uuid.UUID("0d6a3c1e-8a4b-4f7e-b1b7-2c4e9d8f5a02")
DEFAULT_APP_ID = "flywheel-gate"
DEDUP_WINDOW = timedelta(seconds=30)
DEDUP_EXPIRES = timedelta(minutes=2)


class Decider(Protocol):
    """What the gate needs from the enforcer."""

    def decide(self, proposal: Proposal, *, revision_depth: int = 0) -> Verdict: ...


@dataclass(frozen=True)
class GateTopics:
    """Topic names (catalog names by default) and the partition count of the proposals topic."""

    proposals: str = "flywheel.proposals"
    verdicts: str = "flywheel.verdicts"
    reviews: str = "flywheel.reviews"
    dead_letters: str = "flywheel.deadletter"
    partitions: int = 6


@dataclass
class GateStats:
    """What a gate worker did since it started."""

    decided: int = 0
    skipped_decided_elsewhere: int = 0
    already_decided: int = 0
    dead_lettered: int = 0
    by_decision: dict[str, int] = field(default_factory=dict)


def decision_id_for(proposal_id: uuid.UUID) -> uuid.UUID:
    """The one decision id of a proposal, whoever decides it and however often."""
    return uuid.uuid5(DECISION_NAMESPACE, str(proposal_id))


def review_id_for(proposal_id: uuid.UUID) -> uuid.UUID:
    """The one review id of an escalated proposal."""
    return uuid.uuid5(REVIEW_NAMESPACE, str(proposal_id))


def decided_elsewhere(headers: Any) -> str | None:
    """The value of the ``flywheel-decided-by`` header, or None when the gate must decide."""
    if not headers:
        return None
    items: Any = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        if name == DECIDED_BY_HEADER:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None


def child_depth(parent_depth: int | None, has_parent: bool) -> int:
    """Revise depth of a proposal: 0 without a parent, else the parent's depth + 1."""
    if not has_parent:
        return 0
    return (parent_depth or 0) + 1


@dataclass(frozen=True)
class GateOutput:
    """What the gate emits for one decided proposal."""

    verdict: VerdictIssued
    review: ReviewRequested | None


def gate_output(
    decider: Decider,
    submitted: ProposalSubmitted,
    *,
    depth: int,
    review_timeout_s: float,
    producer: str,
) -> GateOutput:
    """Decide one proposal and build its events (pure apart from the decider and the clock)."""
    proposal = submitted.proposal
    verdict = decider.decide(proposal, revision_depth=depth)
    event = verdict_event(
        verdict,
        proposal,
        producer=producer,
        decision_id=decision_id_for(proposal.proposal_id),
        trace_id=submitted.envelope.trace_id,
    )
    review = None
    if verdict.decision is Decision.ESCALATE:
        review = review_request(event, review_timeout_s=review_timeout_s, producer=producer)
    return GateOutput(verdict=event, review=review)


def review_request(
    verdict: VerdictIssued, *, review_timeout_s: float, producer: str
) -> ReviewRequested:
    """The review request for an escalated verdict; its ids and deadline follow from the verdict."""
    return ReviewRequested(
        envelope=new_envelope(
            producer, str(verdict.proposal_id), trace_id=verdict.envelope.trace_id
        ),
        review_id=review_id_for(verdict.proposal_id),
        proposal_id=verdict.proposal_id,
        decision_id=verdict.decision_id,
        reason="; ".join(verdict.reasons) or "escalated by the risk policy",
        deadline=verdict.envelope.occurred_at + timedelta(seconds=review_timeout_s),
    )


class Gate:
    """The gate's faust app, its topics, tables and counters. Build with :func:`build_gate`."""

    def __init__(
        self,
        settings: Settings,
        decider: Decider,
        *,
        app_id: str = DEFAULT_APP_ID,
        topics: GateTopics | None = None,
        **app_overrides: Any,
    ) -> None:
        self.topics = topics or GateTopics()
        self.decider = decider
        self.stats = GateStats()
        self._settings = settings
        self._codec = EventCodec.from_settings(settings)
        options = {"topic_partitions": self.topics.partitions, **app_overrides}
        self.app = create_app(settings, app_id, **options)
        self._declare(app_id)

    def _declare(self, app_id: str) -> None:
        app, names = self.app, self.topics
        events = FaustEventCodec(self._codec)
        self._source = app.topic(names.proposals, value_serializer="raw", key_serializer="raw")
        self._verdicts = app.topic(names.verdicts, value_serializer=events, key_serializer="raw")
        self._reviews = app.topic(names.reviews, value_serializer=events, key_serializer="raw")
        dead_topic = app.topic(names.dead_letters, value_serializer="raw", key_serializer="raw")
        self._dead_letters = DeadLetterWriter(
            dead_topic, self._codec, producer=self._settings.identity, group=app_id
        )
        self.decided = (
            app.Table("decided", default=None, partitions=names.partitions, value_type=bytes)
            .tumbling(DEDUP_WINDOW, expires=DEDUP_EXPIRES)
            .relative_to_stream()
        )
        self.revise_depth = app.GlobalTable(
            "revise-depth", default=None, partitions=names.partitions, value_type=int
        )
        agent(app, self._source, name="gate")(self._run)

    async def _run(self, stream: Any) -> None:
        async for record in stream.events():
            await self.handle(record.message)

    async def handle(self, message: Any) -> None:
        """Apply the rules of the module docstring to one raw record."""
        if decided_elsewhere(message.headers) is not None:
            self.stats.skipped_decided_elsewhere += 1
            return
        if message.value is None:
            return
        try:
            submitted = self._decode(message.value)
            await self._decide(submitted)
        except InvalidInputError as exc:
            await self._dead_letters.publish(message, exc)
            self.stats.dead_lettered += 1

    def _decode(self, raw: bytes) -> ProposalSubmitted:
        try:
            event = self._codec.decode(raw)
        except RecursionError:
            raise CodecError("the record is nested too deeply to decode") from None
        if not isinstance(event, ProposalSubmitted):
            raise CodecError(
                f"expected a ProposalSubmitted on the proposals topic, got {event.event_type()}"
            )
        return event

    async def _decide(self, submitted: ProposalSubmitted) -> None:
        proposal = submitted.proposal
        key = str(proposal.proposal_id)
        if key in self.decided:
            await self._emit_again(key, self.decided[key].current())
            return
        parent = proposal.parent_proposal_id
        depth = child_depth(
            None if parent is None else self.revise_depth.get(str(parent)), parent is not None
        )
        output = gate_output(
            self.decider,
            submitted,
            depth=depth,
            review_timeout_s=self._settings.review_timeout_s,
            producer=self._settings.identity,
        )
        verdict = output.verdict
        encoded = self._codec.encode(verdict)
        if verdict.decision is Decision.REVISE:
            self.revise_depth[key] = depth
        self.decided[key] = encoded
        await self._emit(key, encoded, output.review)
        self._count(verdict.decision)

    async def _emit_again(self, key: str, encoded: bytes) -> None:
        """A redelivered proposal: send the verdict issued before, byte for byte."""
        verdict = self._codec.decode(encoded)
        if not isinstance(verdict, VerdictIssued):
            raise TypeError(f"the decided table holds a {verdict.event_type()}, not a verdict")
        review = None
        if verdict.decision is Decision.ESCALATE:
            review = review_request(
                verdict,
                review_timeout_s=self._settings.review_timeout_s,
                producer=self._settings.identity,
            )
        await self._emit(key, encoded, review)
        self.stats.already_decided += 1

    async def _emit(self, key: str, verdict: bytes, review: ReviewRequested | None) -> None:
        await self._verdicts.send(key=key.encode(), value=verdict)
        if review is not None:
            await self._reviews.send(key=key.encode(), value=review)

    def _count(self, decision: Decision) -> None:
        self.stats.decided += 1
        self.stats.by_decision[decision.value] = self.stats.by_decision.get(decision.value, 0) + 1


def build_gate(
    settings: Settings,
    decider: Decider,
    *,
    app_id: str = DEFAULT_APP_ID,
    topics: GateTopics | None = None,
    **app_overrides: Any,
) -> Gate:
    """A gate worker's app. ``app_id`` is the consumer group: workers sharing it share the load."""
    return Gate(settings, decider, app_id=app_id, topics=topics, **app_overrides)


def catalog_topics() -> GateTopics:
    """The gate's topics as the catalog defines them (partition count of the proposals topic)."""
    catalog = load_catalog()
    proposals = catalog.topic_for("ProposalSubmitted")
    return GateTopics(
        proposals=proposals,
        verdicts=catalog.topic_for("VerdictIssued"),
        reviews=catalog.topic_for("ReviewRequested"),
        partitions=catalog.topic(proposals).partitions,
    )
