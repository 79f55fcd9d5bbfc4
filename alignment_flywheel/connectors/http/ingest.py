"""Fire-and-forget proposals: produced to the proposals topic for the gate to decide.

Rules:

* The record is a ``ProposalSubmitted`` keyed by the proposal id, *without* the
  ``flywheel-decided-by`` header: the gate decides it. It goes to the partition of its session
  (:mod:`alignment_flywheel.kafka.placement`), where the session's events are, so the gate
  decides it in the session's context; the topic's partition count is read from the cluster once
  (at most :data:`METADATA_TIMEOUT_S`, then cached). While the cluster has not given it, a
  proposal is refused with :class:`IngestBufferFull` (503, retry later), never misplaced.
* :meth:`ProposalIngest.submit` never waits on the broker: it hands the record to the producer's
  local queue (``settings.sdk_buffer_size`` records at most) and returns. When that queue is full it
  serves delivery reports for at most ``max_block_s`` and then raises :class:`IngestBufferFull`
  (503): the caller should retry later. Nothing is journaled; the caller was told it failed.
* Delivery is acknowledged asynchronously (``acks=all``, idempotent producer); a record Kafka
  refuses after its retries is counted in ``failed`` and logged, never retried by the endpoint.
* With ``publish=False`` (dry runs, unit tests) proposals are validated and dropped. Otherwise the
  Kafka producer is created on the first proposal, so an endpoint that only decides has none.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol, cast

from confluent_kafka import KafkaError, Message, Producer

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.http.errors import IngestBufferFull
from alignment_flywheel.connectors.sdk.journal import JournalRecord
from alignment_flywheel.kafka.placement import PartitionCounts, metadata_lookup
from alignment_flywheel.kafka.producer import producer_config

log = logging.getLogger(__name__)

DEFAULT_MAX_BLOCK_S = 0.25
METADATA_TIMEOUT_S = 2.0
UNASSIGNED = -1


class KafkaProducer(Protocol):
    """The part of confluent-kafka's Producer the ingest uses."""

    def produce(self, topic: str, **kwargs: Any) -> None: ...

    def list_topics(self, topic: str, timeout: float) -> Any: ...

    def poll(self, timeout: float = ...) -> int: ...

    def flush(self, timeout: float = ...) -> int: ...

    def __len__(self) -> int: ...


class ProposalIngest:
    """Hands fire-and-forget proposals to Kafka. Thread-safe."""

    def __init__(
        self,
        settings: Settings,
        *,
        publish: bool = True,
        producer: KafkaProducer | None = None,
        max_block_s: float = DEFAULT_MAX_BLOCK_S,
    ) -> None:
        self._settings = settings
        self._publish = publish or producer is not None
        self._max_block_s = max_block_s
        self._producer = producer
        self._lock = threading.Lock()
        self._counts = PartitionCounts(self._lookup)
        self.delivered = 0
        self.failed = 0

    @property
    def enabled(self) -> bool:
        return self._publish

    @property
    def queued(self) -> int:
        """Records (and Kafka protocol requests) in the producer's queue, not yet acknowledged."""
        producer = self._producer
        return 0 if producer is None else len(producer)

    def _kafka(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                overrides = {"queue.buffering.max.messages": self._settings.sdk_buffer_size}
                config = producer_config(self._settings, overrides)
                self._producer = cast(KafkaProducer, Producer(config))
            return self._producer

    def _lookup(self, topic: str) -> int | None:
        return metadata_lookup(self._kafka(), METADATA_TIMEOUT_S)(topic)

    def _partition(self, record: JournalRecord) -> int:
        """The record's partition (by its session); IngestBufferFull while it is not known."""
        if record.partition_key is None:
            return UNASSIGNED
        partition = self._counts.partition(record.topic, record.partition_key)
        if partition is None:
            raise IngestBufferFull(
                f"the cluster has not given the partition count of {record.topic} (a proposal "
                "goes to its session's partition); retry later"
            )
        return partition

    def submit(self, record: JournalRecord) -> None:
        """Queue one record; IngestBufferFull when the local queue stays full."""
        if not self._publish:
            return
        producer = self._kafka()
        partition = self._partition(record)
        deadline = time.monotonic() + self._max_block_s
        while True:
            try:
                producer.produce(
                    record.topic,
                    value=record.value,
                    key=record.key,
                    partition=partition,
                    headers=list(record.headers),
                    on_delivery=self._on_delivery,
                )
                break
            except BufferError:
                if time.monotonic() >= deadline:
                    raise IngestBufferFull(
                        f"the local Kafka buffer is full ({self.queued} proposals waiting for the "
                        "broker); retry later"
                    ) from None
                producer.poll(0.02)
        producer.poll(0)

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        with self._lock:
            if err is None:
                self.delivered += 1
                return
            self.failed += 1
        log.error("a fire-and-forget proposal was not delivered to Kafka: %s", err.str())

    def close(self, timeout: float = 30.0) -> bool:
        """Wait up to ``timeout`` for outstanding deliveries; True if none is left."""
        if self._producer is None:
            return True
        return self._producer.flush(timeout) == 0
