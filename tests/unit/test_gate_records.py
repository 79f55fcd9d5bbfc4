"""The gate's routing of a batch's records and its dead letters, without a broker."""

from __future__ import annotations

import hashlib

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.codec.codec import default_repository
from alignment_flywheel.events import DeadLettered, ReviewRequested
from alignment_flywheel.events.ids import emitted_event_id
from alignment_flywheel.processors.gate_records import (
    DEAD_LETTER_KIND,
    Fold,
    Propose,
    Record,
    Reject,
    Skip,
    classify,
    dead_letter_value,
)
from tests.support.samples import (
    sample_proposal,
    sample_proposal_submitted,
    sample_runtime_events,
    sample_session_events,
)

CODEC = EventCodec(default_repository())


def record(value: bytes | None, *, headers: list[tuple[str, bytes | None]] | None = None) -> Record:
    return Record("flywheel.proposals", 2, 41, b"k", value, headers, 1_700_000_000_123)


def test_each_kind_of_record_is_routed() -> None:
    submitted = sample_proposal_submitted(3)
    session = sample_session_events(sample_proposal(3))[0]
    review = next(
        e for e in sample_runtime_events(submitted.proposal) if isinstance(e, ReviewRequested)
    )
    decided = [("flywheel-decided-by", b"sdk")]
    routed = [
        classify(CODEC, record(CODEC.encode(submitted))),
        classify(CODEC, record(CODEC.encode(session))),
        classify(CODEC, record(CODEC.encode(submitted), headers=decided)),
        classify(CODEC, record(None)),
        classify(CODEC, record(b"\x00garbage")),
        classify(CODEC, record(CODEC.encode(review))),
    ]
    kinds = [type(r) for r in routed]
    assert kinds == [Propose, Fold, Skip, Skip, Reject, Reject]
    first = routed[0]
    assert isinstance(first, Propose) and first.proposal == submitted.proposal
    assert routed[2] == Skip("sdk") and routed[3] == Skip(None)
    last = routed[5]
    assert isinstance(last, Reject) and "ProposalSubmitted" in str(last.error)


def test_a_dead_letter_is_derived_from_its_record_and_the_same_when_written_again() -> None:
    bad = record(b"\x00garbage")
    routed = classify(CODEC, bad)
    assert isinstance(routed, Reject)
    letters = [
        dead_letter_value(CODEC, bad, routed.error, producer="g", group="grp", max_bytes=10**6)
        for _ in range(2)
    ]
    assert letters[0] == letters[1]
    letter = CODEC.decode(letters[0])
    assert isinstance(letter, DeadLettered)
    assert letter.envelope.event_id == emitted_event_id(bad.position, DEAD_LETTER_KIND)
    assert letter.envelope.occurred_at == bad.occurred_at
    assert (letter.source_topic, letter.partition, letter.offset) == ("flywheel.proposals", 2, 41)
    assert letter.original_value == b"\x00garbage" and letter.consumer_group == "grp"


@pytest.mark.parametrize("size", [200_000])
def test_a_dead_letter_too_large_for_the_producer_keeps_an_excerpt_and_the_digest(
    size: int,
) -> None:
    bad = record(b"\x01" * size)
    routed = classify(CODEC, bad)
    assert isinstance(routed, Reject)
    value = dead_letter_value(
        CODEC, bad, routed.error, producer="g", group="grp", max_bytes=100_000
    )
    letter = CODEC.decode(value)
    assert isinstance(letter, DeadLettered) and letter.truncated
    assert len(value) < 100_000
    assert letter.original_value_size == size
    assert letter.original_value_sha256 == hashlib.sha256(bad.value or b"").hexdigest()
