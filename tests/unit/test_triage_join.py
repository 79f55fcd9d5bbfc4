"""Triage's join without a broker: the pending table's answers to each order of the halves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import load_settings
from alignment_flywheel.events import (
    Event,
    FindingRaised,
    VerificationOutcome,
    VerificationRecorded,
)
from alignment_flywheel.processors.triage import TriageWorker, build_triage
from tests.support.governance import finding, verification

INCONCLUSIVE, VIOLATION, NO_VIOLATION = (
    VerificationOutcome.INCONCLUSIVE,
    VerificationOutcome.VIOLATION,
    VerificationOutcome.NO_VIOLATION,
)


@dataclass
class _Message:
    value: bytes


@dataclass
class _Record:
    message: _Message


class _Stream:
    def __init__(self, codec: EventCodec, event: Event) -> None:
        self._record = _Record(_Message(codec.encode(event)))

    async def events(self) -> AsyncIterator[_Record]:
        yield self._record


def _worker(tmp_path: Path) -> tuple[TriageWorker, list[FindingRaised]]:
    settings = load_settings(state_dir=tmp_path, bootstrap_servers="127.0.0.1:1")
    worker = build_triage(settings, app_id="join-test")
    worker.pending = {}
    joined: list[FindingRaised] = []

    async def record(found: FindingRaised, verified: VerificationRecorded) -> None:
        assert verified.outcome is VIOLATION
        joined.append(found)

    worker._joined = record  # type: ignore[method-assign, assignment]
    return worker, joined


def _run(worker: TriageWorker, events: list[Event]) -> None:
    codec = worker.shell.codec

    async def feed() -> None:
        for event in events:
            agent = "findings" if isinstance(event, FindingRaised) else "verifications"
            await worker.app.agents[agent].fun(_Stream(codec, event))

    asyncio.run(feed())


@pytest.mark.parametrize(
    "order",
    [
        "finding, inconclusive, violation",
        "inconclusive, finding, violation",
        "inconclusive, violation, finding",
        "finding, violation",
        "violation, finding",
    ],
)
def test_a_violation_after_an_inconclusive_verification_still_joins(
    tmp_path: Path, order: str
) -> None:
    worker, joined = _worker(tmp_path)
    found = finding("workspace.send_email", {"to": "x@outside.example"})
    halves: dict[str, Event] = {
        "finding": found,
        "inconclusive": verification(found, outcome=INCONCLUSIVE),
        "violation": verification(found, outcome=VIOLATION),
    }
    _run(worker, [halves[name] for name in order.split(", ")])
    assert joined == [found]
    assert worker.pending == {}


@pytest.mark.parametrize("first", ["finding", "inconclusive"])
def test_an_inconclusive_finding_waits_and_an_approval_drops_it(tmp_path: Path, first: str) -> None:
    worker, joined = _worker(tmp_path)
    found = finding("workspace.send_email", {"to": "x@outside.example"})
    inconclusive = verification(found, outcome=INCONCLUSIVE)
    _run(worker, [found, inconclusive] if first == "finding" else [inconclusive, found])
    assert set(worker.pending) == {str(found.finding_id)}
    _run(worker, [verification(found, outcome=NO_VIOLATION)])
    assert joined == [] and worker.pending == {}
