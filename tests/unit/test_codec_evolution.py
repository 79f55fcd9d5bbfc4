"""Reading data written with every kept version, resolved into the current schema."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path
from typing import Any

import pytest

from alignment_flywheel.codec import EventCodec, SchemaRepository, freeze_schemas
from alignment_flywheel.errors import CodecError, MalformedEventError, UnknownSchemaError
from alignment_flywheel.events import IncidentKind, IncidentReported
from tests.support.samples import sample_events, sample_proposal_submitted
from tests.support.schemas import copy_schemas, edit_schema


@pytest.fixture
def schemas(tmp_path: Path) -> Path:
    return copy_schemas(tmp_path)


def _add_budget(raw: dict[str, Any]) -> None:
    raw["fields"].append(
        {"name": "budget", "type": ["null", "double"], "default": None, "doc": "Spend limit, EUR."}
    )


def test_old_data_reads_into_the_new_schema_with_defaults(schemas: Path) -> None:
    v1 = EventCodec(SchemaRepository())
    old_bytes = v1.encode(sample_proposal_submitted(3))
    edit_schema(schemas, "Proposal", _add_budget)
    freeze_schemas(schemas)
    v2 = EventCodec(SchemaRepository(schemas), models={})

    name, record = v2.decode_record(old_bytes)
    assert name == "ProposalSubmitted"
    assert record["proposal"]["budget"] is None
    _name, as_v1 = v1.decode_record(old_bytes)
    assert {k: v for k, v in record["proposal"].items() if k != "budget"} == as_v1["proposal"]
    assert record["envelope"] == as_v1["envelope"]

    record["proposal"]["budget"] = 12.5
    new_bytes = v2.encode_record("ProposalSubmitted", record)
    assert new_bytes[2:10] != old_bytes[2:10]
    assert v2.decode_record(new_bytes)[1]["proposal"]["budget"] == 12.5
    with pytest.raises(UnknownSchemaError, match=new_bytes[2:10].hex()):
        v1.decode_record(new_bytes)


def test_a_removed_enum_symbol_reads_as_the_enum_default(schemas: Path) -> None:
    v1 = EventCodec(SchemaRepository())
    incident = next(e for e in sample_events() if isinstance(e, IncidentReported))
    false_positive = incident.model_copy(update={"kind": IncidentKind.FALSE_POSITIVE})
    old_bytes = v1.encode(false_positive)
    edit_schema(schemas, "IncidentKind", lambda raw: raw["symbols"].remove("FALSE_POSITIVE"))
    assert [p.name for p in freeze_schemas(schemas)] == ["v3.avsc"]
    v2 = EventCodec(SchemaRepository(schemas))
    assert v2.decode_record(old_bytes)[1]["kind"] == "HARM"
    assert incident.kind is IncidentKind.HARM
    assert v2.decode(old_bytes) == incident


def test_an_unfrozen_current_schema_is_written_and_read(schemas: Path) -> None:
    edit_schema(schemas, "Proposal", _add_budget)
    repository = SchemaRepository(schemas)
    assert repository.current("ProposalSubmitted").version is None
    codec = EventCodec(repository, models={})
    released = EventCodec(SchemaRepository())
    record = released.decode_record(released.encode(sample_proposal_submitted(0)))[1]
    data = codec.encode_record("ProposalSubmitted", record)
    assert data[2:10] == repository.current("ProposalSubmitted").fingerprint
    assert codec.decode_record(data)[1]["proposal"]["budget"] is None


def test_an_event_without_a_model_is_refused_at_model_level(schemas: Path) -> None:
    codec = EventCodec(SchemaRepository(schemas), models={})
    data = codec.encode_record(
        "ProposalSubmitted", sample_proposal_submitted(0).model_dump(mode="python")
    )
    with pytest.raises(UnknownSchemaError, match="ProposalSubmitted has a schema but no model"):
        codec.decode(data)


def test_older_versions_are_checked_as_strictly(schemas: Path) -> None:
    old_bytes = EventCodec(SchemaRepository()).encode(sample_proposal_submitted(6))
    edit_schema(schemas, "Proposal", _add_budget)
    freeze_schemas(schemas)
    codec = EventCodec(SchemaRepository(schemas), models={})
    with pytest.raises(MalformedEventError, match="ProposalSubmitted v1: 2 trailing bytes"):
        codec.decode_record(old_bytes + b"\x00\x00")
    for end in range(10, len(old_bytes)):
        with pytest.raises(MalformedEventError, match="ProposalSubmitted v1"):
            codec.decode_record(old_bytes[:end])
    rng = random.Random(7)
    for _ in range(5_000):
        mutated = bytearray(old_bytes)
        for _ in range(rng.randrange(1, 4)):
            mutated[rng.randrange(10, len(mutated))] = rng.randrange(256)
        with contextlib.suppress(CodecError):
            codec.decode_record(bytes(mutated))
