-- One table per kind of event, filled from the Kafka topics by `flywheel sink run`
-- (alignment_flywheel/connectors/clickhouse/sink.py), and the sink's progress.
--
-- Every event table starts with the envelope and the position of the Kafka record it came from
-- (kafka_topic, kafka_partition, kafka_offset): the sink resumes from those positions, which is
-- what makes a restart lose and duplicate nothing (the argument is in the sink's docstring).
-- ReplacingMergeTree keyed by (occurred_at, event_id) also collapses an event a producer sent
-- twice; read with FINAL when exact counts matter. The tables are not partitioned on purpose: one
-- INSERT must commit a prefix of its rows, which a partitioned table does not promise.

CREATE TABLE IF NOT EXISTS flywheel.proposals
(
    event_id            UUID COMMENT 'envelope.event_id',
    occurred_at         DateTime64(6, 'UTC') COMMENT 'envelope.occurred_at',
    producer            LowCardinality(String),
    trace_id            String,
    kafka_topic         LowCardinality(String) COMMENT 'topic of the source record',
    kafka_partition     Int32,
    kafka_offset        Int64,
    proposal_id         UUID,
    proposer_id         LowCardinality(String),
    session_id          String,
    tool                LowCardinality(String),
    arguments           String COMMENT 'JSON object text',
    reasoning           Nullable(String),
    parent_proposal_id  Nullable(UUID),
    origin              LowCardinality(String) COMMENT 'UNKNOWN, HUMAN or AUTOMATED',
    proposer_confidence Float64,
    blast_radius        LowCardinality(String),
    environment         LowCardinality(String),
    ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (occurred_at, event_id);

CREATE TABLE IF NOT EXISTS flywheel.verdicts
(
    event_id        UUID,
    occurred_at     DateTime64(6, 'UTC'),
    producer        LowCardinality(String),
    trace_id        String,
    kafka_topic     LowCardinality(String),
    kafka_partition Int32,
    kafka_offset    Int64,
    decision_id     UUID,
    proposal_id     UUID,
    proposer_id     LowCardinality(String),
    session_id      String,
    tool            LowCardinality(String),
    decision        LowCardinality(String) COMMENT 'ALLOW, REVISE, BLOCK or ESCALATE',
    enforced        Bool COMMENT 'false for shadow verdicts',
    stage           LowCardinality(String) COMMENT 'STABLE, CANARY or SHADOW',
    oracle_version  Int64,
    oracle_digest   String,
    policy_version  LowCardinality(String),
    tier            LowCardinality(String),
    safety_score    Float64,
    uncertainty     Float64,
    reasons         Array(String),
    rule_ids        Array(String) COMMENT 'rule_id of each evidence item that has one',
    amendment       Nullable(String),
    error           Nullable(String),
    latency_us      UInt64,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (occurred_at, event_id);

CREATE TABLE IF NOT EXISTS flywheel.reviews
(
    event_id        UUID,
    occurred_at     DateTime64(6, 'UTC'),
    producer        LowCardinality(String),
    trace_id        String,
    kafka_topic     LowCardinality(String),
    kafka_partition Int32,
    kafka_offset    Int64,
    event_type      LowCardinality(String) COMMENT 'ReviewRequested or ReviewDecided',
    review_id       UUID,
    proposal_id     UUID,
    decision_id     Nullable(UUID) COMMENT 'requests only',
    reason          String,
    deadline        Nullable(DateTime64(6, 'UTC')) COMMENT 'requests only',
    outcome         Nullable(String) COMMENT 'APPROVE or DENY; decisions only',
    reviewer        Nullable(String) COMMENT 'decisions only',
    automatic       Bool,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (occurred_at, event_id);

CREATE TABLE IF NOT EXISTS flywheel.incidents
(
    event_id        UUID,
    occurred_at     DateTime64(6, 'UTC'),
    producer        LowCardinality(String),
    trace_id        String,
    kafka_topic     LowCardinality(String),
    kafka_partition Int32,
    kafka_offset    Int64,
    incident_id     UUID,
    proposal_id     UUID,
    kind            LowCardinality(String) COMMENT 'HARM or FALSE_POSITIVE',
    severity        LowCardinality(String),
    description     String,
    reporter        String,
    tool            Nullable(String) COMMENT 'from the attached proposal, when there is one',
    proposer_id     Nullable(String),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (occurred_at, event_id);

CREATE TABLE IF NOT EXISTS flywheel.findings
(
    event_id          UUID,
    occurred_at       DateTime64(6, 'UTC'),
    producer          LowCardinality(String),
    trace_id          String,
    kafka_topic       LowCardinality(String),
    kafka_partition   Int32,
    kafka_offset      Int64,
    finding_id        UUID,
    source            LowCardinality(String) COMMENT 'INCIDENT, DRIFT, RED_TEAM, REVIEW, UNKNOWN',
    proposal_id       UUID,
    proposer_id       LowCardinality(String),
    tool              LowCardinality(String),
    oracle_version    Int64,
    oracle_decision   LowCardinality(String),
    description       String,
    seed              Nullable(Int64),
    parent_finding_id Nullable(UUID),
    ingested_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (occurred_at, event_id);

CREATE TABLE IF NOT EXISTS flywheel.verifications
(
    event_id        UUID,
    occurred_at     DateTime64(6, 'UTC'),
    producer        LowCardinality(String),
    trace_id        String,
    kafka_topic     LowCardinality(String),
    kafka_partition Int32,
    kafka_offset    Int64,
    verification_id UUID,
    finding_id      UUID,
    outcome         LowCardinality(String) COMMENT 'VIOLATION, NO_VIOLATION or INCONCLUSIVE',
    norms_version   LowCardinality(String),
    norm_ids        Array(String),
    severity        LowCardinality(String),
    rationale       String,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (occurred_at, event_id);

CREATE TABLE IF NOT EXISTS flywheel.drift
(
    event_id        UUID,
    occurred_at     DateTime64(6, 'UTC'),
    producer        LowCardinality(String),
    trace_id        String,
    kafka_topic     LowCardinality(String),
    kafka_partition Int32,
    kafka_offset    Int64,
    drift_id        UUID,
    detector        LowCardinality(String),
    dimension       LowCardinality(String),
    subject         String,
    metric          LowCardinality(String),
    value           Float64,
    baseline        Float64,
    evidence        Map(String, String),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (occurred_at, event_id);

CREATE TABLE IF NOT EXISTS flywheel.clusters
(
    event_id           UUID,
    occurred_at        DateTime64(6, 'UTC'),
    producer           LowCardinality(String),
    trace_id           String,
    kafka_topic        LowCardinality(String),
    kafka_partition    Int32,
    kafka_offset       Int64,
    cluster_id         UUID COMMENT 'one row per update: the latest row of a cluster is its state',
    signature          String,
    features           Array(String),
    size               UInt64,
    sample_finding_ids Array(UUID),
    tools              Array(String),
    severity           LowCardinality(String),
    rank_score         Float64,
    first_seen         DateTime64(6, 'UTC'),
    last_seen          DateTime64(6, 'UTC'),
    status             LowCardinality(String) COMMENT 'OPEN, PATCHED or SUPPRESSED',
    ingested_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (occurred_at, event_id);

CREATE TABLE IF NOT EXISTS flywheel.patches
(
    event_id            UUID,
    occurred_at         DateTime64(6, 'UTC'),
    producer            LowCardinality(String),
    trace_id            String,
    kafka_topic         LowCardinality(String),
    kafka_partition     Int32,
    kafka_offset        Int64,
    event_type          LowCardinality(String) COMMENT 'PatchProposed, PatchApproved, PatchRejected',
    patch_id            UUID,
    actor               String COMMENT 'author, approving key id or rejecting party',
    base_version        Nullable(Int64) COMMENT 'proposals only',
    target_version      Nullable(Int64) COMMENT 'proposals only',
    target_digest       Nullable(String) COMMENT 'proposals only',
    rationale           String COMMENT 'proposal rationale or rejection detail',
    cluster_ids         Array(UUID),
    finding_ids         Array(UUID),
    incident_ids        Array(UUID),
    regression_passed   Nullable(Bool),
    false_positive_rate Nullable(Float64),
    role                Nullable(String) COMMENT 'approvals only',
    automatic           Bool,
    rejection_reason    Nullable(String) COMMENT 'rejections only',
    security            Nullable(Bool) COMMENT 'rejections only: a security failure',
    ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (occurred_at, event_id);

CREATE TABLE IF NOT EXISTS flywheel.releases
(
    event_id         UUID,
    occurred_at      DateTime64(6, 'UTC'),
    producer         LowCardinality(String),
    trace_id         String,
    kafka_topic      LowCardinality(String),
    kafka_partition  Int32,
    kafka_offset     Int64,
    event_type       LowCardinality(String) COMMENT 'ReleaseStaged, ReleasePromoted, ReleaseRolledBack',
    release_id       UUID,
    patch_id         Nullable(UUID) COMMENT 'staging only',
    version          Int64,
    digest           String,
    stage            LowCardinality(String) COMMENT 'the stage entered (staged, promoted to)',
    from_stage       Nullable(String),
    canary_fraction  Nullable(Float64),
    restored_version Nullable(Int64) COMMENT 'rollbacks only',
    reason           String,
    metrics          Map(String, Float64),
    automatic        Bool,
    actor            String,
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (occurred_at, event_id);

CREATE TABLE IF NOT EXISTS flywheel.checkpoints
(
    event_id        UUID,
    occurred_at     DateTime64(6, 'UTC'),
    producer        LowCardinality(String),
    trace_id        String,
    kafka_topic     LowCardinality(String),
    kafka_partition Int32,
    kafka_offset    Int64,
    log_id          LowCardinality(String),
    tree_size       UInt64,
    root_hash       String,
    first_offset    UInt64,
    last_offset     UInt64,
    key_id          LowCardinality(String),
    signature       String COMMENT 'raw Ed25519 signature bytes',
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (occurred_at, event_id);

-- Where each sink has got to: the next offset to read per partition, written after every batch
-- is stored. Rows only grow; read max(next_offset).
CREATE TABLE IF NOT EXISTS flywheel.sink_offsets
(
    sink            LowCardinality(String) COMMENT 'sink name (flywheel sink run --name)',
    topic           LowCardinality(String),
    partition       Int32,
    next_offset     Int64 COMMENT 'every record before this offset is stored or was passed over',
    updated_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(next_offset)
ORDER BY (sink, topic, partition);
