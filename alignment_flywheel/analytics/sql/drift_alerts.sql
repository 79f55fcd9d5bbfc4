-- The latest drift alerts (DriftDetected), newest first, with how far the value moved from its
-- baseline (relative change; NULL when the baseline is 0).
SELECT
    occurred_at,
    detector,
    dimension,
    subject,
    metric,
    value,
    baseline,
    if(baseline != 0, (value - baseline) / abs(baseline), NULL) AS relative_change
FROM flywheel.drift FINAL
ORDER BY occurred_at DESC
LIMIT 200
