"""Placing a session's records: Kafka's murmur2 over the session key, cached partition counts."""

from __future__ import annotations

import os
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from alignment_flywheel.connectors.sdk.journal import JournalRecord, encode_frame, scan
from alignment_flywheel.events import VerdictIssued
from alignment_flywheel.kafka.placement import (
    RETRY_LOOKUP_S,
    PartitionCounts,
    metadata_lookup,
    murmur2,
    partition_for,
    session_key,
    session_key_of,
)
from tests.support.samples import (
    sample_events,
    sample_proposal_submitted,
    sample_runtime_events,
    sample_session_events,
)

# org.apache.kafka.common.utils.UtilsTest.testMurmur2 (the Java client's own vectors).
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("data", "expected"), sorted(JAVA_MURMUR2.items()))
def test_murmur2_gives_the_java_client_s_values(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


def test_murmur2_and_the_partition_agree_with_aiokafka_on_every_tail_length() -> None:
    partitioner = DefaultPartitioner()
    for size in range(40):
        data = os.urandom(size)
        assert murmur2(data) & 0xFFFFFFFF == aiokafka_murmur2(data)
        for count in (1, 3, 6, 7):
            assert partition_for(data, count) == partitioner(data, list(range(count)), None)


def test_a_topic_has_at_least_one_partition() -> None:
    with pytest.raises(ValueError, match="at least one partition"):
        partition_for(b"k", 0)


def test_the_session_key_is_proposer_zero_byte_session_for_every_session_record() -> None:
    assert session_key("agent-ä", "s-1") == "agent-ä".encode() + b"\x00s-1"
    submitted = sample_proposal_submitted(3)
    proposal = submitted.proposal
    expected = session_key(proposal.proposer_id, proposal.session_id)
    assert session_key_of(submitted) == expected
    for event in sample_session_events(proposal):
        assert session_key_of(event) == expected
    (verdict,) = [e for e in sample_runtime_events(proposal) if isinstance(e, VerdictIssued)]
    assert session_key_of(verdict) == expected


def test_events_of_other_kinds_are_left_to_their_key() -> None:
    for event in sample_events():
        kind = event.event_type()
        placed = session_key_of(event)
        wanted = {"ProposalSubmitted", "SessionStarted", "ToolResultObserved", "VerdictIssued"}
        assert (placed is not None) == (kind in wanted), kind


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_partition_count_is_looked_up_once_and_a_failure_retried_later() -> None:
    asked: list[str] = []
    answers: dict[str, int | None] = {"a": 6, "b": None}

    def lookup(topic: str) -> int | None:
        asked.append(topic)
        return answers[topic]

    clock = Clock()
    counts = PartitionCounts(lookup, clock)
    assert [counts.count("a"), counts.count("a")] == [6, 6]
    assert counts.partition("a", b"k") == partition_for(b"k", 6)
    assert counts.count("b") is None and counts.partition("b", b"k") is None
    assert asked == ["a", "b"]
    answers["b"] = 3
    clock.now += RETRY_LOOKUP_S / 2
    assert counts.count("b") is None
    clock.now += RETRY_LOOKUP_S
    assert counts.count("b") == 3
    assert asked == ["a", "b", "b"]


class MetadataClient:
    def __init__(self, partitions: int, error: Any = None, fail: bool = False) -> None:
        self.partitions, self.error, self.fail = partitions, error, fail

    def list_topics(self, topic: str, timeout: float) -> Any:
        if self.fail:
            raise RuntimeError("no broker")
        found = SimpleNamespace(error=self.error, partitions=dict.fromkeys(range(self.partitions)))
        return SimpleNamespace(topics={topic: found})


def test_the_metadata_lookup_counts_partitions_and_says_none_on_any_failure() -> None:
    assert metadata_lookup(MetadataClient(6), 1.0)("t") == 6
    assert metadata_lookup(MetadataClient(0), 1.0)("t") is None
    assert metadata_lookup(MetadataClient(6, error="UNKNOWN_TOPIC"), 1.0)("t") is None
    assert metadata_lookup(MetadataClient(6, fail=True), 1.0)("t") is None


def test_the_journal_keeps_the_partition_key_and_reads_frames_without_one() -> None:
    placed = JournalRecord("t", b"k", b"v", (("h", b"1"),), session_key("p", str(uuid.uuid4())))
    plain = JournalRecord("topic", None, b"value")
    records = scan(encode_frame(placed) + encode_frame(plain)).records
    assert records == (placed, plain)
    long_key = JournalRecord("t", b"k", b"v", (), b"x" * 70_000)
    assert scan(encode_frame(long_key)).records == (long_key,)
