"""The gate's pure core (:mod:`~alignment_flywheel.governance.step`): dedup and emit order.

One step takes a decoded proposal (:class:`Submission`) and the tables ``decided`` (proposal id
-> the encoded ``VerdictIssued``; the faust shell gives the current window of its windowed table)
and ``revise-spent`` (proposal id -> the REVISE verdicts its chain spent, above the floor). It
returns the table writes and the records to send (:class:`Outgoing`), in order. No faust, no
broker: the shell decodes, steps, writes, sends and acknowledges. Rules:

* **A proposal is decided once per ``decided`` entry.** A proposal found in ``decided`` is not
  decided again (the decider is not called) and writes nothing: it emits the stored verdict, byte
  for byte, and for an ESCALATE its review request again (same review id and deadline, derived
  from the verdict). A redelivered proposal therefore re-sends, never re-decides.
* **A new decision** writes ``revise-spent`` (when what its chain spent is above the floor) and
  then ``decided`` (the encoded verdict), and emits, in this order: the enforced verdict, its
  review request (for an ESCALATE), then the shadow verdict of a rollout (not kept in
  ``decided``: a redelivery re-sends only the enforced one).
* **Revise depth**: the rule every decider counts with
  (:mod:`alignment_flywheel.enforcement.revise`), over ``revise-spent``.
* **Restarts**: when a crash loses the ``decided`` write but not the verdict, the redelivered
  proposal is decided again: same decision id (``uuid5`` of the proposal id), new event id, and
  the same content unless the oracle changed in between. When both survive, or neither, the
  output holds one decision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.enforcement.revise import RESUBMISSION_FLOOR, revise_depth, revisions_spent
from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.events import Decision, Proposal, ReviewRequested, VerdictIssued
from alignment_flywheel.governance.step import Stepped, Tables
from alignment_flywheel.oracle.provenance import SessionContext
from alignment_flywheel.processors.gate_events import (
    envelope_record,
    escalation_review,
    review_request,
    verdict_record,
)

DECIDED, REVISE_SPENT = "decided", "revise-spent"
VERDICTS, REVIEWS = "verdicts", "reviews"
Decide = Callable[[Proposal, int, SessionContext | None], tuple[Verdict, Verdict | None]]
"""The decider: proposal, revise depth, session -> the enforced verdict and the shadow one."""


@dataclass(frozen=True, slots=True)
class Submission:
    """A decoded proposal: its envelope (the codec's dict), the proposal, its session context."""

    envelope: Mapping[str, Any]
    proposal: Proposal
    session: SessionContext | None = None


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

    def __call__(self, tables: Tables, submission: Submission) -> Stepped[Outgoing]:
        key = str(submission.proposal.proposal_id)
        stored: bytes | None = tables[DECIDED].get(key)
        if stored is not None:
            return Stepped(emitted=self.again(key, stored))
        return self.decide(tables, key, submission)

    def again(self, key: str, encoded: bytes) -> tuple[Outgoing, ...]:
        """The records of a proposal decided before: its verdict, byte for byte, and review."""
        verdict = self._codec.decode(encoded)
        if not isinstance(verdict, VerdictIssued):
            raise TypeError(f"the decided table holds a {verdict.event_type()}, not a verdict")
        sent = Outgoing(VERDICTS, key.encode(), encoded, verdict.decision)
        if verdict.decision is not Decision.ESCALATE:
            return (sent,)
        review = review_request(
            verdict, review_timeout_s=self._review_timeout_s, producer=self._producer
        )
        return sent, self._review(key, review)

    def decide(self, tables: Tables, key: str, submission: Submission) -> Stepped[Outgoing]:
        """Decide a proposal not decided before."""
        proposal = submission.proposal
        parent = proposal.parent_proposal_id
        spent_before = 0 if parent is None else tables[REVISE_SPENT].get(str(parent)) or 0
        depth = revise_depth(parent is not None, spent_before)
        verdict, shadow = self._decide(proposal, depth, submission.session)
        record = self._record(verdict, submission)
        encoded = self._codec.encode_record("VerdictIssued", record)
        writes: dict[str, dict[str, Any]] = {}
        spent = revisions_spent(depth, verdict.decision)
        if spent > RESUBMISSION_FLOOR:
            writes[REVISE_SPENT] = {key: spent}
        writes[DECIDED] = {key: encoded}
        emitted = [Outgoing(VERDICTS, key.encode(), encoded, verdict.decision)]
        if verdict.decision is Decision.ESCALATE:
            review = escalation_review(
                record, review_timeout_s=self._review_timeout_s, producer=self._producer
            )
            emitted.append(self._review(key, review))
        if shadow is not None:
            shadow_bytes = self._codec.encode_record(
                "VerdictIssued", self._record(shadow, submission)
            )
            emitted.append(Outgoing(VERDICTS, key.encode(), shadow_bytes, shadow.decision))
        return Stepped(writes, tuple(emitted))

    def _record(self, verdict: Verdict, submission: Submission) -> dict[str, Any]:
        key = str(submission.proposal.proposal_id)
        envelope = envelope_record(self._producer, key, submission.envelope["trace_id"])
        return verdict_record(verdict, submission.proposal, envelope=envelope)

    def _review(self, key: str, review: ReviewRequested) -> Outgoing:
        return Outgoing(REVIEWS, key.encode(), self._codec.encode(review))
