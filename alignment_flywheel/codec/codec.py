"""The event codec shared by the confluent-kafka connectors and the faust processors.

Writing: an event is encoded with the *current* schema of its type, behind the header of the framing
strategy (Avro single-object encoding by default, Confluent Schema Registry framing when
``schema_registry_url`` is set; see :mod:`alignment_flywheel.codec.framing`).

Reading: the header names the writer schema, which must be one of the kept versions (the history
snapshots, or the current schema); the body is read with it and resolved into the current reader
schema by the Avro rules (fields added since get their defaults, unknown enum symbols the enum
default). Bodies written with the current schema take the compiled fast path; older versions are
resolved by fastavro.

Two levels: ``encode_record``/``decode_record`` work on plain dicts (the fast path; see
:mod:`alignment_flywheel.codec.compiler` for the Python values), ``encode``/``decode`` on the
pydantic models of :mod:`alignment_flywheel.events`, validated both ways.

Every failure is a :class:`~alignment_flywheel.errors.CodecError`: malformed bytes, an unknown
writer schema, a record that violates its schema, or an event larger than its limit, in either
direction. The limit is ``max_event_bytes``, except for ``DeadLettered`` events, which carry the
original bytes of a rejected record (possibly itself oversized) and are held to
``max_dead_letter_bytes``. Only a Schema Registry outage raises
:class:`~alignment_flywheel.errors.TransportError`.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fastavro import parse_schema, schemaless_reader
from pydantic import ValidationError

from alignment_flywheel.codec.binary import FieldError
from alignment_flywheel.codec.compiler import Encoder, compile_schema, compile_spans
from alignment_flywheel.codec.framing import (
    Framing,
    RegistryFraming,
    SingleObjectFraming,
    registry_client_for,
)
from alignment_flywheel.codec.repository import SchemaRepository, SchemaVersion
from alignment_flywheel.codec.spans import Spans
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import (
    CodecError,
    MalformedEventError,
    OversizedEventError,
    SchemaViolationError,
    UnknownSchemaError,
)
from alignment_flywheel.events import EVENT_TYPES, Event
from alignment_flywheel.resources import SCHEMAS_DIR

BodyDecoder = Callable[[bytes, int], tuple[dict[str, Any], int]]
_TRUNCATION = (IndexError, struct.error, EOFError)


@lru_cache(maxsize=1)
def default_repository() -> SchemaRepository:
    """The repository of the packaged contract, read once per process."""
    return SchemaRepository(SCHEMAS_DIR)


@dataclass
class _Writer:
    event: str
    version: SchemaVersion
    encode: Encoder
    header: bytes | None


@dataclass(frozen=True)
class _Reader:
    event: str
    label: str
    decode: BodyDecoder


def _without_uuid(node: Any) -> Any:
    """The schema with the ``uuid`` logical type dropped, so fastavro reads uuids as text."""
    if isinstance(node, list):
        return [_without_uuid(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("logicalType") == "uuid":
        return node["type"]
    return {key: _without_uuid(value) for key, value in node.items()}


def _resolving_decoder(writer: SchemaVersion, reader: SchemaVersion) -> BodyDecoder:
    writer_schema = parse_schema(_without_uuid(writer.schema))
    reader_schema = parse_schema(_without_uuid(reader.schema))

    def decode(data: bytes, offset: int) -> tuple[dict[str, Any], int]:
        stream = io.BytesIO(data)
        stream.seek(offset)
        record = schemaless_reader(stream, writer_schema, reader_schema)
        if not isinstance(record, dict):
            raise MalformedEventError(f"{writer.label}: the body is not a record")
        return record, stream.tell()

    return decode


def _validation_message(exc: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or '<record>'}: {error['msg']}"
        for error in exc.errors()[:5]
    ]
    more = exc.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


DEAD_LETTER_EVENT = "DeadLettered"


class EventCodec:
    """Encodes events to framed Avro bytes and back. Thread-safe; build one per process."""

    def __init__(
        self,
        repository: SchemaRepository,
        *,
        max_event_bytes: int = 1_000_000,
        max_dead_letter_bytes: int = 8_000_000,
        framing: Framing | None = None,
        models: Mapping[str, type[Event]] = EVENT_TYPES,
    ) -> None:
        self.repository = repository
        self.max_event_bytes = max_event_bytes
        self._limits = {DEAD_LETTER_EVENT: max(max_dead_letter_bytes, max_event_bytes)}
        self._largest = max(self._limits.values())
        self.framing: Framing = framing if framing is not None else SingleObjectFraming(repository)
        self._models = dict(models)
        self._writers: dict[str, _Writer] = {}
        self._readers: dict[bytes, _Reader] = {}
        for event in repository.events:
            self._add_event(event)

    def _add_event(self, event: str) -> None:
        current = self.repository.current(event)
        compiled = compile_schema(current.schema)
        writer = _Writer(event, current, compiled.encode, None)
        if isinstance(self.framing, SingleObjectFraming):
            writer.header = self.framing.header(current)
        self._writers[event] = self._writers[current.fullname] = writer
        self._readers[current.fingerprint] = _Reader(event, current.label, compiled.decode)
        for old in self.repository.history(event):
            if old.fingerprint not in self._readers:
                decoder = _resolving_decoder(old, current)
                self._readers[old.fingerprint] = _Reader(event, old.label, decoder)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        repository: SchemaRepository | None = None,
        registry_client: Any = None,
    ) -> EventCodec:
        """The codec the settings ask for: registry framing when ``schema_registry_url`` is set."""
        repository = repository if repository is not None else default_repository()
        framing: Framing | None = None
        if registry_client is None and settings.schema_registry_url:
            registry_client = registry_client_for(settings.schema_registry_url)
        if registry_client is not None:
            framing = RegistryFraming(repository, registry_client)
        return cls(
            repository,
            max_event_bytes=settings.max_event_bytes,
            max_dead_letter_bytes=settings.max_dead_letter_bytes,
            framing=framing,
        )

    def limit(self, event: str) -> int:
        """The size limit in bytes for one event type (short name)."""
        return self._limits.get(event, self.max_event_bytes)

    # --- dict level ------------------------------------------------------------------------------

    def encode_record(self, event_type: str, record: dict[str, Any]) -> bytes:
        """Encode a record of ``event_type`` (short or full name) with its current schema."""
        writer, header = self._writer(event_type)
        try:
            data = writer.encode(record, header)
        except FieldError as exc:
            raise SchemaViolationError(f"{writer.event}: {exc}") from None
        limit = self.limit(writer.event)
        if len(data) > limit:
            raise OversizedEventError(
                f"{writer.event}: encoded size {len(data)} bytes exceeds the limit of {limit} bytes"
            )
        return data

    def spans(self, event_type: str, starts: Sequence[str]) -> Spans:
        """Encoders of ``event_type``'s current schema as runs of fields, each run starting at a
        name of ``starts`` (:mod:`~alignment_flywheel.codec.spans`)."""
        writer, header = self._writer(event_type)
        encoders = compile_spans(writer.version.schema, starts)
        return Spans(writer.event, header, encoders, self.limit(writer.event))

    def _writer(self, event_type: str) -> tuple[_Writer, bytes]:
        """The writer of ``event_type`` and its framing header (made on first use)."""
        writer = self._writers.get(event_type)
        if writer is None:
            raise UnknownSchemaError(f"no schema for event type {event_type!r}")
        header = writer.header
        if header is None:
            header = writer.header = self.framing.header(writer.version)
        return writer, header

    def decode_record(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """Decode framed bytes into ``(event short name, record)`` in the current reader schema."""
        if data.__class__ is not bytes:
            if not isinstance(data, bytes | bytearray | memoryview):
                raise MalformedEventError(f"expected bytes, got {type(data).__name__}")
            data = bytes(data)
        if len(data) > self.max_event_bytes:
            self._check_size(data)
        version, offset = self.framing.read_header(data)
        reader = self._readers.get(version.fingerprint)
        if reader is None:
            raise UnknownSchemaError(f"{version.label} is not an event this codec reads")
        try:
            record, end = reader.decode(data, offset)
        except CodecError as exc:
            raise type(exc)(f"{reader.label}: {exc}") from None
        except _TRUNCATION:
            raise MalformedEventError(f"{reader.label}: truncated body") from None
        except Exception as exc:
            raise MalformedEventError(f"{reader.label}: corrupt body: {exc!r}") from None
        if end != len(data):
            problem = "truncated body" if end > len(data) else f"{len(data) - end} trailing bytes"
            raise MalformedEventError(f"{reader.label}: {problem}")
        return reader.event, record

    def _check_size(self, data: bytes) -> None:
        """Over ``max_event_bytes``: allowed only if the header names a type with a larger limit."""
        limit = self.max_event_bytes
        if len(data) <= self._largest:
            try:
                version, _offset = self.framing.read_header(data)
            except CodecError:
                version = None
            reader = None if version is None else self._readers.get(version.fingerprint)
            if reader is not None:
                limit = self.limit(reader.event)
        if len(data) > limit:
            raise OversizedEventError(
                f"received {len(data)} bytes, over the limit of {limit} bytes"
            )

    # --- model level -----------------------------------------------------------------------------

    def encode(self, event: Event) -> bytes:
        """Encode an event model."""
        return self.encode_record(event.event_type(), event.model_dump(mode="python"))

    def decode(self, data: bytes) -> Event:
        """Decode framed bytes into a validated event model."""
        event, record = self.decode_record(data)
        return self.validate(event, record)

    def validate(self, event: str, record: dict[str, Any]) -> Event:
        """The validated model of a record that :meth:`decode_record` returned as ``event``."""
        model = self._models.get(event)
        if model is None:
            raise UnknownSchemaError(f"{event} has a schema but no model class")
        try:
            return model.model_validate(record)
        except ValidationError as exc:
            raise SchemaViolationError(f"{event}: {_validation_message(exc)}") from None
