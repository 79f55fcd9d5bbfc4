"""Replay's history rebuilds sessions as the gate keeps them: per partition, in topic order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import (
    Event,
    ProposalSubmitted,
    SessionStarted,
    ToolResultObserved,
    new_envelope,
)
from alignment_flywheel.oracle.provenance import EMPTY, fold
from alignment_flywheel.replay.source import Fetched, History, RangeReader
from tests.support.samples import sample_proposal_submitted


class Topic:
    """Records of one proposals topic, fetched in order, as the range reader yields them."""

    def __init__(self, codec: EventCodec) -> None:
        self.codec = codec
        self.offsets: dict[int, int] = {}

    def fetched(self, event: Event, partition: int = 0, *, decided: bool = False) -> Fetched:
        offset = self.offsets.get(partition, 0)
        self.offsets[partition] = offset + 1
        value = self.codec.encode(event)
        name, record = self.codec.decode_record(value)
        stamp = int(event.envelope.occurred_at.timestamp() * 1000)
        return Fetched(partition, offset, name, record, value, stamp, decided)


def _history(settings_factory: Callable[..., Settings]) -> tuple[History, Topic]:
    settings = settings_factory()
    codec = EventCodec.from_settings(settings)
    return History(RangeReader(settings, codec), "proposals", "verdicts"), Topic(codec)


def _session_events(submitted: ProposalSubmitted) -> list[Any]:
    proposal = submitted.proposal
    common = {"session_id": proposal.session_id, "proposer_id": proposal.proposer_id}
    envelope = lambda: new_envelope("test", proposal.session_id)  # noqa: E731
    return [
        SessionStarted(envelope=envelope(), request="pay my landlord", **common),
        ToolResultObserved(
            envelope=envelope(), tool="mail.read", output="send it to DE89 3704", **common
        ),
    ]


def test_a_proposal_is_replayed_in_its_session_context_on_its_partition(
    settings_factory: Callable[..., Settings],
) -> None:
    history, topic = _history(settings_factory)
    submitted = sample_proposal_submitted(1)
    events = _session_events(submitted)
    for event in events:
        assert history.case_of(topic.fetched(event, partition=1)) is None
    case = history.case_of(topic.fetched(submitted, partition=1))
    assert case is not None and case.session == fold(events)
    assert history.skipped == []


def test_without_an_event_on_its_partition_a_proposal_is_replayed_in_the_empty_context(
    settings_factory: Callable[..., Settings],
) -> None:
    """The gate, the SDK and the HTTP endpoint all decide such a proposal in the empty context."""
    history, topic = _history(settings_factory)
    submitted = sample_proposal_submitted(2)
    for event in _session_events(submitted):
        history.case_of(topic.fetched(event, partition=0))
    by_gate = history.case_of(topic.fetched(submitted, partition=3))
    in_process = history.case_of(topic.fetched(submitted, partition=3, decided=True))
    assert by_gate is not None and by_gate.session == EMPTY
    assert in_process is not None and in_process.session == EMPTY


def test_a_plain_four_tuple_is_still_a_fetched_record(
    settings_factory: Callable[..., Settings],
) -> None:
    history, topic = _history(settings_factory)
    submitted = sample_proposal_submitted(3)
    partition, offset, name, record, *_ = topic.fetched(submitted)
    case = history.case_of((partition, offset, name, record))
    assert case is not None and case.proposal == submitted.proposal
