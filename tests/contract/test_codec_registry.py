"""Confluent Schema Registry framing, against confluent-kafka's in-memory (mock://) registry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from alignment_flywheel.codec import EventCodec, RegistryFraming, SchemaRepository, freeze_schemas
from alignment_flywheel.config import load_settings
from alignment_flywheel.errors import MalformedEventError, TransportError, UnknownSchemaError
from alignment_flywheel.resources import SCHEMAS_DIR
from tests.support.samples import sample_events, sample_proposal_submitted


@pytest.fixture
def client() -> Any:
    return SchemaRegistryClient.new_client({"url": "mock://flywheel-tests"})


def _codec(client: Any, repository: SchemaRepository | None = None) -> EventCodec:
    repository = repository or SchemaRepository()
    return EventCodec(repository, framing=RegistryFraming(repository, client))


def test_from_settings_uses_the_registry_when_configured(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path, schema_registry_url="mock://from-settings")
    codec = EventCodec.from_settings(settings)
    event = sample_proposal_submitted(0)
    data = codec.encode(event)
    assert data[:1] == b"\x00"
    assert codec.decode(data) == event


def test_every_event_registers_under_its_full_name(client: Any) -> None:
    producer, consumer = _codec(client), _codec(client)
    events = sample_events()
    encoded = [producer.encode(e) for e in events]
    assert [consumer.decode(d) for d in encoded] == events
    ids = {int.from_bytes(d[1:5], "big") for d in encoded}
    assert len(ids) == len(events)
    assert sorted(client.get_subjects()) == sorted(
        f"alignment_flywheel.{type(e).__name__}" for e in events
    )
    schema_id = int.from_bytes(encoded[0][1:5], "big")
    registered = json.loads(client.get_schema(schema_id).schema_str)
    assert registered == producer.repository.current("ProposalSubmitted").schema


def test_unknown_ids_and_foreign_schemas_are_refused(client: Any) -> None:
    codec = _codec(client)
    body = codec.encode(sample_proposal_submitted(0))[5:]
    with pytest.raises(UnknownSchemaError, match="schema id 999 is not in the registry"):
        codec.decode(b"\x00" + (999).to_bytes(4, "big") + body)
    foreign = {"type": "record", "name": "other.Thing", "fields": []}
    foreign_id = client.register_schema("other.Thing", Schema(json.dumps(foreign), "AVRO"))
    with pytest.raises(UnknownSchemaError, match="is not a kept version"):
        codec.decode(b"\x00" + int(foreign_id).to_bytes(4, "big") + body)


def test_framings_do_not_mix(client: Any) -> None:
    event = sample_proposal_submitted(1)
    single_object = EventCodec(SchemaRepository()).encode(event)
    with pytest.raises(MalformedEventError, match="not Schema Registry framing: starts with c3"):
        _codec(client).decode(single_object)
    with pytest.raises(MalformedEventError, match="starts with 00"):
        EventCodec(SchemaRepository()).decode(_codec(client).encode(event))
    with pytest.raises(MalformedEventError, match="truncated header"):
        _codec(client).decode(b"\x00\x00\x01")


def test_older_registered_versions_resolve_into_the_current_schema(
    client: Any, tmp_path: Path
) -> None:
    old_bytes = _codec(client).encode(sample_proposal_submitted(2))
    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR.resolve(), schemas)
    source = schemas / "alignment_flywheel.Proposal.avsc"
    raw = json.loads(source.read_text())
    raw["fields"].append(
        {"name": "budget", "type": ["null", "double"], "default": None, "doc": "x"}
    )
    source.write_text(json.dumps(raw))
    freeze_schemas(schemas)
    newer = _codec(client, SchemaRepository(schemas))
    assert newer.decode_record(old_bytes)[1]["proposal"]["budget"] is None


class _BrokenRegistry:
    def register_schema(self, subject: str, schema: Any) -> int:
        raise ConnectionError("registry unreachable")

    def get_schema(self, schema_id: int) -> Any:
        raise ConnectionError("registry unreachable")


def test_a_registry_outage_is_a_transport_error() -> None:
    codec = _codec(_BrokenRegistry())
    with pytest.raises(TransportError, match="cannot register ProposalSubmitted v1"):
        codec.encode(sample_proposal_submitted(0))
    with pytest.raises(TransportError, match="cannot fetch schema id 7"):
        codec.decode(b"\x00\x00\x00\x00\x07\x00")
