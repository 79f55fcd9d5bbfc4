"""Reading faust streams under the dead-letter and commit policy of the connectors.

Rules:

* **A record is acknowledged once handled.** faust commits the offsets of acknowledged records,
  and its own iterator acknowledges the current record in a ``finally``, which also runs when the
  agent raises (the iterator is closed as the worker stops, then faust commits): a record that
  was neither decided nor dead-lettered was committed. Agents therefore read with faust's acks
  off (:func:`unacknowledged`) and acknowledge a record themselves: :func:`handled` and
  :func:`decoded` when the agent asks for the next record (its outputs, sent with
  :func:`send_confirmed`, or its dead letter are confirmed by then), :class:`DeliveryAcks` when
  the outputs were sent without waiting (the gate), once the broker confirms them.
* **Bad input is dead-lettered, never dropped.** Processors consume raw bytes and decode them
  here, not in faust's deserializer: a record that does not decode, or that is a valid event of a
  type its topic's catalog entry does not list (:func:`expected_on`, :class:`UnexpectedEventError`),
  goes to the dead-letter topic with its position and the reason, and the stream goes on. Types
  the topic carries but an agent ignores are the agent's to pass over.
* **A dead letter always fits.** :class:`DeadLetterWriter` sends the original bytes when the
  letter fits the producer's request limit, else a bounded excerpt with the original's length and
  SHA-256 (:func:`~alignment_flywheel.kafka.deadletter.fit_dead_letter`), and the smallest
  excerpt when the broker refuses it for its size. Any other failure to deliver it is a
  :class:`~alignment_flywheel.errors.KafkaTransportError`: the worker stops with the record
  unacknowledged, and a restart reads it again (a broker that refuses is not bad input).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import cache, partial
from typing import Any, Self

from faust.exceptions import ProducerSendError

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.errors import InvalidInputError, KafkaTransportError
from alignment_flywheel.events import Event
from alignment_flywheel.kafka.deadletter import (
    MIN_EXCERPT_BYTES,
    dead_letter_for,
    excerpt_of,
    fit_dead_letter,
)
from alignment_flywheel.processors.codec import FaustEventCodec
from alignment_flywheel.roles import catalog

log = logging.getLogger(__name__)
_TOO_LARGE = frozenset({10, 18})
"""Kafka's error codes MESSAGE_TOO_LARGE and RECORD_LIST_TOO_LARGE (aiokafka's ``errno``)."""


def raw_topic(app: Any, name: str) -> Any:
    """A topic read and written as raw bytes (decoded here, so bad records can be dead-lettered)."""
    return app.topic(name, value_serializer="raw", key_serializer="raw")


def event_topic(app: Any, name: str, codec: EventCodec) -> Any:
    """A topic a worker sends events to: values encoded by ``codec``, keys as raw bytes."""
    return app.topic(name, value_serializer=FaustEventCodec(codec), key_serializer="raw")


async def send_confirmed(topic: Any, event: Event, encoded: bytes | None = None) -> None:
    """Publish ``event`` (or its ``encoded`` bytes) on a faust topic, keyed by its envelope key;
    return once the broker has acknowledged it."""
    value: Event | bytes = event if encoded is None else encoded
    pending = await topic.send(key=event.envelope.key.encode(), value=value)
    await pending


class UnexpectedEventError(InvalidInputError):
    """A valid event of a type that its input topic's catalog entry does not list."""


@dataclass(frozen=True)
class Expected:
    """The event types an input may carry: those of the catalog topic whose role it plays."""

    role: str
    events: frozenset[str]

    def check(self, event: Event, message: Any) -> None:
        """Raise :class:`UnexpectedEventError` unless ``event`` is of a listed type."""
        if event.event_type() not in self.events:
            listed = ", ".join(sorted(self.events)) or "nothing"
            raise UnexpectedEventError(
                f"a {event.event_type()} on {message.topic}, which carries only {listed} "
                f"(the catalog's {self.role})"
            )


@cache
def expected_on(role: str) -> Expected:
    """What the catalog topic ``role`` (e.g. ``flywheel.findings``) carries; a worker's input
    plays that role whatever it is named."""
    return Expected(role, frozenset(catalog().topic(role).events))


class DeadLetterWriter:
    """Publishes DeadLettered events to a faust topic and waits for the broker's acknowledgement.

    ``max_bytes`` is the producer's request limit (faust's ``producer_max_request_size`` unless
    given); a letter is fitted to it (see the module rules)."""

    def __init__(
        self,
        topic: Any,
        codec: EventCodec,
        *,
        producer: str,
        group: str,
        max_bytes: int | None = None,
    ) -> None:
        self._topic = topic
        self._codec = codec
        self._producer = producer
        self._group = group
        self._max_bytes = max_bytes or int(topic.app.conf.producer_max_request_size)
        self.count = 0

    @classmethod
    def on(cls, app: Any, name: str, codec: EventCodec, *, producer: str, group: str) -> Self:
        """A writer to ``app``'s topic ``name``, read and written as raw bytes."""
        return cls(raw_topic(app, name), codec, producer=producer, group=group)

    async def publish(self, message: Any, error: BaseException) -> None:
        letter = dead_letter_for(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            error=error,
            producer=self._producer,
            consumer_group=self._group,
        )
        log.warning("dead-lettering %s: %s", letter.envelope.key, error)
        key = letter.envelope.key.encode()
        try:
            await self._send(key, fit_dead_letter(self._codec, letter, self._max_bytes))
        except KafkaTransportError as exc:
            if getattr(exc.__cause__, "errno", None) not in _TOO_LARGE:
                raise
            log.warning(
                "the broker refused the dead letter of %s for its size", letter.envelope.key
            )
            await self._send(key, self._codec.encode(excerpt_of(letter, MIN_EXCERPT_BYTES)))
        self.count += 1

    async def _send(self, key: bytes, value: bytes) -> None:
        try:
            pending = await self._topic.send(key=key, value=value)
            await pending
        except Exception as exc:  # the letter is encoded already: what fails is the sending
            cause = exc.__cause__ if isinstance(exc, ProducerSendError) else exc
            raise KafkaTransportError(f"a dead letter was not delivered: {exc!r}") from cause


