"""The gate's pure core (:mod:`~alignment_flywheel.governance.step`): revise depth and emit order.

One step takes a decoded proposal (:class:`Submission`) and the table ``revise-spent`` (proposal
id -> the REVISE verdicts its chain spent, above the floor). It returns the table writes and the
records to send (:class:`Outgoing`), in order. No broker: the shell decodes, steps, and sends the
records, the table writes and the input offsets in one Kafka transaction. Rules:

* **Emit order**: the enforced verdict, its review request (for an ESCALATE), then the shadow
  verdict of a rollout.
* **Ids derived from the input**: the decision id is ``uuid5`` of the proposal id, and so are the
  event ids of the verdict, the shadow verdict and the review request (each with its own kind); the
  verdict's time is the input record's (``Submission.occurred_at``) and the review's deadline
  follows from it. A proposal decided again (its transaction aborted, or a worker killed before
  committing) yields records with the same ids and times; with an unchanged oracle the same
  decision (only ``latency_us``, a measurement, differs).
* **Revise depth**: the rule every decider counts with
  (:mod:`alignment_flywheel.enforcement.revise`), over ``revise-spent``; a new decision writes
  ``revise-spent`` when what its chain spent is above the floor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.enforcement.revise import RESUBMISSION_FLOOR, revise_depth, revisions_spent
from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.events import Decision, Proposal, ReviewRequested
from alignment_flywheel.governance.step import Stepped, Tables
from alignment_flywheel.oracle.provenance import SessionContext
from alignment_flywheel.processors.gate_events import (
    SHADOW_KIND,
    VERDICT_KIND,
    envelope_record,
    escalation_review,
    verdict_front,
)
from alignment_flywheel.processors.verdict_bytes import VerdictBytes

REVISE_SPENT = "revise-spent"
VERDICTS, REVIEWS = "verdicts", "reviews"
Decide = Callable[[Proposal, int, SessionContext | None], tuple[Verdict, Verdict | None]]
"""The decider: proposal, revise depth, session -> the enforced verdict and the shadow one."""


@dataclass(frozen=True, slots=True)
class Submission:
    """A decoded proposal: its envelope (the codec's dict), the proposal, its session context and
    the time of its input record (the time of what is emitted for it)."""

    envelope: Mapping[str, Any]
    proposal: Proposal
    session: SessionContext | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A record to send: to ``verdicts`` or ``reviews``, its key and bytes; for a verdict, its
    decision."""

    topic: str
    key: bytes
    value: bytes
    decision: Decision | None = None


class GateCore:
    """The gate's step (see the module rules)."""

    def __init__(
        self, codec: EventCodec, decide: Decide, *, producer: str, review_timeout_s: float
    ) -> None:
        self._codec = codec
        self._decide = decide
        self._producer = producer
        self._review_timeout_s = review_timeout_s
        self._verdicts = VerdictBytes(codec)

    def __call__(self, tables: Tables, submission: Submission) -> Stepped[Outgoing]:
        return self.decide(tables[REVISE_SPENT], submission)

    def decide(self, spent_by: Mapping[str, int], submission: Submission) -> Stepped[Outgoing]:
        """Decide a proposal; ``spent_by`` is the ``revise-spent`` table."""
        proposal = submission.proposal
        key = str(proposal.proposal_id)
        parent = proposal.parent_proposal_id
        spent_before = 0 if parent is None else spent_by.get(str(parent)) or 0
        depth = revise_depth(parent is not None, spent_before)
        verdict, shadow = self._decide(proposal, depth, submission.session)
        front = self._front(verdict, submission, key, VERDICT_KIND)
        encoded = self._verdicts.encode(front, verdict)
        writes: dict[str, dict[str, Any]] = {}
        spent = revisions_spent(depth, verdict.decision)
        if spent > RESUBMISSION_FLOOR:
            writes[REVISE_SPENT] = {key: spent}
        key_bytes = key.encode()
        emitted = [Outgoing(VERDICTS, key_bytes, encoded, verdict.decision)]
        if verdict.decision is Decision.ESCALATE:
            review = escalation_review(
                {**front, "reasons": verdict.reasons},
                review_timeout_s=self._review_timeout_s,
                producer=self._producer,
            )
            emitted.append(self._review(key, review))
        if shadow is not None:
            shadow_front = self._front(shadow, submission, key, SHADOW_KIND)
            shadow_bytes = self._verdicts.encode(shadow_front, shadow)
            emitted.append(Outgoing(VERDICTS, key_bytes, shadow_bytes, shadow.decision))
        return Stepped(writes, tuple(emitted))

    def _front(
        self, verdict: Verdict, submission: Submission, key: str, kind: str
    ) -> dict[str, Any]:
        """The front fields of the verdict of kind ``kind`` (``key``: the proposal id as text)."""
        trace_id = submission.envelope["trace_id"]
        envelope = envelope_record(
            self._producer,
            key,
            trace_id,
            kind=kind,
            occurred_at=submission.occurred_at,
            text_id=True,
        )
        return verdict_front(verdict, submission.proposal, envelope=envelope, key=key)

    def _review(self, key: str, review: ReviewRequested) -> Outgoing:
        return Outgoing(REVIEWS, key.encode(), self._codec.encode(review))
