"""The SDK publisher's contract, on the in-memory adapter and on the real broker.

One suite (:class:`PublisherContract`), two adapters: a subclass gives the ``adapter`` fixture.
The contract: records submitted are delivered, in order per partition, with their keys and
headers; a record with a partition key lands on the partition placement gives it, others on
the one their key hashes to; a full buffer spills to the journal and still delivers in order;
an unreachable cluster journals everything and a later publisher on that journal replays it,
oldest first; ``close()`` drains what is buffered.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.sdk.journal import Journal, JournalRecord
from alignment_flywheel.connectors.sdk.publisher import Publisher
from alignment_flywheel.kafka.placement import partition_for, session_key
from alignment_flywheel.kafka.ports import ProducerFactory
from tests.support.adapters import (
    Adapter,
    Delivered,
)

DELIVERY_TIMEOUT_S = 2.0


def _records(topic: str, count: int, start: int = 0) -> list[JournalRecord]:
    return [
        JournalRecord(topic, f"key-{i % 5}".encode(), f"value-{i}".encode(), (("n", b"%d" % i),))
        for i in range(start, start + count)
    ]


def _values(found: Sequence[JournalRecord | Delivered]) -> list[bytes | None]:
    return [record.value for record in found]


class PublisherContract:
    """What any Kafka adapter must do under the SDK publisher."""

    @pytest.fixture
    def adapter(self) -> Adapter:
        raise NotImplementedError

    @pytest.fixture
    def publish(self, adapter: Adapter, tmp_path: Path) -> Iterator[Callable[..., Publisher]]:
        """Starts a publisher on ``tmp_path/journal`` (closed at the end if the test did not)."""
        started: list[Publisher] = []

        def start(
            *,
            buffer_size: int = 1000,
            reachable: bool = True,
            journal_name: str | None = None,
        ) -> Publisher:
            settings, factory = _target(adapter, reachable)
            publisher = Publisher(
                settings.model_copy(update={"sdk_buffer_size": buffer_size}),
                Journal(tmp_path / "journal", journal_name),
                delivery_timeout_s=DELIVERY_TIMEOUT_S,
                retry_interval_s=0.1,
                producer_factory=factory,
            )
            started.append(publisher)
            return publisher

        yield start
        for publisher in started:
            publisher.close(0.5)

    def test_records_are_delivered_in_order_per_partition_with_keys_and_headers(
        self, adapter: Adapter, publish: Callable[..., Publisher]
    ) -> None:
        topic = adapter.create_topic(3)
        records = _records(topic, 60)
        publisher = publish()
        for record in records:
            publisher.submit([record])
        assert publisher.close(30) is True
        found = adapter.read_back(topic)
        assert sorted(d.value or b"" for d in found) == sorted(r.value for r in records)
        sent = {r.value: r for r in records}
        for partition in {d.partition for d in found}:
            here = [d.value for d in found if d.partition == partition]
            assert here == [r.value for r in records if r.value in here]
        for delivered in found:
            record = sent[delivered.value or b""]
            assert (delivered.key, delivered.headers) == (record.key, record.headers)

    def test_records_without_a_partition_key_land_on_the_partition_of_their_key(
        self, adapter: Adapter, publish: Callable[..., Publisher]
    ) -> None:
        topic = adapter.create_topic(4)
        records = _records(topic, 20)
        publisher = publish()
        publisher.submit(records)
        assert publisher.close(30) is True
        placed = {d.value: d.partition for d in adapter.read_back(topic)}
        assert placed == {r.value: partition_for(r.key or b"", 4) for r in records}

    def test_a_record_with_a_partition_key_lands_where_placement_puts_it(
        self, adapter: Adapter, publish: Callable[..., Publisher]
    ) -> None:
        topic = adapter.create_topic(6)
        keys = [session_key("agent", f"s-{i}") for i in range(12)]
        records = [JournalRecord(topic, b"same-key", b"v%d" % i, (), k) for i, k in enumerate(keys)]
        publisher = publish()
        publisher.submit(records)
        assert publisher.close(30) is True
        placed = {d.value: d.partition for d in adapter.read_back(topic)}
        assert placed == {r.value: partition_for(r.partition_key or b"", 6) for r in records}
        assert len(set(placed.values())) > 2

    def test_a_full_buffer_spills_to_the_journal_and_still_delivers_in_order(
        self, adapter: Adapter, publish: Callable[..., Publisher]
    ) -> None:
        topic = adapter.create_topic(1)
        records = _records(topic, 40)
        publisher = publish(buffer_size=2)
        for record in records:
            publisher.submit([record])
        assert publisher.close(30) is True
        assert _values(adapter.read_back(topic)) == _values(records)

    def test_an_unreachable_cluster_journals_and_a_later_publisher_replays_oldest_first(
        self, adapter: Adapter, publish: Callable[..., Publisher]
    ) -> None:
        topic = adapter.create_topic(2)
        records = _records(topic, 12)
        placed = JournalRecord(topic, b"k", b"placed", (), session_key("agent", "s-1"))
        down = publish(buffer_size=4, reachable=False, journal_name="sdk.journal")
        for record in [*records[:6], placed, *records[6:]]:
            down.submit([record])
        assert down.close(0.5) is False
        assert adapter.read_back(topic) == []
        later = publish(journal_name="sdk.journal")
        assert later.close(30) is True
        found = adapter.read_back(topic)
        expected = [*_values(records[:6]), b"placed", *_values(records[6:])]
        assert sorted(d.value or b"" for d in found) == sorted(expected)
        for partition in {d.partition for d in found}:
            here = [d.value for d in found if d.partition == partition]
            assert here == [value for value in expected if value in here]
        assert {d.partition for d in found if d.value == b"placed"} == {
            partition_for(session_key("agent", "s-1"), 2)
        }

    def test_close_drains_the_buffer(
        self, adapter: Adapter, publish: Callable[..., Publisher], tmp_path: Path
    ) -> None:
        topic = adapter.create_topic(1)
        records = _records(topic, 500)
        publisher = publish()
        publisher.submit(records)
        started = time.monotonic()
        assert publisher.close(30) is True
        assert time.monotonic() - started < 30
        assert _values(adapter.read_back(topic)) == _values(records)
        assert list((tmp_path / "journal").glob("*.journal")) == []


def _target(adapter: Adapter, reachable: bool) -> tuple[Settings, ProducerFactory]:
    if reachable:
        return adapter.settings, adapter.producer_factory
    return adapter.unreachable.settings, adapter.unreachable.producer_factory


class TestPublisherOnMemory(PublisherContract):
    @pytest.fixture
    def adapter(self, memory_kafka: Adapter) -> Adapter:
        return memory_kafka


@pytest.mark.integration
class TestPublisherOnKafka(PublisherContract):
    @pytest.fixture
    def adapter(self, broker_kafka: Adapter) -> Adapter:
        return broker_kafka
