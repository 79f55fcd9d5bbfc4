-- The top failure clusters: the latest state of each cluster (its newest ClusterUpdated),
-- open ones first, then by rank score.
SELECT
    toString(cluster_id) AS cluster_id,
    argMax(signature, occurred_at) AS signature,
    argMax(size, occurred_at) AS size,
    argMax(severity, occurred_at) AS severity,
    argMax(rank_score, occurred_at) AS rank_score,
    argMax(status, occurred_at) AS status,
    argMax(tools, occurred_at) AS tools,
    min(first_seen) AS first_seen,
    max(last_seen) AS last_seen
FROM flywheel.clusters FINAL
GROUP BY cluster_id
ORDER BY status = 'OPEN' DESC, rank_score DESC
LIMIT 20
