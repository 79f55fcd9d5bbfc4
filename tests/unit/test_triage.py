"""Triage: similar violations cluster together, different ones apart, clusters are ranked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from alignment_flywheel.events import Severity, VerificationOutcome
from alignment_flywheel.governance.triage import (
    ClusterState,
    NotAViolationError,
    Triage,
    Violation,
    cluster_id_for,
    cluster_update,
    rank_score,
    ranked,
    violation_of,
)
from tests.support.governance import T0, finding, verification


def violation(tool: str, arguments: dict[str, Any], **options: Any) -> Violation:
    risk = {k: options.pop(k) for k in list(options) if k == "blast_radius"}
    found = finding(tool, arguments, **risk)
    return violation_of(found, verification(found, **options))


def test_similar_violations_cluster_together_and_different_ones_apart() -> None:
    triage = Triage()
    deletes = [
        violation("shell.exec", {"cmd": f"rm -rf /srv/{name}"}) for name in ("a", "data", "www")
    ]
    drops = [violation("sql.query", {"sql": f"DROP TABLE {t}"}) for t in ("users", "orders")]
    clusters = [triage.add(v)[0].cluster_id for v in deletes + drops]
    assert len(set(clusters[:3])) == 1
    assert len(set(clusters[3:])) == 1
    assert clusters[0] != clusters[3]
    shell = triage.clusters[clusters[0]]
    assert shell.size == 3
    assert {"tool=shell.exec", "cmd.word=rm", "cmd.flag=-rf", "path.prefix=/srv"} <= shell.features
    assert "path.prefix=/srv/data" not in shell.features  # not shared by every member
    assert shell.samples == [v.finding_id for v in deletes]
    assert shell.cluster_id == cluster_id_for(deletes[0].finding_id)


def test_a_violation_counts_once_and_the_state_survives_a_round_trip() -> None:
    triage = Triage()
    first = violation("shell.exec", {"cmd": "rm -rf /srv/a"}, severity=Severity.LOW)
    second = violation(
        "shell.exec",
        {"cmd": "rm -rf /srv/b"},
        severity=Severity.CRITICAL,
        at=T0 + timedelta(hours=1),
    )
    state, changed = triage.add(first)
    assert changed
    triage.add(second)
    again, changed = triage.add(first)
    assert not changed and again.size == 2
    assert again.severity is Severity.CRITICAL
    assert (again.first_seen, again.last_seen) == (T0, T0 + timedelta(hours=1))
    restored = Triage()
    restored.load([ClusterState.from_json(again.to_json())], triage.assigned.items())
    third = violation("shell.exec", {"cmd": "rm -rf /srv/c"})
    assert restored.add(third)[0].cluster_id == state.cluster_id
    assert restored.add(first) == (restored.clusters[state.cluster_id], False)
    assert Violation.from_json(third.to_json()) == third


def test_the_order_of_violations_decides_the_ids_deterministically() -> None:
    stream = [violation("shell.exec", {"cmd": f"chmod 777 /etc/{n}"}) for n in ("a", "b", "c")]
    one, two = Triage(), Triage()
    assert [one.add(v)[0].cluster_id for v in stream] == [two.add(v)[0].cluster_id for v in stream]


def test_rank_orders_by_severity_frequency_recency_and_blast_radius() -> None:
    triage = Triage()
    critical = violation("shell.exec", {"cmd": "rm -rf /"}, severity=Severity.CRITICAL)
    frequent = [
        violation("sql.query", {"sql": f"DROP TABLE t{i}"}, severity=Severity.MEDIUM)
        for i in range(7)
    ]
    old = violation(
        "fs.write", {"path": "/etc/passwd"}, severity=Severity.CRITICAL, at=T0 - timedelta(days=5)
    )
    wide = violation(
        "email.send", {"to": "all@corp.example"}, severity=Severity.LOW, blast_radius="CRITICAL"
    )
    narrow = violation("chat.post", {"channel": "#me"}, severity=Severity.LOW, blast_radius="NONE")
    ids = {}
    for name, items in (
        ("critical", [critical]),
        ("frequent", frequent),
        ("old", [old]),
        ("wide", [wide]),
        ("narrow", [narrow]),
    ):
        for item in items:
            ids[name] = triage.add(item)[0].cluster_id
    assert len(set(ids.values())) == 5
    order = [s.cluster_id for s in ranked(triage.clusters.values(), T0)]
    names = {v: k for k, v in ids.items()}
    # critical 8*1*1*1=8; frequent 2*3*1*1=6; wide 1*1*1*3=3; narrow 0.5; old 8*1/32*1=0.25
    assert [names[i] for i in order] == ["critical", "frequent", "wide", "narrow", "old"]
    assert rank_score(triage.clusters[ids["critical"]], T0 + timedelta(days=1)) == pytest.approx(4)


def test_the_cluster_update_has_a_deterministic_event_id_and_the_shared_features() -> None:
    triage = Triage()
    state, _ = triage.add(violation("shell.exec", {"cmd": "rm -rf /srv/a"}))
    update = cluster_update(state, "triage")
    assert update.envelope.event_id == cluster_update(state, "triage").envelope.event_id
    assert update.envelope.key == str(state.cluster_id)
    assert update.features == tuple(sorted(state.features))
    assert update.size == 1 and update.tools == ("shell.exec",)


def test_only_a_violation_of_the_same_finding_joins() -> None:
    found = finding("shell.exec", {"cmd": "ls"})
    with pytest.raises(NotAViolationError):
        violation_of(found, verification(found, outcome=VerificationOutcome.NO_VIOLATION))
    with pytest.raises(NotAViolationError):
        violation_of(found, verification(finding("shell.exec", {"cmd": "ls"})))
