"""Deterministic ids: every id the flywheel derives rather than draws, in one place.

An id derived from what it names (``uuid5`` of a namespace, or of a parent id, and a name) comes
out the same whoever derives it and however often, so a record issued again (a redelivery, a
restart, a second worker) carries the id of the first and is recognised as the same. Each kind of
id has its own namespace (or parent id) and name, so two kinds never collide.
"""

from __future__ import annotations

import uuid

DECISION_NAMESPACE = uuid.UUID("5b0c7a52-3f0e-4c55-9a55-6f1d7e0b9a01")
REVIEW_NAMESPACE = uuid.UUID("0d6a3c1e-8a4b-4f7e-b1b7-2c4e9d8f5a02")
SHADOW_NAMESPACE = uuid.UUID("7e2b9c41-0a6d-4f3e-8c15-d94a2b6e0f03")
FINDING_NAMESPACE = uuid.UUID("8f1d2c4e-6a3b-4d5e-9f70-1a2b3c4d5e6f")
TRIAGE_NAMESPACE = uuid.UUID("b7a4c2e9-1d3f-4a6b-8c5e-2f9d0a1b3c47")
VERIFICATION_NAMESPACE = uuid.UUID("6e2b9d41-7c3a-4f85-a1d0-93b4c5e6f702")
DRIFT_NAMESPACE = uuid.UUID("d41f6b2a-9e07-4c3d-b85a-7f1e2c3d4a5b")
REDTEAM_NAMESPACE = uuid.UUID("a47c1e93-2b6d-4f08-8e15-c9d3b7a2f610")
PATCH_NAMESPACE = uuid.UUID("3c0e9a7b-52f4-4a38-8d1e-6b2f7c9e0d14")


def decision_id_for(proposal_id: uuid.UUID) -> uuid.UUID:
    """The one decision id of a proposal, whoever decides it and however often."""
    return uuid.uuid5(DECISION_NAMESPACE, str(proposal_id))


def shadow_decision_id_for(proposal_id: uuid.UUID) -> uuid.UUID:
    """The decision id of the shadow verdict recorded beside a proposal's enforced verdict."""
    return uuid.uuid5(SHADOW_NAMESPACE, str(proposal_id))


def review_id_for(proposal_id: uuid.UUID) -> uuid.UUID:
    """The one review id of an escalated proposal."""
    return uuid.uuid5(REVIEW_NAMESPACE, str(proposal_id))


def incident_finding_id(incident_id: uuid.UUID) -> uuid.UUID:
    """The one finding id of a reported incident."""
    return uuid.uuid5(FINDING_NAMESPACE, f"incident/{incident_id}")


def cluster_id_for(first_finding_id: uuid.UUID) -> uuid.UUID:
    """The id of the cluster a finding founded."""
    return uuid.uuid5(TRIAGE_NAMESPACE, f"cluster/{first_finding_id}")


def cluster_update_id(cluster_id: uuid.UUID, size: int) -> uuid.UUID:
    """The event id of a cluster's update at a size."""
    return uuid.uuid5(cluster_id, f"size/{size}")


def verification_id_for(finding_id: uuid.UUID) -> uuid.UUID:
    """The one verification id of a finding (for one norms version)."""
    return uuid.uuid5(VERIFICATION_NAMESPACE, f"verification/{finding_id}")


def review_id_for_finding(finding_id: uuid.UUID) -> uuid.UUID:
    """The one review id of an inconclusive finding."""
    return uuid.uuid5(VERIFICATION_NAMESPACE, f"review/{finding_id}")


def reviewed_verification_id(review_id: uuid.UUID) -> uuid.UUID:
    """The verification id of a person's answer to a verification review."""
    return uuid.uuid5(VERIFICATION_NAMESPACE, f"verification/review/{review_id}")


def drift_id_for(dimension: str, subject: str, metric: str, trigger: uuid.UUID) -> uuid.UUID:
    """The one id of a drift of a metric, for the proposal that triggered its detection."""
    return uuid.uuid5(DRIFT_NAMESPACE, f"{dimension}/{subject}/{metric}/{trigger}")


def drift_finding_id(drift_id: uuid.UUID, proposal_id: uuid.UUID) -> uuid.UUID:
    """The finding id of a proposal sampled for a drift."""
    return uuid.uuid5(drift_id, f"finding/{proposal_id}")


def redteam_id(name: str) -> uuid.UUID:
    """The id of a red-team variant proposal or finding, named by what it derives from."""
    return uuid.uuid5(REDTEAM_NAMESPACE, name)


def patch_id_for(cluster_id: uuid.UUID, size: int, base_digest: str) -> uuid.UUID:
    """The one id of the patch refined for a cluster at a size, on a base oracle."""
    return uuid.uuid5(PATCH_NAMESPACE, f"{cluster_id}/{size}/{base_digest}")


def release_id_for(patch_id: uuid.UUID) -> uuid.UUID:
    """The one release id of a patch: staging it again is recognised."""
    return uuid.uuid5(patch_id, "release")


EMITTED_NAMESPACE = uuid.UUID("c2f4a9d6-5b1e-4e37-9a08-3d7b6c1e2f15")


def emitted_event_id(source: uuid.UUID | str, kind: str) -> uuid.UUID:
    """The event id of what a role emits for one input: ``uuid5`` of the input's id (an event id,
    a proposal id, a record position) and the kind of output, so a re-send carries the same id."""
    return uuid.uuid5(EMITTED_NAMESPACE, f"{kind}/{source}")
