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
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from alignment_flywheel.events import (
    Envelope,
    FindingRaised,
    ReviewRequested,
    VerificationOutcome,
    VerificationRecorded,
    new_envelope,
)
from alignment_flywheel.governance.norms import Norms

VERIFICATION_NAMESPACE = uuid.UUID("6e2b9d41-7c3a-4f85-a1d0-93b4c5e6f702")


def verification_id_for(finding_id: uuid.UUID) -> uuid.UUID:
    """The one verification id of a finding (for one norms version)."""
    return uuid.uuid5(VERIFICATION_NAMESPACE, f"verification/{finding_id}")


def review_id_for_finding(finding_id: uuid.UUID) -> uuid.UUID:
    """The one review id of an inconclusive finding."""
    return uuid.uuid5(VERIFICATION_NAMESPACE, f"review/{finding_id}")


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
