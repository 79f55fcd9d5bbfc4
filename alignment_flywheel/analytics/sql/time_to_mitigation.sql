-- Time to mitigation per patch: from the earliest evidence it answers (an incident, a finding,
-- or the first sighting of a cluster it names) to the moment its release reached STABLE.
-- Patches not (yet) stable have a NULL stable_at and seconds_to_mitigation (the report shows it in
-- s, min, h or d, whichever a person reads).
WITH
    proposed AS (
        SELECT
            patch_id,
            min(occurred_at) AS proposed_at,
            any(target_version) AS target_version,
            any(incident_ids) AS incident_ids,
            any(finding_ids) AS finding_ids,
            any(cluster_ids) AS cluster_ids
        FROM flywheel.patches FINAL
        WHERE event_type = 'PatchProposed'
        GROUP BY patch_id
    ),
    evidence AS (
        SELECT patch_id, min(seen) AS first_evidence_at
        FROM
        (
            SELECT p.patch_id AS patch_id, i.occurred_at AS seen
            FROM (SELECT patch_id, arrayJoin(incident_ids) AS id FROM proposed) AS p
            INNER JOIN flywheel.incidents AS i ON i.incident_id = p.id
            UNION ALL
            SELECT p.patch_id, f.occurred_at
            FROM (SELECT patch_id, arrayJoin(finding_ids) AS id FROM proposed) AS p
            INNER JOIN flywheel.findings AS f ON f.finding_id = p.id
            UNION ALL
            SELECT p.patch_id, c.first_seen
            FROM (SELECT patch_id, arrayJoin(cluster_ids) AS id FROM proposed) AS p
            INNER JOIN flywheel.clusters AS c ON c.cluster_id = p.id
        )
        GROUP BY patch_id
    ),
    staged AS (
        SELECT release_id, any(patch_id) AS patch_id
        FROM flywheel.releases FINAL
        WHERE event_type = 'ReleaseStaged'
        GROUP BY release_id
    ),
    stable AS (
        SELECT s.patch_id AS patch_id, min(r.occurred_at) AS stable_at
        FROM flywheel.releases AS r FINAL
        INNER JOIN staged AS s ON s.release_id = r.release_id
        WHERE r.stage = 'STABLE' AND r.event_type IN ('ReleaseStaged', 'ReleasePromoted')
        GROUP BY patch_id
    )
SELECT
    toString(p.patch_id) AS patch_id,
    p.target_version AS target_version,
    if(e.patch_id = p.patch_id, e.first_evidence_at, p.proposed_at) AS first_evidence_at,
    p.proposed_at AS proposed_at,
    if(s.patch_id = p.patch_id, s.stable_at, NULL) AS stable_at,
    if(
        s.patch_id = p.patch_id,
        dateDiff('second', first_evidence_at, s.stable_at),
        NULL
    ) AS seconds_to_mitigation
FROM proposed AS p
LEFT JOIN evidence AS e ON e.patch_id = p.patch_id
LEFT JOIN stable AS s ON s.patch_id = p.patch_id
ORDER BY proposed_at
