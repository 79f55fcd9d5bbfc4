"""The SDK's local journal and its publisher, with a scripted producer in place of Kafka."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.sdk import Journal, JournalError, JournalRecord
from alignment_flywheel.connectors.sdk.journal import adopt_orphans, encode_frame, scan
from alignment_flywheel.connectors.sdk.publisher import Publisher
from alignment_flywheel.kafka import placement
from alignment_flywheel.kafka.placement import partition_for, session_key
from tests.unit.test_sdk_fakes import ScriptedProducer


def _records(count: int, start: int = 0) -> list[JournalRecord]:
    return [
        JournalRecord(
            "t.events", f"k{i}".encode(), f"value-{i}".encode(), (("flywheel-decided-by", b"sdk"),)
        )
        for i in range(start, start + count)
    ]


def _values(journal: Journal) -> list[bytes]:
    return [record.value for record, _ in journal.read()]


def test_append_and_read_in_order(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append(_records(3))
    journal.append(_records(2, start=3))
    read = journal.read()
    assert [r.value for r, _ in read] == [f"value-{i}".encode() for i in range(5)]
    assert read[0][0] == _records(1)[0]
    assert read[-1][1] == journal.size
    assert (
        JournalRecord("t", None, b"v")
        == scan(encode_frame(JournalRecord("t", None, b"v"))).records[0]
    )


def test_torn_tail_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal(tmp_path, "a.journal")
    journal.append(_records(3))
    size = journal.size
    journal.close()
    with open(tmp_path / "a.journal", "ab") as handle:
        handle.write(encode_frame(_records(1, start=3)[0])[:-4])
    with caplog.at_level(logging.WARNING):
        reopened = Journal(tmp_path, "a.journal")
    assert "torn record" in caplog.text
    assert _values(reopened) == [f"value-{i}".encode() for i in range(3)]
    assert reopened.size == size
    reopened.append(_records(1, start=9))
    assert _values(reopened)[-1] == b"value-9"


def test_short_header_at_the_tail_is_torn(tmp_path: Path) -> None:
    data = encode_frame(_records(1)[0]) + b"\x00\x00"
    result = scan(data)
    assert result.torn_tail
    assert len(result.records) == 1


def test_corruption_in_the_middle_is_set_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    frames = [bytearray(encode_frame(r)) for r in _records(3)]
    frames[1][-1] ^= 0xFF
    (tmp_path / "b.journal").write_bytes(b"".join(frames))
    with caplog.at_level(logging.ERROR):
        journal = Journal(tmp_path, "b.journal")
    assert "corrupt at byte" in caplog.text
    assert journal.size == 0
    assert len(list(tmp_path.glob("b.corrupt-*"))) == 1


def test_a_held_journal_cannot_be_opened_twice(tmp_path: Path) -> None:
    held = Journal(tmp_path, "c.journal")
    with pytest.raises(JournalError, match="held by another process"):
        Journal(tmp_path, "c.journal")
    held.close()


def test_consume_and_prepend_keep_order(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append(_records(4))
    journal.consume(journal.read()[1][1])
    assert _values(journal) == [b"value-2", b"value-3"]
    journal.prepend(_records(2, start=10))
    assert _values(journal) == [b"value-10", b"value-11", b"value-2", b"value-3"]


def test_orphans_of_dead_processes_are_adopted(tmp_path: Path) -> None:
    dead = Journal(tmp_path, "dead.journal")
    dead.append(_records(2))
    dead._file.close()  # the process died: its lock is gone, its file stays
    live = Journal(tmp_path, "live.journal")
    held = Journal(tmp_path, "held.journal")
    held.append(_records(1, start=7))
    assert adopt_orphans(live) == 2
    assert _values(live) == [b"value-0", b"value-1"]
    assert not (tmp_path / "dead.journal").exists()
    assert (tmp_path / "held.journal").exists()


# --- the publisher -------------------------------------------------------------------------------


@pytest.fixture
def producer(monkeypatch: pytest.MonkeyPatch) -> ScriptedProducer:
    scripted = ScriptedProducer()
    monkeypatch.setattr(Publisher, "_new_producer", lambda self: scripted)
    return scripted


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_publisher_delivers_directly(
    settings_factory: Callable[..., Settings], producer: ScriptedProducer, tmp_path: Path
) -> None:
    publisher = Publisher(settings_factory(), Journal(tmp_path))
    publisher.submit(_records(5))
    assert publisher.close(5) is True
    assert [value for _, _, value in producer.delivered] == [r.value for r in _records(5)]
    assert publisher.stats.published == 5
    assert list(tmp_path.glob("*.journal")) == []


def test_publisher_journals_while_down_and_replays_in_order(
    settings_factory: Callable[..., Settings], producer: ScriptedProducer, tmp_path: Path
) -> None:
    producer.down = True
    journal = Journal(tmp_path)
    publisher = Publisher(settings_factory(sdk_buffer_size=4), journal, retry_interval_s=0.05)
    publisher.submit(_records(3))
    _wait_for(lambda: journal.size > 0)
    publisher.submit(_records(3, start=3))
    publisher.submit(_records(3, start=6))
    _wait_for(lambda: len(_values(journal)) == 9)
    assert _values(journal) == [r.value for r in _records(9)]
    assert producer.delivered == []
    producer.down = False
    _wait_for(lambda: journal.size == 0)
    assert [value for _, _, value in producer.delivered] == [r.value for r in _records(9)]
    assert publisher.close(5) is True


def test_publisher_places_session_records_by_their_session_key(
    settings_factory: Callable[..., Settings], producer: ScriptedProducer, tmp_path: Path
) -> None:
    keys = [session_key("agent", f"s-{i}") for i in range(12)]
    placed = [JournalRecord("t.events", b"k", b"v", (), key) for key in keys]
    publisher = Publisher(settings_factory(), Journal(tmp_path))
    publisher.submit([*placed, *_records(1)])
    assert publisher.close(5) is True
    assert producer.placed == [*(partition_for(key, 6) for key in keys), -1]
    assert len(set(producer.placed)) > 2


def test_publisher_journals_placed_records_until_the_cluster_gives_the_partition_count(
    settings_factory: Callable[..., Settings],
    producer: ScriptedProducer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(placement, "RETRY_LOOKUP_S", 0.05)
    producer.down = True
    journal = Journal(tmp_path)
    publisher = Publisher(settings_factory(), journal, retry_interval_s=0.05)
    record = JournalRecord("t.events", b"k", b"v", (), session_key("agent", "s-1"))
    publisher.submit([record])
    _wait_for(lambda: publisher.stats.failed_attempts >= 1)
    assert [r for r, _ in journal.read()] == [record]
    producer.down = False
    _wait_for(lambda: journal.size == 0)
    assert producer.placed[-1] == partition_for(session_key("agent", "s-1"), 6)
    assert publisher.close(5) is True


def test_journal_is_kept_until_every_record_is_acknowledged(
    settings_factory: Callable[..., Settings], producer: ScriptedProducer, tmp_path: Path
) -> None:
    journal = Journal(tmp_path)
    journal.append(_records(3))
    producer.down = True
    publisher = Publisher(settings_factory(), journal, retry_interval_s=60)
    _wait_for(lambda: publisher.stats.failed_attempts == 1)
    assert len(_values(journal)) == 3
    assert publisher.close(0.2) is False
    kept = list(tmp_path.glob("*.journal"))
    assert len(kept) == 1
    assert [r.value for r in scan(kept[0].read_bytes()).records] == [r.value for r in _records(3)]


def test_full_buffer_spills_to_the_journal_without_waiting(
    settings_factory: Callable[..., Settings], producer: ScriptedProducer, tmp_path: Path
) -> None:
    producer.down = True
    journal = Journal(tmp_path)
    publisher = Publisher(settings_factory(sdk_buffer_size=2), journal, retry_interval_s=60)
    started = time.monotonic()
    for i in range(50):
        publisher.submit(_records(1, start=i))
    assert time.monotonic() - started < 1.0
    _wait_for(lambda: publisher.pending == 0 and len(_values(journal)) == 50)
    assert _values(journal) == [r.value for r in _records(50)]
    publisher.close(0.1)


def test_consumed_prefix_is_dropped_from_the_file_on_close(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "d.journal")
    journal.append(_records(3))
    journal.consume(journal.read()[0][1])
    assert _values(journal) == [b"value-1", b"value-2"]
    journal.close()
    on_disk = scan((tmp_path / "d.journal").read_bytes()).records
    assert [r.value for r in on_disk] == [b"value-1", b"value-2"]


def test_consuming_everything_empties_the_file(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "e.journal")
    journal.append(_records(2))
    journal.consume(journal.read()[-1][1])
    assert journal.size == 0
    assert (tmp_path / "e.journal").stat().st_size == 0
    journal.append(_records(1, start=5))
    assert _values(journal) == [b"value-5"]
    journal.close()
    assert (tmp_path / "e.journal").exists()
