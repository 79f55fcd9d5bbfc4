-- Records that could not be processed (DeadLettered events from flywheel.deadletter).
-- At-least-once delivery may copy a dead letter twice: rows are deduplicated on the position of
-- the original record (source topic, partition, offset) by ReplacingMergeTree.

CREATE TABLE IF NOT EXISTS flywheel.dead_letters
(
    event_id         UUID,
    occurred_at      DateTime64(6, 'UTC'),
    producer         LowCardinality(String),
    trace_id         String,
    source_topic     LowCardinality(String),
    source_partition Int32,
    source_offset    Int64,
    original_key     Nullable(String) COMMENT 'raw bytes',
    original_value   Nullable(String) COMMENT 'raw bytes',
    reason           String,
    error_type       LowCardinality(String),
    consumer_group   Nullable(String),
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (source_topic, source_partition, source_offset);
