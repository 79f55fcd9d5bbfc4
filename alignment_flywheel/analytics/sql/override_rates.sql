-- Per time bucket: how often a human reviewer overrode the hold on an escalated proposal
-- (approved it), and how often a block was reported as a false positive.
-- The bucket width follows the data's time span like decision_rates.sql (at most 120 buckets);
-- bucket_s is that width in seconds.
--   override_rate       = human APPROVE decisions / human review decisions
--   false_positive_rate = FALSE_POSITIVE incidents / enforced BLOCK verdicts
WITH
    (
        SELECT dateDiff('second', min(t), max(t))
        FROM
        (
            SELECT occurred_at AS t FROM flywheel.reviews WHERE event_type = 'ReviewDecided'
            UNION ALL SELECT occurred_at FROM flywheel.verdicts WHERE enforced
            UNION ALL SELECT occurred_at FROM flywheel.incidents
        )
    ) AS span_s,
    multiIf(
        span_s <= 120, 1, span_s <= 600, 5, span_s <= 1200, 10, span_s <= 3600, 30,
        span_s <= 7200, 60, span_s <= 36000, 300, span_s <= 108000, 900,
        span_s <= 432000, 3600, span_s <= 2592000, 21600, span_s <= 10368000, 86400, 604800
    ) AS bucket_s,
    reviews AS (
        SELECT
            toDateTime(intDiv(toUnixTimestamp(occurred_at), bucket_s) * bucket_s, 'UTC') AS bucket,
            count() AS human_reviews,
            countIf(outcome = 'APPROVE') AS overrides
        FROM flywheel.reviews FINAL
        WHERE event_type = 'ReviewDecided' AND NOT automatic
        GROUP BY bucket
    ),
    blocks AS (
        SELECT
            toDateTime(intDiv(toUnixTimestamp(occurred_at), bucket_s) * bucket_s, 'UTC') AS bucket,
            count() AS blocks
        FROM flywheel.verdicts FINAL
        WHERE enforced AND decision = 'BLOCK'
        GROUP BY bucket
    ),
    false_positives AS (
        SELECT
            toDateTime(intDiv(toUnixTimestamp(occurred_at), bucket_s) * bucket_s, 'UTC') AS bucket,
            count() AS false_positives
        FROM flywheel.incidents FINAL
        WHERE kind = 'FALSE_POSITIVE'
        GROUP BY bucket
    ),
    buckets AS (
        SELECT bucket FROM reviews
        UNION DISTINCT SELECT bucket FROM blocks
        UNION DISTINCT SELECT bucket FROM false_positives
    )
SELECT
    d.bucket AS bucket,
    bucket_s,
    r.human_reviews AS human_reviews,
    r.overrides AS overrides,
    if(r.human_reviews > 0, r.overrides / r.human_reviews, NULL) AS override_rate,
    b.blocks AS blocks,
    f.false_positives AS false_positives,
    if(b.blocks > 0, f.false_positives / b.blocks, NULL) AS false_positive_rate
FROM buckets AS d
LEFT JOIN reviews AS r ON r.bucket = d.bucket
LEFT JOIN blocks AS b ON b.bucket = d.bucket
LEFT JOIN false_positives AS f ON f.bucket = d.bucket
ORDER BY bucket
SETTINGS join_use_nulls = 0
