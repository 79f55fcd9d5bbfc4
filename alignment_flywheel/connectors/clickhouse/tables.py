"""The event tables of ``infra/clickhouse/003_event_tables.sql`` and the columns the sink writes.

Every table starts with :data:`HEAD`: the envelope (event id, time, producer, trace) and the
position of the Kafka record (topic, partition, offset). The rest of the columns (``body``) follow
the DDL, in order; the row makers of :mod:`.rows` produce values in exactly that order.
"""

from __future__ import annotations

from dataclasses import dataclass

HEAD = (
    "event_id",
    "occurred_at",
    "producer",
    "trace_id",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
)


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A table of the ``flywheel`` database and the columns the sink writes, in order."""

    name: str
    body: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"flywheel.{self.name}"

    @property
    def columns(self) -> tuple[str, ...]:
        return HEAD + self.body


def _columns(names: str) -> tuple[str, ...]:
    return tuple(names.split())


PROPOSALS = TableSpec(
    "proposals",
    (
        "proposal_id",
        "proposer_id",
        "session_id",
        "tool",
        "arguments",
        "reasoning",
        "parent_proposal_id",
        "origin",
        "proposer_confidence",
        "blast_radius",
        "environment",
    ),
)
VERDICTS = TableSpec(
    "verdicts",
    (
        "decision_id",
        "proposal_id",
        "proposer_id",
        "session_id",
        "tool",
        "decision",
        "enforced",
        "stage",
        "oracle_version",
        "oracle_digest",
        "policy_version",
        "tier",
        "safety_score",
        "uncertainty",
        "reasons",
        "rule_ids",
        "amendment",
        "error",
        "latency_us",
    ),
)
REVIEWS = TableSpec(
    "reviews",
    _columns(
        "event_type review_id proposal_id decision_id reason deadline outcome reviewer automatic"
    ),
)
INCIDENTS = TableSpec(
    "incidents",
    _columns("incident_id proposal_id kind severity description reporter tool proposer_id"),
)
FINDINGS = TableSpec(
    "findings",
    _columns(
        "finding_id source proposal_id proposer_id tool oracle_version oracle_decision "
        "description seed parent_finding_id"
    ),
)
VERIFICATIONS = TableSpec(
    "verifications",
    _columns("verification_id finding_id outcome norms_version norm_ids severity rationale"),
)
DRIFT = TableSpec(
    "drift",
    _columns("drift_id detector dimension subject metric value baseline evidence"),
)
CLUSTERS = TableSpec(
    "clusters",
    _columns(
        "cluster_id signature features size sample_finding_ids tools severity rank_score "
        "first_seen last_seen status"
    ),
)
PATCHES = TableSpec(
    "patches",
    _columns(
        "event_type patch_id actor base_version target_version target_digest rationale "
        "cluster_ids finding_ids incident_ids regression_passed false_positive_rate role "
        "automatic rejection_reason security"
    ),
)
RELEASES = TableSpec(
    "releases",
    _columns(
        "event_type release_id patch_id version digest stage from_stage canary_fraction "
        "restored_version reason metrics automatic actor"
    ),
)
CHECKPOINTS = TableSpec(
    "checkpoints",
    _columns("log_id tree_size root_hash first_offset last_offset key_id signature"),
)

TABLES: tuple[TableSpec, ...] = (
    PROPOSALS,
    VERDICTS,
    REVIEWS,
    INCIDENTS,
    FINDINGS,
    VERIFICATIONS,
    DRIFT,
    CLUSTERS,
    PATCHES,
    RELEASES,
    CHECKPOINTS,
)
