"""Dead letters: bad input is kept, with the reason, and the stream goes on.

A record that cannot be decoded (malformed bytes, unknown schema fingerprint, schema violation,
oversized), that is a valid event of a type its topic does not carry, or that a handler rejects as
invalid input is published to the dead-letter topic as a ``DeadLettered`` event carrying the
source topic, partition and offset, the consumer group, the reason, and the original key and value
with their lengths and SHA-256 digests. The publication is confirmed by the broker before the
consumer moves past the record, so nothing is lost: a crash in between only repeats the dead letter.

Size: a dead letter must fit the producer's request limit (and the codec's ``DeadLettered``
limit), or producing it fails and the bad record stops the worker. :func:`fit_dead_letter` keeps
the whole original when the letter fits, and otherwise the first :data:`EXCERPT_BYTES` of the key
and the value (``truncated`` set; the lengths and digests still describe the whole originals, so
the record can be identified on its topic). A broker whose topic limit is lower still gets
:func:`excerpt_of` with :data:`MIN_EXCERPT_BYTES`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from confluent_kafka import Message

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.errors import OversizedEventError
from alignment_flywheel.events import DeadLettered, new_envelope
from alignment_flywheel.kafka.catalog import topic_for

DEFAULT_DEAD_LETTER_TOPIC = topic_for("DeadLettered")
EXCERPT_BYTES = 64 * 1024
"""How much of an original key or value a dead letter keeps when the whole does not fit."""
MIN_EXCERPT_BYTES = 1024
"""The excerpt sent when the broker refuses a dead letter for its size."""
RECORD_OVERHEAD = 1024
"""An upper bound of what a producer adds around a value (batch header, key, lengths)."""
MAX_REASON = 4096
"""Characters of the reason kept in a truncated dead letter."""


def dead_letter_for(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: BaseException,
    producer: str,
    consumer_group: str | None,
) -> DeadLettered:
    """The DeadLettered event for one bad record, keyed by its source position."""
    position = f"{topic}/{partition}/{offset}"
    return DeadLettered(
        envelope=new_envelope(producer, position),
        source_topic=topic,
        partition=partition,
        offset=offset,
        original_key=key,
        original_value=value,
        reason=str(error) or type(error).__name__,
        error_type=type(error).__name__,
        consumer_group=consumer_group,
        original_key_size=None if key is None else len(key),
        original_key_sha256=_sha256(key),
        original_value_size=None if value is None else len(value),
        original_value_sha256=_sha256(value),
    )


def dead_letter_for_message(
    msg: Message, error: BaseException, *, producer: str, consumer_group: str | None
) -> DeadLettered:
    """The DeadLettered event for a confluent-kafka message."""
    return dead_letter_for(
        topic=str(msg.topic()),
        partition=int(msg.partition() or 0),
        offset=int(msg.offset() or 0),
        key=msg.key(),
        value=msg.value(),
        error=error,
        producer=producer,
        consumer_group=consumer_group,
    )


def excerpt_of(letter: DeadLettered, keep: int = EXCERPT_BYTES) -> DeadLettered:
    """The letter with only the first ``keep`` bytes of the original key and value."""
    return letter.model_copy(
        update={
            "original_key": _first(letter.original_key, keep),
            "original_value": _first(letter.original_value, keep),
            "reason": letter.reason[:MAX_REASON],
            "truncated": True,
        }
    )


def fit_dead_letter(codec: EventCodec, letter: DeadLettered, max_bytes: int) -> bytes:
    """The encoded letter: whole if it fits ``max_bytes`` (a producer's request limit) and the
    codec's limit, else with excerpts of the original key and value (see the module rules)."""
    budget = min(max_bytes, codec.limit("DeadLettered")) - RECORD_OVERHEAD
    budget -= len(letter.envelope.key.encode())
    for candidate in _shrinking(letter, budget):
        try:
            data = codec.encode(candidate)
        except OversizedEventError:
            continue
        if len(data) <= budget:
            return data
    return codec.encode(excerpt_of(letter, 0))


def _shrinking(letter: DeadLettered, budget: int) -> Iterator[DeadLettered]:
    """The whole letter (unless its originals alone exceed ``budget``), then ever shorter
    excerpts, from :data:`EXCERPT_BYTES` down."""
    whole = len(letter.original_key or b"") + len(letter.original_value or b"")
    if whole + len(letter.reason.encode()) < budget:
        yield letter
    keep = EXCERPT_BYTES
    while keep > 0:
        yield excerpt_of(letter, keep)
        keep //= 2


def _first(data: bytes | None, keep: int) -> bytes | None:
    return None if data is None else data[:keep]


def _sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()
