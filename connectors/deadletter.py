"""Dead letters: bad input is kept, with the reason, and the stream goes on.

A record that cannot be decoded (malformed bytes, unknown schema fingerprint, schema violation,
oversized) or that a handler rejects as invalid input is published to the dead-letter topic as a
``DeadLettered`` event carrying the original key and value bytes, the source topic, partition and
offset, the consumer group and the reason. The publication is confirmed by the broker before the
consumer moves past the record, so nothing is lost: a crash in between only repeats the dead letter.
"""

from __future__ import annotations

from confluent_kafka import Message

from alignment_flywheel.events import DeadLettered, new_envelope

DEFAULT_DEAD_LETTER_TOPIC = "flywheel.deadletter"


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
