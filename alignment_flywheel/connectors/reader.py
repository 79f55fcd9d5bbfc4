"""Reading a topic from a point in time (or its beginning) up to its end as of now, without a
consumer group: for commands that look things up (reviews, incidents, release status), and
:class:`TopicTail` for a worker that reads on, up to the end as of each time it asks.

Records that do not decode are logged and passed over (a reader never stops on bad input); a
broker that does not answer raises :class:`~alignment_flywheel.errors.KafkaTransportError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from datetime import datetime

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.consumer import consumer_config, offsets_for_times, watermarks
from alignment_flywheel.errors import CodecError, KafkaTransportError
from alignment_flywheel.events import Event
from alignment_flywheel.stack.kafka import client_config, reader_group

log = logging.getLogger(__name__)
TIMEOUT_S = 30.0


def read_topic(
    settings: Settings, codec: EventCodec, topic: str, *, since: datetime | None = None
) -> Iterator[Event]:
    """Every event on ``topic`` (from ``since``, or the beginning) up to its end as of now."""
    consumer = Consumer(
        consumer_config(settings, reader_group("topic"), {"enable.auto.commit": False})
    )
    try:
        yield from _read_assigned(consumer, codec, topic, since)
    finally:
        consumer.close()


def _read_assigned(
    consumer: Consumer, codec: EventCodec, topic: str, since: datetime | None
) -> Iterator[Event]:
    starts = _start_offsets(consumer, topic, since)
    ends = {p: watermarks(consumer, tp, TIMEOUT_S)[1] for p, tp in starts}
    todo = [tp for p, tp in starts if tp.offset < ends[p]]
    if not todo:
        return
    consumer.assign(todo)
    positions = {tp.partition: tp.offset for tp in todo}
    while any(positions[p] < ends[p] for p in positions):
        msg = consumer.poll(TIMEOUT_S)
        if msg is None:
            raise KafkaTransportError(f"no record from {topic} within {TIMEOUT_S:.0f} s")
        error = msg.error()
        if error is not None:
            raise KafkaTransportError(f"reading {topic}: {error.str()}")
        positions[int(msg.partition() or 0)] = int(msg.offset() or 0) + 1
        event = _decode(codec, msg.value(), topic)
        if event is not None:
            yield event


def _decode(codec: EventCodec, value: bytes | None, topic: str) -> Event | None:
    if value is None:
        return None
    try:
        return codec.decode(value)
    except (CodecError, RecursionError) as exc:
        log.warning("passing over an undecodable record on %s: %s", topic, exc)
        return None


def _start_offsets(
    consumer: Consumer, topic: str, since: datetime | None
) -> list[tuple[int, TopicPartition]]:
    metadata = consumer.list_topics(topic, timeout=TIMEOUT_S).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise KafkaTransportError(f"topic {topic} does not exist or has no partitions")
    partitions = sorted(metadata.partitions)
    if since is None:
        found = [TopicPartition(topic, p, -1) for p in partitions]
    else:
        millis = int(since.timestamp() * 1000)
        asked = [TopicPartition(topic, p, millis) for p in partitions]
        found = offsets_for_times(consumer, asked, TIMEOUT_S)
    result = []
    for tp in found:
        low, high = watermarks(consumer, tp, TIMEOUT_S)
        offset = high if since is not None and tp.offset < 0 else max(tp.offset, low)
        result.append((tp.partition, TopicPartition(topic, tp.partition, offset)))
    return result


class TopicTail:
    """Topics read from a point in time and then, at every :meth:`read_to_end`, up to their ends
    as of that call: for a worker that must have read everything published before it acts.

    It assigns every partition directly (no consumer group, nothing committed); records that do
    not decode are passed over as in :func:`read_topic`. Close it when done.
    """

    def __init__(
        self, settings: Settings, codec: EventCodec, topics: Iterable[str], *, since: datetime
    ) -> None:
        self._codec = codec
        self._consumer = Consumer(
            consumer_config(settings, reader_group("tail"), {"enable.auto.commit": False})
        )
        self._admin = AdminClient(client_config(settings, "flywheel-tail"))
        starts = [tp for topic in topics for _, tp in _start_offsets(self._consumer, topic, since)]
        self._positions = {(tp.topic, tp.partition): tp.offset for tp in starts}
        self._consumer.assign(starts)

    def _ends(self) -> dict[tuple[str, int], int]:
        """Every partition's end, in one request (the consumer's own connection would queue the
        question behind its fetches)."""
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        asked = {TopicPartition(*key): latest for key in self._positions}
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            try:
                futures = self._admin.list_offsets(asked, request_timeout=TIMEOUT_S)
                return {
                    (tp.topic, tp.partition): int(future.result(timeout=TIMEOUT_S).offset)
                    for tp, future in futures.items()
                }
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                retriable = isinstance(error, KafkaError) and error.retriable()
                if not retriable or time.monotonic() >= deadline:
                    raise KafkaTransportError(f"the ends of the topics: {exc}") from exc
                time.sleep(0.1)

    def read_to_end(self) -> Iterator[Event]:
        """Every event after the last one read, up to each partition's end as of this call."""
        ends = self._ends()
        while any(self._positions[key] < ends[key] for key in self._positions):
            msg = self._consumer.poll(TIMEOUT_S)
            if msg is None:
                raise KafkaTransportError(f"no record within {TIMEOUT_S:.0f} s before the end")
            error = msg.error()
            topic = str(msg.topic())
            if error is not None:
                raise KafkaTransportError(f"reading {topic}: {error.str()}")
            self._positions[(topic, int(msg.partition() or 0))] = int(msg.offset() or 0) + 1
            event = _decode(self._codec, msg.value(), topic)
            if event is not None:
                yield event

    def close(self) -> None:
        self._consumer.close()
