"""Events to table rows: which table each event type goes to and the row it becomes.

Rules:

* Rows are built from decoded Avro records (``EventCodec.decode_record``), not from models: the
  schema has already checked every type, and skipping pydantic keeps the sink fast.
* Every row starts with the envelope and the Kafka position (``tables.HEAD``); the rest follows the
  table's ``body`` columns (:mod:`.tables`), in order.
* An event type with no table (trust roots, dead letters, types added later) is not an error: the
  sink passes over it and records the progress.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from alignment_flywheel.connectors.clickhouse.tables import (
    CHECKPOINTS,
    CLUSTERS,
    DRIFT,
    FINDINGS,
    INCIDENTS,
    PATCHES,
    PROPOSALS,
    RELEASES,
    REVIEWS,
    TABLES,
    VERDICTS,
    VERIFICATIONS,
    TableSpec,
)

Record = dict[str, Any]
Row = tuple[Any, ...]
RowMaker = Callable[[Record], Row]


def _proposal(p: Record) -> Row:
    risk = p["risk"]
    return (
        p["proposal_id"],
        p["proposer_id"],
        p["session_id"],
        p["tool"],
        p["arguments"],
        p["reasoning"],
        p["parent_proposal_id"],
        risk["origin"],
        risk["proposer_confidence"],
        risk["blast_radius"],
        risk["environment"],
    )


def _proposal_submitted(r: Record) -> Row:
    return _proposal(r["proposal"])


def _verdict(r: Record) -> Row:
    rule_ids = [e["rule_id"] for e in r["evidence"] if e["rule_id"]]
    return (
        r["decision_id"],
        r["proposal_id"],
        r["proposer_id"],
        r["session_id"],
        r["tool"],
        r["decision"],
        r["enforced"],
        r["stage"],
        r["oracle_version"],
        r["oracle_digest"],
        r["policy_version"],
        r["tier"],
        r["safety_score"],
        r["uncertainty"],
        r["reasons"],
        rule_ids,
        r["amendment"],
        r["error"],
        r["latency_us"],
    )


def _review_requested(r: Record) -> Row:
    return (
        "ReviewRequested",
        r["review_id"],
        r["proposal_id"],
        r["decision_id"],
        r["reason"],
        r["deadline"],
        None,
        None,
        False,
    )


def _review_decided(r: Record) -> Row:
    return (
        "ReviewDecided",
        r["review_id"],
        r["proposal_id"],
        None,
        r["reason"],
        None,
        r["outcome"],
        r["reviewer"],
        r["automatic"],
    )


def _incident(r: Record) -> Row:
    proposal = r["proposal"]
    return (
        r["incident_id"],
        r["proposal_id"],
        r["kind"],
        r["severity"],
        r["description"],
        r["reporter"],
        None if proposal is None else proposal["tool"],
        None if proposal is None else proposal["proposer_id"],
    )


def _finding(r: Record) -> Row:
    proposal = r["proposal"]
    return (
        r["finding_id"],
        r["source"],
        proposal["proposal_id"],
        proposal["proposer_id"],
        proposal["tool"],
        r["oracle_version"],
        r["oracle_decision"],
        r["description"],
        r["seed"],
        r["parent_finding_id"],
    )


def _verification(r: Record) -> Row:
    return (
        r["verification_id"],
        r["finding_id"],
        r["outcome"],
        r["norms_version"],
        r["norm_ids"],
        r["severity"],
        r["rationale"],
    )


def _drift(r: Record) -> Row:
    return (
        r["drift_id"],
        r["detector"],
        r["dimension"],
        r["subject"],
        r["metric"],
        r["value"],
        r["baseline"],
        r["evidence"],
    )


def _cluster(r: Record) -> Row:
    return (
        r["cluster_id"],
        r["signature"],
        r["features"],
        r["size"],
        r["sample_finding_ids"],
        r["tools"],
        r["severity"],
        r["rank_score"],
        r["first_seen"],
        r["last_seen"],
        r["status"],
    )


def _patch_proposed(r: Record) -> Row:
    regression = r["regression"]
    return (
        "PatchProposed",
        r["patch_id"],
        r["author"],
        r["base_version"],
        r["target_version"],
        r["target_digest"],
        r["rationale"],
        r["cluster_ids"],
        r["finding_ids"],
        r["incident_ids"],
        None if regression is None else regression["passed"],
        None if regression is None else regression["false_positive_rate"],
        None,
        False,
        None,
        None,
    )


def _patch_approved(r: Record) -> Row:
    return (
        "PatchApproved",
        r["patch_id"],
        r["key_id"],
        None,
        None,
        None,
        "",
        [],
        [],
        [],
        None,
        None,
        r["role"],
        r["automatic"],
        None,
        None,
    )


def _patch_rejected(r: Record) -> Row:
    return (
        "PatchRejected",
        r["patch_id"],
        r["rejected_by"],
        None,
        None,
        None,
        r["detail"],
        [],
        [],
        [],
        None,
        None,
        None,
        False,
        r["reason"],
        r["security"],
    )


def _release_staged(r: Record) -> Row:
    return (
        "ReleaseStaged",
        r["release_id"],
        r["patch_id"],
        r["version"],
        r["digest"],
        r["stage"],
        None,
        r["canary_fraction"],
        None,
        r["rollout_policy"],
        {},
        False,
        r["envelope"]["producer"],
    )


def _release_promoted(r: Record) -> Row:
    return (
        "ReleasePromoted",
        r["release_id"],
        None,
        r["version"],
        r["digest"],
        r["to_stage"],
        r["from_stage"],
        None,
        None,
        "",
        r["metrics"],
        r["automatic"],
        r["actor"],
    )


def _release_rolled_back(r: Record) -> Row:
    return (
        "ReleaseRolledBack",
        r["release_id"],
        None,
        r["version"],
        r["digest"],
        "ROLLED_BACK",
        r["from_stage"],
        None,
        r["restored_version"],
        r["reason"],
        r["metrics"],
        r["automatic"],
        r["envelope"]["producer"],
    )


def _checkpoint(r: Record) -> Row:
    return (
        r["log_id"],
        r["tree_size"],
        r["root_hash"],
        r["first_offset"],
        r["last_offset"],
        r["key_id"],
        r["signature"],
    )


ROUTES: dict[str, tuple[TableSpec, RowMaker]] = {
    "ProposalSubmitted": (PROPOSALS, _proposal_submitted),
    "VerdictIssued": (VERDICTS, _verdict),
    "ReviewRequested": (REVIEWS, _review_requested),
    "ReviewDecided": (REVIEWS, _review_decided),
    "IncidentReported": (INCIDENTS, _incident),
    "FindingRaised": (FINDINGS, _finding),
    "VerificationRecorded": (VERIFICATIONS, _verification),
    "DriftDetected": (DRIFT, _drift),
    "ClusterUpdated": (CLUSTERS, _cluster),
    "PatchProposed": (PATCHES, _patch_proposed),
    "PatchApproved": (PATCHES, _patch_approved),
    "PatchRejected": (PATCHES, _patch_rejected),
    "ReleaseStaged": (RELEASES, _release_staged),
    "ReleasePromoted": (RELEASES, _release_promoted),
    "ReleaseRolledBack": (RELEASES, _release_rolled_back),
    "LedgerCheckpoint": (CHECKPOINTS, _checkpoint),
}
"""Event short name → (table, row maker). Event types not listed are passed over."""


def to_row(
    event_type: str, record: Record, topic: str, partition: int, offset: int
) -> tuple[TableSpec, Row] | None:
    """The table and row for one decoded record, or None if its type has no table."""
    route = ROUTES.get(event_type)
    if route is None:
        return None
    table, make = route
    envelope = record["envelope"]
    head = (
        envelope["event_id"],
        envelope["occurred_at"],
        envelope["producer"],
        envelope["trace_id"],
        topic,
        partition,
        offset,
    )
    return table, head + make(record)


def routed_event_types(tables: Sequence[TableSpec] = TABLES) -> list[str]:
    """The event types whose rows go to one of ``tables``."""
    names = {t.name for t in tables}
    return [event for event, (table, _make) in ROUTES.items() if table.name in names]
