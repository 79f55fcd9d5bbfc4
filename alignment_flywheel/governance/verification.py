"""Verification: each finding judged against the human norms, inconclusive ones sent to a human.

Rules:

* A ``FindingRaised`` is judged by :meth:`~alignment_flywheel.governance.norms.Norms.judge` on its
  proposal: VIOLATION (the norm ids, the highest severity), NO_VIOLATION or INCONCLUSIVE. The
  oracle plays no part: the norms are the reference the oracle is checked against.
* One ``VerificationRecorded`` per finding, keyed by the finding id, carrying the norms version,
  the norm ids, the severity and the rationale.
* INCONCLUSIVE also gives a ``ReviewRequested`` (the review id derived from the finding id, the
  finding id as the decision id, keyed by the proposal id like the gate's reviews) so a human
  decides.
* Everything is derived from the finding and the norms: the verification id and the review id
  are uuid5 of the finding id, and so are the event ids, so a finding verified again (after a
  crash) gives the same events, which consumers de-duplicate by id.
* A person's answer to that review is the finding's verification (:func:`review_verification`):
  a ``ReviewDecided`` answers a verification review when its envelope's ``correlation_id`` is a
  finding id F (the review desk copies it from the request) and its review id is F's review id.
  Unless it is ``automatic`` (a timeout is no judgement), DENY gives a ``VerificationRecorded``
  of F with outcome VIOLATION (severity HIGH, no norm ids, the rationale naming the reviewer and
  the reason) and APPROVE gives NO_VIOLATION. Its verification id (= event id) is uuid5 of the
  review id, its time and trace are the decision's, so re-processing gives the same event; the
  first decision of a review wins at the consumers, as on the review desk.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from alignment_flywheel.events import (
    Envelope,
    FindingRaised,
    ReviewDecided,
    ReviewOutcome,
    ReviewRequested,
    Severity,
    VerificationOutcome,
    VerificationRecorded,
    new_envelope,
)
from alignment_flywheel.events.ids import (
    review_id_for_finding,
    reviewed_verification_id,
    verification_id_for,
)
from alignment_flywheel.governance.norms import Norms


def derived_envelope(
    producer: str, key: str, event_id: uuid.UUID, *, correlation_id: str | None = None
) -> Envelope:
    """An envelope whose event and trace ids follow from ``event_id``: idempotent re-emission."""
    envelope = new_envelope(producer, key, trace_id=event_id.hex, correlation_id=correlation_id)
    return envelope.model_copy(update={"event_id": event_id})


@dataclass(frozen=True, slots=True)
class VerificationOutput:
    """What verifying one finding emits."""

    verification: VerificationRecorded
    review: ReviewRequested | None


def verify(finding: FindingRaised, norms: Norms, producer: str) -> VerificationOutput:
    """Judge a finding's proposal with the norms; see the module rules."""
    judgement = norms.judge(finding.proposal)
    finding_id = finding.finding_id
    verification_id = verification_id_for(finding_id)
    verification = VerificationRecorded(
        envelope=derived_envelope(
            producer, str(finding_id), verification_id, correlation_id=str(finding_id)
        ),
        verification_id=verification_id,
        finding_id=finding_id,
        outcome=judgement.outcome,
        norms_version=norms.version,
        norm_ids=judgement.norm_ids,
        severity=judgement.severity,
        rationale=judgement.rationale,
    )
    review = None
    if judgement.outcome is VerificationOutcome.INCONCLUSIVE:
        review = inconclusive_review(finding, judgement.rationale, producer)
    return VerificationOutput(verification, review)


def inconclusive_review(finding: FindingRaised, rationale: str, producer: str) -> ReviewRequested:
    """The review request that hands an inconclusive finding to a human."""
    review_id = review_id_for_finding(finding.finding_id)
    proposal_id = finding.proposal.proposal_id
    return ReviewRequested(
        envelope=derived_envelope(
            producer, str(proposal_id), review_id, correlation_id=str(finding.finding_id)
        ),
        review_id=review_id,
        proposal_id=proposal_id,
        decision_id=finding.finding_id,
        reason=f"verification inconclusive for finding {finding.finding_id}: {rationale}",
    )


def review_verification(
    decided: ReviewDecided, norms_version: str, producer: str
) -> VerificationRecorded | None:
    """The verification a person's answer to a verification review gives, else None; see the
    module rules."""
    finding_id = _answered_finding(decided)
    if finding_id is None or decided.automatic:
        return None
    verification_id = reviewed_verification_id(decided.review_id)
    envelope = derived_envelope(
        producer, str(finding_id), verification_id, correlation_id=str(finding_id)
    ).model_copy(
        update={"occurred_at": decided.envelope.occurred_at, "trace_id": decided.envelope.trace_id}
    )
    denied = decided.outcome is ReviewOutcome.DENY
    verb = "denied" if denied else "approved"
    return VerificationRecorded(
        envelope=envelope,
        verification_id=verification_id,
        finding_id=finding_id,
        outcome=VerificationOutcome.VIOLATION if denied else VerificationOutcome.NO_VIOLATION,
        norms_version=norms_version,
        severity=Severity.HIGH if denied else Severity.LOW,
        rationale=f"{decided.reviewer} {verb} review {decided.review_id}: {decided.reason}",
    )


def _answered_finding(decided: ReviewDecided) -> uuid.UUID | None:
    """The finding whose verification review ``decided`` answers, if it answers one."""
    try:
        finding_id = uuid.UUID(decided.envelope.correlation_id or "")
    except ValueError:
        return None
    return finding_id if decided.review_id == review_id_for_finding(finding_id) else None
