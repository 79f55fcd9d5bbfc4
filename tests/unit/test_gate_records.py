"""The gate's routing of a batch's records, its dead letters and its session store, without a
broker."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.codec.codec import default_repository
from alignment_flywheel.config import Settings
from alignment_flywheel.events import DeadLettered, ReviewRequested
from alignment_flywheel.events.ids import emitted_event_id
from alignment_flywheel.oracle.session_book import SessionBook, session_event
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
from alignment_flywheel.processors.gate_state import SessionStore
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


def test_the_session_store_sends_each_write_on_its_partition_and_forgets_lost_partitions(
    settings_factory: Callable[..., Settings],
) -> None:
    store = SessionStore(settings_factory(), "g-sessions")
    book = SessionBook(store.heads, store.events, lambda raw: session_event(CODEC, raw))
    proposal = sample_proposal(1)
    for partition, event in enumerate(sample_session_events(proposal)[:2]):
        store.partition = partition
        assert book.apply(event, CODEC.encode(event), partition, 7, 1_000)
    pending = store.pending()
    assert {p for p, _k, _v in pending} == {0, 1}
    assert all(key[:1] in (b"h", b"e") and value is not None for _p, key, value in pending)
    assert store.pending() == []
    store.forget({0})
    assert all(name.endswith(",1]") for name in store.heads)
    assert book.context(proposal.proposer_id, proposal.session_id, 0, 1_000) is None
