"""Dead letters always fit: the whole original when it fits the producer's limit, else a bounded
excerpt with the original's length, SHA-256 and position."""

from __future__ import annotations

import hashlib
from pathlib import Path

from alignment_flywheel.codec import EventCodec, SchemaRepository
from alignment_flywheel.config import load_settings
from alignment_flywheel.errors import OversizedEventError
from alignment_flywheel.events import DeadLettered
from alignment_flywheel.kafka.deadletter import (
    EXCERPT_BYTES,
    dead_letter_for,
    fit_dead_letter,
)
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.resources import SCHEMAS_DIR

LIMIT = 1_000_000


def _letter(key: bytes | None, value: bytes | None) -> DeadLettered:
    return dead_letter_for(
        topic="flywheel.proposals",
        partition=2,
        offset=41,
        key=key,
        value=value,
        error=OversizedEventError("received too many bytes"),
        producer="gate",
        consumer_group="g",
    )


def _codec(**limits: int) -> EventCodec:
    return EventCodec(SchemaRepository(SCHEMAS_DIR), **limits)


def test_a_letter_that_fits_keeps_the_whole_original() -> None:
    codec, value = _codec(), b"\x00garbage" * 100
    data = fit_dead_letter(codec, _letter(b"k", value), LIMIT)
    letter = codec.decode(data)
    assert isinstance(letter, DeadLettered)
    assert (letter.original_key, letter.original_value, letter.truncated) == (b"k", value, False)
    assert letter.original_value_size == len(value)
    assert letter.original_value_sha256 == hashlib.sha256(value).hexdigest()
    assert letter.original_key_size == 1
    assert letter.original_key_sha256 == hashlib.sha256(b"k").hexdigest()


def test_a_letter_over_the_producer_limit_keeps_an_excerpt_with_length_and_digest() -> None:
    codec, value = _codec(), bytes(range(256)) * 3950  # 1,011,200 bytes
    data = fit_dead_letter(codec, _letter(b"k", value), LIMIT)
    assert len(data) < LIMIT
    letter = codec.decode(data)
    assert isinstance(letter, DeadLettered) and letter.truncated
    assert letter.original_value == value[:EXCERPT_BYTES]
    assert letter.original_value_size == len(value)
    assert letter.original_value_sha256 == hashlib.sha256(value).hexdigest()
    assert (letter.source_topic, letter.partition, letter.offset) == ("flywheel.proposals", 2, 41)
    assert letter.original_key == b"k" and letter.error_type == "OversizedEventError"


def test_an_oversized_key_is_cut_too_and_the_codec_limit_counts() -> None:
    codec = _codec(max_event_bytes=1024, max_dead_letter_bytes=20_000)
    key, value = b"K" * 500_000, b"V" * 10
    data = fit_dead_letter(codec, _letter(key, value), LIMIT)
    assert len(data) <= 20_000
    letter = codec.decode(data)
    assert isinstance(letter, DeadLettered) and letter.truncated
    assert letter.original_key and key.startswith(letter.original_key)
    assert letter.original_key_size == len(key) and letter.original_value == value


def test_letters_without_key_or_value_record_no_size() -> None:
    letter = _letter(None, None)
    assert (letter.original_key_size, letter.original_value_sha256) == (None, None)


def test_the_producer_fits_a_dead_letter_to_its_message_limit(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path, bootstrap_servers="127.0.0.1:1")
    codec = EventCodec.from_settings(settings)
    producer = EventProducer(settings, codec, overrides={"message.max.bytes": LIMIT})
    sent: list[bytes] = []
    producer.send_bytes = lambda _t, _k, value, _cb=None, _p=-1: sent.append(value or b"")  # type: ignore[method-assign]
    producer.send("dlq", _letter(b"k", b"x" * (LIMIT + 10)))
    (data,) = sent
    letter = codec.decode(data)
    assert len(data) < LIMIT and isinstance(letter, DeadLettered) and letter.truncated
