"""Where the records of an agent session go: one partition number for all of them, by session.

Rules (docs/events.md, "Partitions"; docs/ingest.md for producers outside the project):

* The **session key** of a record is the UTF-8 bytes of ``proposer_id + "\\x00" + session_id``
  (:func:`session_key`), the pair the SDK's session store keys a session by: a proposal
  (``ProposalSubmitted``), the session's events (``SessionStarted``, ``ToolResultObserved``) and
  a verdict (``VerdictIssued``) all carry both ids (:func:`session_key_of`).
* The partition is Kafka's default partitioner over that key, as the Java client computes it:
  ``(murmur2(key) & 0x7fffffff) % partitions`` (:func:`murmur2`, :func:`partition_for`), with
  ``partitions`` the topic's partition count, read once from the cluster's metadata and cached
  (:class:`PartitionCounts`).
* The record's **key** does not change (the proposal id, the session id): only the partition is
  chosen explicitly. So every record of one session lands on the same partition number of the
  proposals and the verdicts topics (same partition counts), and the gate folds a session's events
  on the partition that holds its proposals.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from aiokafka.partitioner import murmur2 as kafka_murmur2

from alignment_flywheel.events import (
    Event,
    ProposalSubmitted,
    SessionStarted,
    ToolResultObserved,
    VerdictIssued,
)

RETRY_LOOKUP_S = 5.0
"""How long a failed partition-count lookup is not asked again (callers retry later)."""


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of ``data`` (``org.apache.kafka.common.utils.Utils.murmur2``, as
    aiokafka's partitioner computes it), as the signed 32-bit integer Java returns."""
    h = int(kafka_murmur2(data))
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` among ``partitions``."""
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def session_key(proposer_id: str, session_id: str) -> bytes:
    """The bytes a session's records are placed by (see the module rules)."""
    return f"{proposer_id}\x00{session_id}".encode()


def session_key_of(event: Event) -> bytes | None:
    """The session key of a proposal, session event or verdict; None for other events."""
    if isinstance(event, ProposalSubmitted):
        return session_key(event.proposal.proposer_id, event.proposal.session_id)
    if isinstance(event, SessionStarted | ToolResultObserved | VerdictIssued):
        return session_key(event.proposer_id, event.session_id)
    return None


Lookup = Callable[[str], int | None]
"""Asks the cluster for a topic's partition count; None when it does not say."""


class PartitionCounts:
    """Partition counts by topic: looked up once (``lookup``) and cached. Thread-safe.

    A failed lookup (None) is not repeated for :data:`RETRY_LOOKUP_S` seconds; meanwhile
    :meth:`count` answers None and the caller decides (retry, refuse).
    """

    def __init__(self, lookup: Lookup, clock: Callable[[], float] = time.monotonic) -> None:
        self._lookup = lookup
        self._clock = clock
        self._counts: dict[str, int] = {}
        self._failed: dict[str, float] = {}
        self._lock = threading.Lock()

    def count(self, topic: str) -> int | None:
        """The topic's partition count, or None when the cluster has not told it (yet)."""
        with self._lock:
            known = self._counts.get(topic)
            failed = self._failed.get(topic)
        if known is not None:
            return known
        if failed is not None and self._clock() - failed < RETRY_LOOKUP_S:
            return None
        found = self._lookup(topic)
        with self._lock:
            if found is None or found < 1:
                self._failed[topic] = self._clock()
                return None
            self._counts[topic] = found
            self._failed.pop(topic, None)
        return found

    def partition(self, topic: str, key: bytes) -> int | None:
        """The partition of ``key`` on ``topic``, or None when its count is not known."""
        count = self.count(topic)
        return None if count is None else partition_for(key, count)


class MetadataClient(Protocol):
    """The part of a confluent-kafka client (producer, consumer, admin) a lookup uses."""

    def list_topics(self, topic: str, timeout: float) -> Any: ...


def metadata_lookup(client: MetadataClient, timeout_s: float) -> Lookup:
    """A :data:`Lookup` through a confluent-kafka client's ``list_topics``."""

    def lookup(topic: str) -> int | None:
        try:
            metadata = client.list_topics(topic, timeout=timeout_s)
        except Exception:  # any failure (KafkaException, timeout) means "not known yet"
            return None
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            return None
        return len(found.partitions)

    return lookup
