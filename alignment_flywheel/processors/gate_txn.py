"""The gate's transactional producer: begin, send, commit with the input offsets, abort.

Rules:

* A call the broker does not answer in time, or answers with a retriable error, is asked again,
  forever, with a log line when the cluster is lost and one when it answers again
  (:class:`Health`): a worker that loses its brokers waits for them, visibly, and carries on.
* An error that requires an abort (``txn_requires_abort``) makes :meth:`Transactions.commit`
  raise; the caller aborts (:meth:`Transactions.abort`) and rewinds.
* A fatal error (the producer was fenced, or its state is lost) is a
  :class:`~alignment_flywheel.errors.KafkaTransportError` that stops the worker: the process
  supervisor restarts it; nothing restarts silently.
* A transactional call that does not return within :data:`STALL_S` (librdkafka may wait forever
  for a group coordinator it cached before a broker restart, whatever the call's timeout: issues
  confluentinc/librdkafka#5456 and #5511) cannot be interrupted: the watchdog logs it and ends the
  process with :data:`EXIT_STALLED`, so the supervisor starts a fresh worker. Its open transaction
  is aborted by the broker; nothing decided in it is visible.
* A batch is committed by :meth:`Transactions.submit` on one background thread, while the caller
  handles the next batch (:class:`Pending`): begin, the input offsets first (a transaction's first
  request to the coordinator waits there, retried every ``retry.backoff.ms``, while the previous
  transaction's markers are written; partitions registered first would wait a fixed 20 ms in
  librdkafka), then the records, then the commit. One transaction at a time: the caller settles
  the pending one (:meth:`Pending.settle`) before it submits the next or aborts.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import KafkaTransportError
from alignment_flywheel.roles import transactional_prefix_for

log = logging.getLogger(__name__)
T = TypeVar("T")
CALL_TIMEOUT_S = 10.0
TRANSACTIONAL_ID_PREFIX = transactional_prefix_for("gate")
TRANSACTION_TIMEOUT_MS = 10_000
RETRY_PAUSE_S = 0.5
STALL_S = 3 * CALL_TIMEOUT_S
EXIT_STALLED = 75
REPORT_EVERY_S = 10.0
RETRY_BACKOFF_MS = 2
RETRY_BACKOFF_MAX_MS = 10
_LOST = frozenset({KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE})
Send = tuple[str, bytes, bytes | None, int | None]
"""A record to send in a transaction: topic, key, value, partition (None: the partitioner's)."""


def _delivered(_error: KafkaError | None, _msg: Any) -> None:
    """A delivery report wakes the commit's flush as soon as the broker answered (a failed
    delivery fails the transaction's commit)."""


def group_timeouts(settings: Settings) -> dict[str, int]:
    """The consumer-group timeouts the settings set (``worker_*_s``) as librdkafka settings; the
    rebalance timeout is librdkafka's ``max.poll.interval.ms``."""
    names = {
        "session.timeout.ms": settings.worker_session_timeout_s,
        "heartbeat.interval.ms": settings.worker_heartbeat_interval_s,
        "max.poll.interval.ms": settings.worker_rebalance_timeout_s,
    }
    return {name: int(value * 1000) for name, value in names.items() if value is not None}


def transactional_id() -> str:
    """A fresh transactional id under the prefix the gate's principal may use."""
    return f"{TRANSACTIONAL_ID_PREFIX}-{uuid.uuid4().hex[:16]}"


def transactional_overrides() -> dict[str, Any]:
    """What the gate's producer adds to the project's producer configuration: a fresh
    transactional id, the transaction timeout, a short retry backoff that does not grow (a
    transaction's first requests are refused while the previous one's markers are written; the
    default backoff doubles up to a second) and a delivery callback (so the commit's flush wakes as
    soon as the broker answers)."""
    return {
        "transactional.id": transactional_id(),
        "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
        "linger.ms": 1,
        "retry.backoff.ms": RETRY_BACKOFF_MS,
        "retry.backoff.max.ms": RETRY_BACKOFF_MAX_MS,
        "on_delivery": _delivered,
    }


def kafka_error(exc: KafkaException) -> KafkaError | None:
    error = exc.args[0] if exc.args else None
    return error if isinstance(error, KafkaError) else None


class Health:
    """Whether the cluster answers; logs each change (see the module rules)."""

    def __init__(self) -> None:
        self.lost_since: float | None = None
        self.fatal: KafkaError | None = None
        self._reported = time.monotonic()

    def on_error(self, error: KafkaError) -> None:
        """librdkafka's ``error_cb``: notes lost brokers and fatal errors."""
        if error.fatal():
            self.fatal = error
        elif error.code() in _LOST:
            self.lost(error.str())

    def lost(self, reason: str) -> None:
        if self.lost_since is None:
            self.lost_since = time.monotonic()
            log.warning("gate: lost the Kafka cluster (%s); retrying until it answers", reason)

    def still_lost(self, reason: str) -> None:
        """Log, at most every :data:`REPORT_EVERY_S`, that the worker is still waiting."""
        now = time.monotonic()
        if now - self._reported >= REPORT_EVERY_S:
            self._reported = now
            log.warning("gate: still waiting for the Kafka cluster (%s)", reason)

    def answered(self) -> None:
        if self.lost_since is not None:
            away = time.monotonic() - self.lost_since
            self.lost_since = None
            log.warning("gate: the Kafka cluster answers again after %.1f s; deciding", away)

    def check(self) -> None:
        if self.fatal is not None:
            raise KafkaTransportError(f"the gate's Kafka client failed fatally: {self.fatal.str()}")

    def retrying(self, what: str, call: Callable[[], T]) -> T:
        """``call()``, asked again while it fails with a retriable error."""
        while True:
            self.check()
            try:
                result = watched(what, call)
            except KafkaException as exc:
                error = kafka_error(exc)
                if error is None or error.fatal() or not _retriable(error):
                    raise
                self.lost(f"{what}: {error.str()}")
                self.still_lost(f"{what}: {error.str()}")
                time.sleep(RETRY_PAUSE_S)
                continue
            self.answered()
            return result


def watched(what: str, call: Callable[[], T], stall_s: float = STALL_S) -> T:
    """``call()``; if it has not returned after ``stall_s``, the process ends (module rules)."""
    timer = threading.Timer(stall_s, _stalled, args=(what, stall_s))
    timer.daemon = True
    timer.start()
    try:
        return call()
    finally:
        timer.cancel()


def _stalled(what: str, stall_s: float) -> None:
    log.critical(
        "gate: the Kafka client has not returned from '%s' for %.0f s (a known librdkafka hang "
        "after a coordinator restart); exiting with status %d so that a fresh worker takes over",
        what,
        stall_s,
        EXIT_STALLED,
    )
    logging.shutdown()
    os._exit(EXIT_STALLED)


def _retriable(error: KafkaError) -> bool:
    if error.txn_requires_abort():
        return False
    return bool(error.retriable()) or error.code() in (KafkaError._TIMED_OUT, *_LOST)


class Transactions:
    """One transactional producer (``transactional.id`` set in its configuration)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.health = Health()
        self.producer = Producer({**config, "error_cb": self.health.on_error})
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="gate-commit")

    def init(self) -> None:
        self.health.retrying(
            "init transactions", lambda: self.producer.init_transactions(CALL_TIMEOUT_S)
        )

    def begin(self) -> None:
        self.health.check()
        self.producer.begin_transaction()

    def send(self, topic: str, key: bytes, value: bytes | None, partition: int | None) -> None:
        """Queue one record in the open transaction (serving the queue while it is full)."""
        options: dict[str, Any] = {} if partition is None else {"partition": partition}
        while True:
            try:
                self.producer.produce(topic, value=value, key=key, **options)
                return
            except BufferError:
                self.producer.poll(0.05)

    def submit(
        self, sends: Sequence[Send], offsets: list[TopicPartition], group_metadata: Any
    ) -> Pending:
        """Commit a batch on the background thread: begin, the offsets, the records, commit."""
        return Pending(self._committer.submit(self._transact, sends, offsets, group_metadata))

    def _transact(
        self, sends: Sequence[Send], offsets: list[TopicPartition], group_metadata: Any
    ) -> None:
        self.begin()
        self.health.retrying(
            "send the offsets",
            lambda: self.producer.send_offsets_to_transaction(
                offsets, group_metadata, CALL_TIMEOUT_S
            ),
        )
        for topic, key, value, partition in sends:
            self.send(topic, key, value, partition)
        self.health.retrying(
            "commit the transaction", lambda: self.producer.commit_transaction(CALL_TIMEOUT_S)
        )

    def close(self) -> None:
        self._committer.shutdown(wait=True)

    def abort(self, cause: KafkaException) -> None:
        """Abort the open transaction after ``cause``; fatal causes stop the worker."""
        error = kafka_error(cause)
        if error is None or error.fatal():
            raise KafkaTransportError(f"the gate's transaction failed fatally: {cause}") from cause
        log.warning("gate: aborting a transaction (%s); deciding its records again", error.str())
        self.health.retrying(
            "abort the transaction", lambda: self.producer.abort_transaction(CALL_TIMEOUT_S)
        )


class Pending:
    """A batch's transaction committing on the background thread."""

    def __init__(self, future: Future[None]) -> None:
        self._future = future

    def done(self) -> bool:
        return self._future.done()

    def settle(self) -> KafkaException | None:
        """Wait for the commit; the KafkaException that failed it (the caller aborts), or None.
        Any other error (fatal: :class:`KafkaTransportError`) is raised."""
        try:
            self._future.result()
        except KafkaException as exc:
            return exc
        return None