def _without_acks(stream: Any) -> Any:
    """The stream with faust's automatic acks off; a stand-in without ``noack`` (a test's) as is."""
    noack = getattr(stream, "noack", None)
    return stream if noack is None else noack()


def unacknowledged(stream: Any) -> AsyncIterator[Any]:
    """The events of a faust stream, never acknowledged by faust (see the module rules)."""
    events: AsyncIterator[Any] = _without_acks(stream).events()
    return events


async def handled(stream: Any) -> AsyncIterator[Any]:
    """Each event of a faust stream, acknowledged when the caller asks for the next one: never
    when the caller raises on it."""
    manual = _without_acks(stream)
    ack = getattr(manual, "ack", None)
    async for event in manual.events():
        yield event
        if ack is not None:
            await ack(event)


async def _messages(stream: Any) -> AsyncIterator[Any]:
    """The messages of a faust stream that have a value, acknowledged like :func:`handled`."""
    async for record in handled(stream):
        if record.message.value is not None:
            yield record.message


def _decode(codec: EventCodec, message: Any, expected: Expected | None) -> Event:
    event = codec.decode(message.value)
    if expected is not None:
        expected.check(event, message)
    return event


async def decoded(
    stream: Any,
    codec: EventCodec,
    dead_letters: DeadLetterWriter,
    expected: Expected | None = None,
) -> AsyncIterator[Event]:
    """Yield each record of a raw faust stream as an Event, acknowledged like :func:`handled`;
    dead-letter what does not decode, or (given ``expected``) is of a type the topic does not
    carry."""
    async for message in _messages(stream):
        try:
            event = _decode(codec, message, expected)
        except InvalidInputError as exc:
            await dead_letters.publish(message, exc)
            continue
        yield event


def stepping(
    codec: EventCodec,
    dead_letters: DeadLetterWriter,
    expected: Expected,
    handle: Callable[[Event], Awaitable[None]],
) -> Callable[[Any], Awaitable[None]]:
    """An agent that hands each event of its input, decoded as :func:`decoded` does, to
    ``handle`` (which steps the role's core, sends and applies the writes). A record whose step
    raises :class:`~alignment_flywheel.errors.InvalidInputError` (before sending anything) is
    dead-lettered like one that does not decode."""

    async def consume(stream: Any) -> None:
        async for message in _messages(stream):
            try:
                await handle(_decode(codec, message, expected))
            except InvalidInputError as exc:
                await dead_letters.publish(message, exc)

    return consume


@dataclass
class _Pending:
    event: Any
    remaining: int
    failed: bool = False


class DeliveryAcks:
    """Acknowledges records whose outputs were sent without waiting, once the broker confirms them.

    Acks go in offset order per partition: a record is acknowledged once its deliveries and those
    of every record before it on its partition are confirmed (faust commits up to the first
    unacknowledged offset, but not reliably when that is the first of its list). A failed or
    cancelled delivery is kept in ``failure`` and blocks its partition: the worker stops at its
    next record (:meth:`check`) and nothing from the failed record on is committed.
    """

    def __init__(self) -> None:
        self._queues: dict[Any, deque[_Pending]] = {}
        self.failure: BaseException | None = None

    def track(self, event: Any, deliveries: Iterable[asyncio.Future[Any]]) -> None:
        """Acknowledge ``event`` once every one of ``deliveries`` (maybe none) is confirmed."""
        futures = list(deliveries)
        queue = self._queues.setdefault(event.message.tp, deque())
        entry = _Pending(event, len(futures))
        queue.append(entry)
        for future in futures:
            future.add_done_callback(partial(self._delivered, queue, entry))
        self._drain(queue)

    def check(self) -> None:
        """Raise :class:`KafkaTransportError` once a delivery has failed."""
        if self.failure is not None:
            raise KafkaTransportError(
                f"a verdict or review was not delivered: {self.failure!r}"
            ) from self.failure

    def _delivered(
        self, queue: deque[_Pending], entry: _Pending, done: asyncio.Future[Any]
    ) -> None:
        error = asyncio.CancelledError() if done.cancelled() else done.exception()
        if error is not None:
            log.error("a record's output was not delivered: %r", error)
            entry.failed = True
            self.failure = self.failure or error
            return
        entry.remaining -= 1
        self._drain(queue)

    @staticmethod
    def _drain(queue: deque[_Pending]) -> None:
        while queue and queue[0].remaining == 0 and not queue[0].failed:
            queue.popleft().event.ack()
