"""Waiting for a human's answer to an escalated proposal, by following the reviews topic.

Rules:

* The waiter reads every partition of the reviews topic with manual assignment (no consumer group,
  nothing committed) and returns the first ``ReviewDecided`` whose ``proposal_id`` matches.
  Records that are not a matching ``ReviewDecided``, and records that cannot be decoded, are
  passed over (the gate and the review tools own dead-lettering of that topic).
* No race with the reviewer: :meth:`ReviewWaiter.at_end` positions at the current end *before*
  the escalation is published; :meth:`ReviewWaiter.since` positions at the first record written
  at or after a timestamp (the decision time minus :data:`CLOCK_SKEW_S`), for an escalation that
  was already published.
* A broker that cannot be reached raises :class:`~alignment_flywheel.errors.KafkaTransportError`;
  the guard turns that into a denial (fail closed).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime

from confluent_kafka import OFFSET_END, Consumer, KafkaException, TopicPartition

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import CodecError, KafkaTransportError
from alignment_flywheel.events import ReviewDecided
from alignment_flywheel.kafka.clients import reader_group
from alignment_flywheel.kafka.consumer import consumer_config, watermarks

log = logging.getLogger(__name__)

CLOCK_SKEW_S = 60.0
"""How far before the decision time a waiter started after publishing reads back."""


class ReviewWaiter:
    """A consumer of the reviews topic looking for one proposal's ReviewDecided."""

    def __init__(self, settings: Settings, codec: EventCodec, topic: str, timeout_s: float) -> None:
        self._codec = codec
        self._topic = topic
        self._timeout_s = max(min(timeout_s, 10.0), 0.5)
        config = consumer_config(settings, reader_group("review"), {"enable.auto.commit": False})
        self._consumer = Consumer(config)

    @classmethod
    def at_end(
        cls, settings: Settings, codec: EventCodec, topic: str, timeout_s: float
    ) -> ReviewWaiter:
        """A waiter that sees every review decided from now on."""
        waiter = cls(settings, codec, topic, timeout_s)
        waiter._assign(None)
        return waiter

    @classmethod
    def since(
        cls, settings: Settings, codec: EventCodec, topic: str, timeout_s: float, when: datetime
    ) -> ReviewWaiter:
        """A waiter that sees every review decided since ``when`` (minus the clock skew)."""
        waiter = cls(settings, codec, topic, timeout_s)
        waiter._assign(int((when.timestamp() - CLOCK_SKEW_S) * 1000))
        return waiter

    def _assign(self, since_ms: int | None) -> None:
        try:
            partitions = self._partitions()
            ends = [self._high_watermark(p) for p in partitions]
            if since_ms is not None:
                asked = [TopicPartition(self._topic, p, since_ms) for p in partitions]
                found = self._consumer.offsets_for_times(asked, timeout=self._timeout_s)
                pairs = zip(found, ends, strict=True)
                ends = [tp.offset if tp.offset >= 0 else end for tp, end in pairs]
            self._consumer.assign(
                [TopicPartition(self._topic, p, o) for p, o in zip(partitions, ends, strict=True)]
            )
        except KafkaException as exc:
            self.close()
            raise KafkaTransportError(
                f"cannot follow reviews on {self._topic!r}: {exc.args[0]}"
            ) from exc

    def _partitions(self) -> list[int]:
        metadata = self._consumer.list_topics(self._topic, timeout=self._timeout_s)
        topic = metadata.topics.get(self._topic)
        if topic is None or topic.error is not None or not topic.partitions:
            reason = "unknown topic" if topic is None else str(topic.error or "no partitions")
            raise KafkaTransportError(f"cannot follow reviews on {self._topic!r}: {reason}")
        return sorted(topic.partitions)

    def _high_watermark(self, partition: int) -> int:
        tp = TopicPartition(self._topic, partition, OFFSET_END)
        _low, high = watermarks(self._consumer, tp, self._timeout_s)
        return int(high)

    def wait(self, proposal_id: uuid.UUID, timeout_s: float) -> ReviewDecided | None:
        """The review decision for ``proposal_id``, or None if none came within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            msg = self._consumer.poll(min(remaining, 0.2))
            value = None if msg is None or msg.error() is not None else msg.value()
            if value is None:
                continue
            try:
                event = self._codec.decode(value)
            except CodecError as exc:
                log.warning("passing over an undecodable record on %s: %s", self._topic, exc)
                continue
            if isinstance(event, ReviewDecided) and event.proposal_id == proposal_id:
                return event
        return None

    def close(self) -> None:
        self._consumer.close()
