-- Block, escalate and revise rates of enforced verdicts, per time bucket, for each proposer,
-- each tool and each oracle version (shadow verdicts are left out: they decided nothing).
-- The bucket width follows the data's time span (at most 120 buckets: 1 s for two minutes of data,
-- 15 min for a day, 1 day for a month; alignment_flywheel/analytics/units.py names the steps);
-- bucket_s is that width in seconds.
-- One row per (bucket, dimension, subject); dimension is 'proposer', 'tool' or 'oracle_version'.
WITH
    (
        SELECT dateDiff('second', min(occurred_at), max(occurred_at))
        FROM flywheel.verdicts
        WHERE enforced
    ) AS span_s,
    multiIf(
        span_s <= 120, 1, span_s <= 600, 5, span_s <= 1200, 10, span_s <= 3600, 30,
        span_s <= 7200, 60, span_s <= 36000, 300, span_s <= 108000, 900,
        span_s <= 432000, 3600, span_s <= 2592000, 21600, span_s <= 10368000, 86400, 604800
    ) AS bucket_s
SELECT
    toDateTime(intDiv(toUnixTimestamp(occurred_at), bucket_s) * bucket_s, 'UTC') AS bucket,
    bucket_s,
    dim.1 AS dimension,
    dim.2 AS subject,
    count() AS verdicts,
    countIf(decision = 'BLOCK') / count() AS block_rate,
    countIf(decision = 'ESCALATE') / count() AS escalate_rate,
    countIf(decision = 'REVISE') / count() AS revise_rate
FROM flywheel.verdicts FINAL
ARRAY JOIN [
    ('proposer', toString(proposer_id)),
    ('tool', toString(tool)),
    ('oracle_version', toString(oracle_version))
] AS dim
WHERE enforced
GROUP BY bucket, bucket_s, dimension, subject
ORDER BY bucket, dimension, subject
