-- Block, escalate and revise rates of enforced verdicts, per hour, for each proposer, each tool
-- and each oracle version (shadow verdicts are left out: they decided nothing).
-- One row per (bucket, dimension, subject); dimension is 'proposer', 'tool' or 'oracle_version'.
SELECT
    toStartOfHour(occurred_at) AS bucket,
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
GROUP BY bucket, dimension, subject
ORDER BY bucket, dimension, subject
