"""The bounded reader's contract, on the in-memory adapter and on the real broker.

One suite (:class:`ReaderContract`), two adapters: a subclass gives the ``adapter`` fixture.
The contract: :func:`read_topic` reads every record up to the ends as of its start and stops
(records written later are not waited for), in offset order per partition, from a point in time
when asked, passing over records that do not decode; empty topics and partitions without records
end the read promptly; a topic that does not exist is a clear error; :func:`read_spans` gives
exactly the offsets of its spans.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from alignment_flywheel.codec import EventCodec, SchemaRepository
from alignment_flywheel.errors import KafkaTransportError
from alignment_flywheel.events import Event
from alignment_flywheel.kafka import reader
from alignment_flywheel.kafka.reader import Span, read_spans, read_topic
from tests.support.adapters import Adapter
from tests.support.samples import sample_proposal_submitted

PROMPT_S = 5.0
"""Longest a read that finds nothing may take (the reader's own timeouts are 30 s)."""


@pytest.fixture(scope="module")
def codec() -> EventCodec:
    return EventCodec(SchemaRepository())


def _events(count: int, start: int = 0) -> list[Event]:
    return [sample_proposal_submitted(i) for i in range(start, start + count)]


def _records(
    codec: EventCodec, events: list[Event], partition: int = 0
) -> list[tuple[int, bytes | None, bytes]]:
    return [(partition, e.envelope.key.encode(), codec.encode(e)) for e in events]


class ReaderContract:
    """What any Kafka adapter must do under the bounded reader."""

    @pytest.fixture
    def adapter(self) -> Adapter:
        raise NotImplementedError

    @pytest.fixture
    def read(self, adapter: Adapter, codec: EventCodec) -> Callable[..., Iterator[Event]]:
        def start(topic: str, since: datetime | None = None) -> Iterator[Event]:
            return read_topic(
                adapter.settings,
                codec,
                topic,
                since=since,
                consumer_factory=adapter.consumer_factory,
            )

        return start

    def test_reads_every_record_up_to_the_end_in_order_per_partition(
        self, adapter: Adapter, codec: EventCodec, read: Callable[..., Iterator[Event]]
    ) -> None:
        topic = adapter.create_topic(3)
        by_partition = {p: _events(5, start=10 * p) for p in range(3)}
        adapter.write(topic, [r for p, e in by_partition.items() for r in _records(codec, e, p)])
        found = list(read(topic))
        assert len(found) == 15
        for events in by_partition.values():
            assert [e for e in found if e in events] == events

    def test_stops_at_the_ends_as_of_its_start(
        self, adapter: Adapter, codec: EventCodec, read: Callable[..., Iterator[Event]]
    ) -> None:
        topic = adapter.create_topic(1)
        before = _events(3)
        adapter.write(topic, _records(codec, before))
        reading = read(topic)
        first = next(reading)
        adapter.write(topic, _records(codec, _events(2, start=100)))
        assert [first, *reading] == before

    def test_an_empty_topic_ends_promptly(
        self, adapter: Adapter, read: Callable[..., Iterator[Event]]
    ) -> None:
        topic = adapter.create_topic(3)
        started = time.monotonic()
        assert list(read(topic)) == []
        assert time.monotonic() - started < PROMPT_S

    def test_partitions_without_records_end_promptly(
        self, adapter: Adapter, codec: EventCodec, read: Callable[..., Iterator[Event]]
    ) -> None:
        topic = adapter.create_topic(4)
        events = _events(4)
        adapter.write(topic, _records(codec, events, partition=2))
        started = time.monotonic()
        assert list(read(topic)) == events
        assert time.monotonic() - started < PROMPT_S

    def test_a_missing_topic_is_a_clear_error(
        self, adapter: Adapter, read: Callable[..., Iterator[Event]]
    ) -> None:
        started = time.monotonic()
        missing = f"no-such-topic-{time.monotonic_ns()}"
        with pytest.raises(KafkaTransportError, match=f"topic {missing} does not exist"):
            list(read(missing))
        assert time.monotonic() - started < PROMPT_S

    def test_records_deleted_before_the_low_watermark_are_not_waited_for(
        self, adapter: Adapter, codec: EventCodec, read: Callable[..., Iterator[Event]]
    ) -> None:
        topic = adapter.create_topic(1)
        events = _events(5)
        adapter.write(topic, _records(codec, events))
        adapter.delete_before(topic, 0, 3)
        assert list(read(topic)) == events[3:]

    def test_an_unreachable_cluster_is_a_transport_error(
        self, adapter: Adapter, codec: EventCodec, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(reader, "TIMEOUT_S", 1.0)
        down = adapter.unreachable
        started = time.monotonic()
        with pytest.raises(KafkaTransportError):
            list(
                read_topic(down.settings, codec, "anything", consumer_factory=down.consumer_factory)
            )
        assert time.monotonic() - started < PROMPT_S

    def test_reads_from_a_point_in_time(
        self, adapter: Adapter, codec: EventCodec, read: Callable[..., Iterator[Event]]
    ) -> None:
        topic = adapter.create_topic(2)
        adapter.write(topic, _records(codec, _events(3)))
        time.sleep(0.05)
        since = datetime.now(UTC)
        time.sleep(0.05)
        later = _events(3, start=50)
        adapter.write(topic, _records(codec, later, partition=1))
        assert list(read(topic, since)) == later
        time.sleep(0.05)
        assert list(read(topic, datetime.now(UTC))) == []

    def test_records_that_do_not_decode_are_passed_over(
        self, adapter: Adapter, codec: EventCodec, read: Callable[..., Iterator[Event]]
    ) -> None:
        topic = adapter.create_topic(1)
        good = _events(2)
        first, second = _records(codec, good)
        adapter.write(topic, [first, (0, b"bad", b"not an event"), second])
        assert list(read(topic)) == good

    def test_read_spans_gives_exactly_the_offsets_of_its_spans(
        self, adapter: Adapter, codec: EventCodec
    ) -> None:
        topic = adapter.create_topic(2)
        adapter.write(topic, [*_records(codec, _events(6)), *_records(codec, _events(3), 1)])
        spans = [Span(0, 2, 5), Span(1, 1, 1)]
        consumer = adapter.consumer()
        try:
            found = [(m.partition(), m.offset()) for m in read_spans(consumer, topic, spans)]
        finally:
            consumer.close()
        assert found == [(0, 2), (0, 3), (0, 4)]


class TestReaderOnMemory(ReaderContract):
    @pytest.fixture
    def adapter(self, memory_kafka: Adapter) -> Adapter:
        return memory_kafka


@pytest.mark.integration
class TestReaderOnKafka(ReaderContract):
    @pytest.fixture
    def adapter(self, broker_kafka: Adapter) -> Adapter:
        return broker_kafka
