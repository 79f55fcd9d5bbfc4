-- The analytics database and the ledger of applied migrations.
-- Migrations are the files NNN_name.sql in this folder, applied in order by
-- alignment_flywheel/stack/clickhouse.py; each applied file is recorded in schema_migrations with
-- its checksum, so it never runs twice and must never be edited afterwards: add a new file instead.

CREATE DATABASE IF NOT EXISTS flywheel;

CREATE TABLE IF NOT EXISTS flywheel.schema_migrations
(
    version    UInt32 COMMENT 'NNN of the file name',
    name       String COMMENT 'file name',
    checksum   String COMMENT 'SHA-256 of the file, hex',
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY version;
