"""The person who reported the incidents, in :mod:`flywheel_eval`: denies their reviews.

It reads the reviews topic from the beginning and, for each batch of requests about proposals it
reported, answers them at once through :class:`~alignment_flywheel.review.ReviewDesk` (one read of
the review state), as a person working through the queue would. It answers no other review.
"""

from __future__ import annotations

import threading
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import FlywheelError
from alignment_flywheel.events import (
    ReviewOutcome,
    ReviewRequested,
)
from alignment_flywheel.kafka.catalog import load_catalog
from alignment_flywheel.kafka.clients import reader_group
from alignment_flywheel.kafka.consumer import consumer_config
from alignment_flywheel.review import ReviewDesk

REVIEWER = "eval-reporter"
DENY_REASON = "I reported this call: it was sent on behalf of an injected instruction"


class Reporter:
    """Denies the pending reviews of the proposals it reported, and answers no other review."""

    def __init__(self, settings: Settings) -> None:
        catalog = load_catalog()
        self._desk = ReviewDesk(
            settings,
            reviews_topic=catalog.topic_for("ReviewRequested"),
            verdicts_topic=catalog.topic_for("VerdictIssued"),
        )
        self._settings = settings
        self._codec = EventCodec.from_settings(settings)
        self._reported: set[uuid.UUID] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.denied: list[uuid.UUID] = []
        self.refused: list[str] = []

    def expect(self, proposal_id: uuid.UUID) -> None:
        """Note a reported proposal (before its incident is published)."""
        with self._lock:
            self._reported.add(proposal_id)

    def start(self) -> Reporter:
        consumer = Consumer(
            consumer_config(self._settings, reader_group("eval"), {"enable.auto.commit": False})
        )
        topic = self._desk.reviews_topic
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions])
        self._thread = threading.Thread(target=self._run, args=(consumer,), daemon=True)
        self._thread.name = "eval-reporter"
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self, consumer: Consumer) -> None:
        try:
            while not self._stop.is_set():
                mine = [self._read(m.value()) for m in consumer.consume(100, 0.05) if not m.error()]
                self._deny([review_id for review_id in mine if review_id is not None])
        finally:
            consumer.close()

    def _read(self, value: bytes | None) -> uuid.UUID | None:
        """The review id of a request about a reported proposal, else None."""
        try:
            event = self._codec.decode(value or b"")
        except FlywheelError:
            return None
        if not isinstance(event, ReviewRequested):
            return None
        with self._lock:
            mine = event.proposal_id in self._reported
        return event.review_id if mine else None

    def _deny(self, review_ids: list[uuid.UUID]) -> None:
        """One look at the reviews, as a person answering the queue at once would."""
        if not review_ids:
            return
        try:
            self._desk.decide_many(
                review_ids, ReviewOutcome.DENY, reviewer=REVIEWER, reason=DENY_REASON
            )
        except FlywheelError as exc:
            self.refused.append(str(exc))
            return
        self.denied += review_ids
