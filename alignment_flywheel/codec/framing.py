"""How an encoded event names its writer schema on the wire: the framing strategies.

Single-object encoding (the default; Avro specification, "Single-object encoding")::

    C3 01 | CRC-64-AVRO fingerprint of the writer schema's canonical form, 8 bytes LE | body

Confluent Schema Registry framing (when ``schema_registry_url`` is set)::

    00 | 4-byte big-endian schema id | body

Under the registry, each event's schema is registered under the subject ``<full record name>``
(e.g. ``alignment_flywheel.ProposalSubmitted``, like Confluent's RecordNameStrategy), so one subject
holds the versions of one event whatever the topic. Ids are resolved back to a kept version by the
fingerprint of the schema the registry returns: a reader only accepts writer schemas it keeps.

In both cases ``body`` is the Avro binary encoding of the record.
"""

from __future__ import annotations

import importlib
import json
import threading
from types import ModuleType
from typing import Any, Protocol

from fastavro.schema import parse_schema

from alignment_flywheel.codec.repository import SchemaRepository, SchemaVersion, make_version
from alignment_flywheel.errors import MalformedEventError, TransportError, UnknownSchemaError

SINGLE_OBJECT_MARKER = b"\xc3\x01"
REGISTRY_MAGIC = b"\x00"


def _registry_module() -> ModuleType:
    """``confluent_kafka.schema_registry``, imported on first use: it takes ~0.3 s to import."""
    return importlib.import_module("confluent_kafka.schema_registry")


def registry_client_for(url: str) -> Any:
    """A Schema Registry client for ``url``; ``mock://<name>`` gives an in-memory registry."""
    return _registry_module().SchemaRegistryClient.new_client({"url": url})


class Framing(Protocol):
    """Writes and reads the header that names the writer schema."""

    def header(self, version: SchemaVersion) -> bytes:
        """The bytes that precede a body written with ``version``."""
        ...

    def read_header(self, data: bytes) -> tuple[SchemaVersion, int]:
        """The writer schema named by ``data``'s header, and where the body starts."""
        ...


class SingleObjectFraming:
    """Avro single-object encoding: the header carries the writer schema's fingerprint."""

    header_size = 10

    def __init__(self, repository: SchemaRepository) -> None:
        self._repository = repository

    def header(self, version: SchemaVersion) -> bytes:
        return SINGLE_OBJECT_MARKER + version.fingerprint

    def read_header(self, data: bytes) -> tuple[SchemaVersion, int]:
        if data[:2] != SINGLE_OBJECT_MARKER:
            raise MalformedEventError(
                f"not Avro single-object encoding: starts with {data[:2].hex() or 'nothing'}, "
                f"expected {SINGLE_OBJECT_MARKER.hex()}"
            )
        if len(data) < self.header_size:
            raise MalformedEventError(f"truncated header: {len(data)} bytes")
        version = self._repository.by_fingerprint(data[2:10])
        if version is None:
            raise UnknownSchemaError(
                f"unknown writer schema fingerprint {data[2:10].hex()} (CRC-64-AVRO, little-endian)"
            )
        return version, self.header_size


class RegistryFraming:
    """Confluent Schema Registry framing, through a ``SchemaRegistryClient``.

    ``client`` is a ``confluent_kafka.schema_registry.SchemaRegistryClient`` (``mock://`` URLs give
    an in-memory one). Registration happens on the first encode of each event type; ids seen on
    decode are cached. Registry failures raise :class:`TransportError` (retry), an id the registry
    does not know or a schema this reader does not keep raises :class:`UnknownSchemaError`.
    """

    header_size = 5

    def __init__(self, repository: SchemaRepository, client: Any) -> None:
        self._repository = repository
        self._client = client
        self._headers: dict[bytes, bytes] = {}
        self._by_id: dict[int, SchemaVersion] = {}
        self._lock = threading.Lock()

    def header(self, version: SchemaVersion) -> bytes:
        cached = self._headers.get(version.fingerprint)
        if cached is not None:
            return cached
        with self._lock:
            schema_id = self._register(version)
            header = REGISTRY_MAGIC + schema_id.to_bytes(4, "big")
            self._headers[version.fingerprint] = header
            self._by_id[schema_id] = version
        return header

    def _register(self, version: SchemaVersion) -> int:
        registry = _registry_module()
        try:
            schema_id = self._client.register_schema(
                version.fullname, registry.Schema(json.dumps(version.schema), "AVRO")
            )
        except Exception as exc:
            raise TransportError(
                f"cannot register {version.label} under subject {version.fullname}: {exc}"
            ) from exc
        return int(schema_id)

    def read_header(self, data: bytes) -> tuple[SchemaVersion, int]:
        if data[:1] != REGISTRY_MAGIC:
            raise MalformedEventError(
                f"not Schema Registry framing: starts with {data[:1].hex() or 'nothing'}, "
                "expected 00"
            )
        if len(data) < self.header_size:
            raise MalformedEventError(f"truncated header: {len(data)} bytes")
        schema_id = int.from_bytes(data[1:5], "big")
        version = self._by_id.get(schema_id)
        if version is None:
            version = self._lookup(schema_id)
            self._by_id[schema_id] = version
        return version, self.header_size

    def _lookup(self, schema_id: int) -> SchemaVersion:
        registry = _registry_module()
        try:
            registered = self._client.get_schema(schema_id)
        except registry.SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                raise UnknownSchemaError(f"schema id {schema_id} is not in the registry") from exc
            raise TransportError(f"cannot fetch schema id {schema_id}: {exc}") from exc
        except Exception as exc:
            raise TransportError(f"cannot fetch schema id {schema_id}: {exc}") from exc
        try:
            schema = parse_schema(json.loads(registered.schema_str), _write_hint=False)
            if not isinstance(schema, dict):
                raise TypeError("not a record schema")
            fingerprint = make_version("?", None, schema).fingerprint
        except Exception as exc:
            raise UnknownSchemaError(f"schema id {schema_id} is not a valid Avro schema") from exc
        version = self._repository.by_fingerprint(fingerprint)
        if version is None:
            raise UnknownSchemaError(
                f"schema id {schema_id} (fingerprint {fingerprint.hex()}) is not a kept version"
            )
        return version
