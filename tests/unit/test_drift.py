"""The drift watch: rate drift on one tool is detected, a stable stream is not; novelties."""

from __future__ import annotations

import random
from typing import Any

from alignment_flywheel.events import Decision, FindingSource
from alignment_flywheel.governance.drift import (
    Detection,
    DriftWatch,
    drift_event,
    drift_findings,
    drift_id_for,
)
from tests.support.governance import verdict
from tests.support.oracles import proposal


def traffic(watch: DriftWatch, n: int, rates: dict[str, float], seed: int) -> list[Detection]:
    """``n`` rounds of one proposal per tool, blocked with the tool's rate."""
    rng = random.Random(seed)
    found: list[Detection] = []
    for _ in range(n):
        for tool, rate in rates.items():
            found += observe(watch, tool, {"cmd": "ls"}, blocked=rng.random() < rate)
    return found


def observe(
    watch: DriftWatch, tool: str, arguments: dict[str, Any], *, blocked: bool = False
) -> list[Detection]:
    call = proposal(tool, arguments)
    decision = Decision.BLOCK if blocked else Decision.ALLOW
    return watch.observe(call, verdict(call, decision, score=0.2 if blocked else 0.9))


def test_a_stable_stream_raises_no_change_detection() -> None:
    watch = DriftWatch()
    found = traffic(watch, 1500, {"fs.read": 0.05, "shell.exec": 0.1}, seed=7)
    assert [d for d in found if d.detector != "novelty"] == []


def test_a_drift_of_block_rate_on_one_tool_is_detected_on_that_tool_only() -> None:
    watch = DriftWatch()
    before = traffic(watch, 600, {"fs.read": 0.05, "shell.exec": 0.05}, seed=1)
    after = traffic(watch, 300, {"fs.read": 0.05, "shell.exec": 0.7}, seed=2)
    assert [d for d in before if d.detector != "novelty"] == []
    by_tool = {(d.subject, d.metric) for d in after if d.dimension == "tool"}
    assert ("shell.exec", "block_rate") in by_tool
    assert ("shell.exec", "intervention_rate") in by_tool  # Page-Hinkley agrees
    assert not any(subject == "fs.read" for subject, _ in by_tool)
    block = next(d for d in after if (d.subject, d.metric) == ("shell.exec", "block_rate"))
    assert block.value > block.baseline
    assert block.baseline < 0.2
    assert block.drift_id == drift_id_for("tool", "shell.exec", "block_rate", block.trigger)


def test_a_new_tool_a_new_key_and_a_new_value_shape_are_novelties_reported_once() -> None:
    watch = DriftWatch(warmup=40, tool_warmup=10)
    for i in range(40):
        assert observe(watch, "fs.read", {"path": f"/srv/{i}"}) == []
    (tool,) = observe(watch, "db.drop", {"table": "users"})
    assert (tool.metric, tool.subject, tool.dimension) == ("new_tool", "db.drop", "tool")
    assert observe(watch, "db.drop", {"table": "orders"}) == []
    (key,) = observe(watch, "fs.read", {"path": "/srv/x", "recursive": True})
    assert key.metric == "new_argument_key"
    assert key.evidence["features"] == "key=recursive"
    (shape,) = observe(watch, "fs.read", {"path": 42})
    assert shape.metric == "new_value_shape"
    assert "path.type=int" in shape.evidence["features"]
    assert observe(watch, "fs.read", {"path": 43}) == []


def test_nothing_is_novel_during_the_warmup() -> None:
    watch = DriftWatch(warmup=100, tool_warmup=10)
    assert observe(watch, "fs.read", {"path": "/a"}) == []
    assert observe(watch, "db.drop", {"table": "users"}) == []


def test_drifted_traffic_is_sampled_into_bounded_findings_with_derived_ids() -> None:
    watch = DriftWatch(warmup=0, tool_warmup=0, samples_per_detection=3)
    for i in range(5):
        observe(watch, "fs.read", {"path": f"/srv/{i}"})
    call = proposal("db.drop", {"table": "users"})
    issued = verdict(call, Decision.ALLOW)
    (detection,) = watch.observe(call, issued)
    samples = watch.samples(detection, (call, issued))
    assert samples[0] == (call, issued)
    findings = drift_findings(detection, samples, "drift")
    again = drift_findings(detection, samples, "drift")
    assert [f.finding_id for f in findings] == [f.finding_id for f in again]
    assert all(f.source is FindingSource.DRIFT for f in findings)
    assert len(findings) <= 3
    event = drift_event(detection, "drift")
    assert event.envelope.event_id == event.drift_id == detection.drift_id
    assert event.envelope.key == "db.drop"
