"""The faust stream policy without a broker: a record is acknowledged only once handled, every
worker dead-letters a valid event its input topic does not carry, and the gate acknowledges a
record only once its outputs are delivered, in offset order per partition."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.errors import KafkaTransportError
from alignment_flywheel.events import DeadLettered, Event
from alignment_flywheel.governance.autoapprove import AutoApprover
from alignment_flywheel.governance.norms import load_norms
from alignment_flywheel.oracle.loader import load_oracle
from alignment_flywheel.processors.autoapprove import AutoApproval
from alignment_flywheel.processors.drift import build_drift
from alignment_flywheel.processors.redteam import build_redteam
from alignment_flywheel.processors.release import build_controller
from alignment_flywheel.processors.streams import DeadLetterWriter, DeliveryAcks, decoded
from alignment_flywheel.processors.triage import build_triage
from alignment_flywheel.processors.verification import build_verification
from alignment_flywheel.release.rollout import RolloutPolicy
from tests.support.samples import (
    sample_governance_events,
    sample_proposal_submitted,
    sample_release_events,
    sample_runtime_events,
)

SUBMITTED = sample_proposal_submitted(1)
VERDICT, REQUESTED, DECIDED = sample_runtime_events(SUBMITTED.proposal)[:3]
GOVERNANCE = {type(e).__name__: e for e in sample_governance_events(SUBMITTED.proposal)}
FINDING, VERIFIED = GOVERNANCE["FindingRaised"], GOVERNANCE["VerificationRecorded"]
APPROVED = next(e for e in sample_release_events() if type(e).__name__ == "PatchApproved")


@dataclass
class _Message:
    value: bytes | None
    offset: int
    topic: str = "input"
    partition: int = 0
    key: bytes | None = b"k"
    headers: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def tp(self) -> tuple[str, int]:
        return (self.topic, self.partition)


@dataclass
class _Event:
    message: _Message
    acked: list[int]

    def ack(self) -> bool:
        self.acked.append(self.message.offset)
        return True


class _Stream:
    """faust's stream as far as acks go: the current event is acknowledged in a ``finally`` (so
    also when the iterator is closed after the agent raised), unless acks are off."""

    def __init__(self, values: list[bytes | None], acked: list[int] | None = None) -> None:
        self.values = values
        self.acked: list[int] = [] if acked is None else acked
        self.enable_acks = True

    def noack(self) -> _Stream:
        manual = _Stream(self.values, self.acked)
        manual.enable_acks = False
        return manual

    async def ack(self, event: _Event) -> bool:
        return event.ack()

    async def events(self) -> AsyncIterator[_Event]:
        for offset, value in enumerate(self.values):
            event = _Event(_Message(value, offset), self.acked)
            try:
                yield event
            finally:
                if self.enable_acks:
                    event.ack()


def _settings(tmp_path: Path) -> Settings:
    return load_settings(state_dir=tmp_path, bootstrap_servers="127.0.0.1:1")


def _capture(worker: Any) -> list[bytes]:
    """The dead letters every DeadLetterWriter of ``worker`` would send, as encoded."""
    sent: list[bytes] = []

    async def send(_key: bytes, value: bytes) -> None:
        sent.append(value)

    worker.shell.dead._send = send
    return sent


def test_a_record_the_agent_fails_on_is_never_acknowledged(tmp_path: Path) -> None:
    codec = EventCodec.from_settings(_settings(tmp_path))
    stream = _Stream([codec.encode(SUBMITTED), codec.encode(SUBMITTED), codec.encode(SUBMITTED)])
    writer = DeadLetterWriter(object(), codec, producer="t", group="g", max_bytes=1_000_000)

    async def agent() -> None:
        seen = 0
        async for _event in decoded(stream, codec, writer):
            seen += 1
            assert stream.acked == list(range(seen - 1))  # the current one is not acked yet
            if seen == 2:
                raise RuntimeError("downstream store unavailable")

    with pytest.raises(RuntimeError):
        asyncio.run(agent())  # closes the abandoned iterators on the way out, as a worker stops
    assert stream.acked == [0]


def test_a_dead_lettered_record_is_acknowledged_after_its_dead_letter(tmp_path: Path) -> None:
    codec = EventCodec.from_settings(_settings(tmp_path))
    stream = _Stream([b"not an event", None, codec.encode(SUBMITTED)])
    writer = DeadLetterWriter(object(), codec, producer="t", group="g", max_bytes=1_000_000)
    sent: list[int] = []

    async def send(_key: bytes, _value: bytes) -> None:
        sent.append(len(stream.acked))

    writer._send = send  # type: ignore[method-assign]

    async def agent() -> list[Event]:
        return [event async for event in decoded(stream, codec, writer)]

    assert asyncio.run(agent()) == [SUBMITTED]
    assert sent == [0] and stream.acked == [0, 1, 2]


def _drift(settings: Settings) -> Any:
    return build_drift(settings)


def _redteam(settings: Settings) -> Any:
    return build_redteam(settings, load_norms(), lambda: [], seed=1, budget=1)


def _triage(settings: Settings) -> Any:
    return build_triage(settings, app_id="types-test")


def _verification(settings: Settings) -> Any:
    return build_verification(settings, load_norms())


def _release(settings: Settings) -> Any:
    genesis = load_oracle(settings).artifact
    policy = RolloutPolicy.model_validate({"name": "t", "canary_fraction": 0.5})
    controller = build_controller(settings, genesis, policy, lambda _p, _a: False)
    controller._ready.set()
    return controller


def _autoapprove(settings: Settings) -> Any:
    return AutoApproval(settings, AutoApprover([], "auto"))


CASES: list[tuple[str, Callable[[Settings], Any], str, Event, Event | None]] = [
    ("triage", _triage, "findings", VERDICT, None),
    ("triage", _triage, "verifications", FINDING, None),
    ("release", _release, "verdicts", FINDING, None),
    ("release", _release, "reviews", VERIFIED, REQUESTED),
    ("verification", _verification, "reviews", VERDICT, REQUESTED),
    ("drift", _drift, "proposals", VERDICT, SUBMITTED),
    ("drift", _drift, "verdicts", SUBMITTED, VERDICT),
    ("redteam", _redteam, "findings", VERDICT, None),
    ("redteam", _redteam, "verifications", FINDING, None),
    ("redteam", _redteam, "proposals", FINDING, None),
    ("redteam", _redteam, "verdicts", SUBMITTED, None),
    ("autoapprove", _autoapprove, "auto-approve", VERDICT, APPROVED),
]
"""Role, worker, agent, a valid event its input does not carry, and one it carries and passes
over without state (None where carried events need the worker's tables)."""


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_every_worker_dead_letters_a_valid_event_its_topic_does_not_carry(
    tmp_path: Path, case: tuple[str, Callable[[Settings], Any], str, Event, Event | None]
) -> None:
    role, build, agent, wrong, carried = case
    settings = _settings(tmp_path)
    codec = EventCodec.from_settings(settings)
    worker = build(settings)
    sent = _capture(worker)
    fun = worker.app.agents[agent].fun
    stream = _Stream([codec.encode(wrong)])
    asyncio.run(fun(stream))
    assert stream.acked == [0]
    (letter,) = (codec.decode(raw) for raw in sent)
    assert isinstance(letter, DeadLettered), role
    assert letter.error_type == "UnexpectedEventError"
    assert wrong.event_type() in letter.reason
    assert letter.original_value == codec.encode(wrong)
    if carried is not None:
        asyncio.run(fun(_Stream([codec.encode(carried)])))
        assert len(sent) == 1, f"{role}/{agent} dead-lettered a {carried.event_type()}"


def _future(loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
    return loop.create_future()


def test_delivery_acks_follow_offsets_per_partition_and_stop_at_a_failure() -> None:
    async def run() -> tuple[list[int], list[int], DeliveryAcks]:
        loop = asyncio.get_running_loop()
        acks, first, second = DeliveryAcks(), [], []
        events = [_Event(_Message(b"v", offset), first) for offset in range(4)]
        other = _Event(_Message(b"v", 0, partition=1), second)
        deliveries = [[_future(loop), _future(loop)], [_future(loop)], [], [_future(loop)]]
        for event, futures in zip(events, deliveries, strict=True):
            acks.track(event, futures)
        acks.track(other, [])
        deliveries[1][0].set_result(None)
        await asyncio.sleep(0)
        assert first == [] and second == [0]  # offset 1 waits for offset 0
        for future in deliveries[0]:
            future.set_result(None)
        await asyncio.sleep(0)
        assert first == [0, 1, 2]
        deliveries[3][0].set_exception(KafkaTransportError("broker gone"))
        await asyncio.sleep(0)
        return first, second, acks

    first, second, acks = asyncio.run(run())
    assert first == [0, 1, 2] and second == [0]
    with pytest.raises(KafkaTransportError, match="not delivered"):
        acks.check()
