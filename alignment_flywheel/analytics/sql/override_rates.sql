-- Per day: how often a human reviewer overrode the hold on an escalated proposal (approved it),
-- and how often a block was reported as a false positive.
--   override_rate       = human APPROVE decisions / human review decisions
--   false_positive_rate = FALSE_POSITIVE incidents / enforced BLOCK verdicts
WITH
    reviews AS (
        SELECT
            toStartOfDay(occurred_at) AS day,
            count() AS human_reviews,
            countIf(outcome = 'APPROVE') AS overrides
        FROM flywheel.reviews FINAL
        WHERE event_type = 'ReviewDecided' AND NOT automatic
        GROUP BY day
    ),
    blocks AS (
        SELECT toStartOfDay(occurred_at) AS day, count() AS blocks
        FROM flywheel.verdicts FINAL
        WHERE enforced AND decision = 'BLOCK'
        GROUP BY day
    ),
    false_positives AS (
        SELECT toStartOfDay(occurred_at) AS day, count() AS false_positives
        FROM flywheel.incidents FINAL
        WHERE kind = 'FALSE_POSITIVE'
        GROUP BY day
    ),
    days AS (
        SELECT day FROM reviews
        UNION DISTINCT SELECT day FROM blocks
        UNION DISTINCT SELECT day FROM false_positives
    )
SELECT
    d.day AS day,
    r.human_reviews AS human_reviews,
    r.overrides AS overrides,
    if(r.human_reviews > 0, r.overrides / r.human_reviews, NULL) AS override_rate,
    b.blocks AS blocks,
    f.false_positives AS false_positives,
    if(b.blocks > 0, f.false_positives / b.blocks, NULL) AS false_positive_rate
FROM days AS d
LEFT JOIN reviews AS r ON r.day = d.day
LEFT JOIN blocks AS b ON b.day = d.day
LEFT JOIN false_positives AS f ON f.day = d.day
ORDER BY day
SETTINGS join_use_nulls = 0
