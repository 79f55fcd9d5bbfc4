"""The pydantic models and the Avro schemas cannot drift apart.

For every event, the model and the current expanded schema are walked together: same record names,
same field names, Avro type against annotation (nullability included), enum symbols against
StrEnum members, nested records recursively, and Avro defaults against model defaults.
"""

from __future__ import annotations

import types
import typing
import uuid
from enum import StrEnum
from typing import Any, ClassVar

import pytest
from pydantic import AwareDatetime
from pydantic.fields import FieldInfo

from alignment_flywheel.codec import EventCodec, SchemaRepository
from alignment_flywheel.codec.avrotypes import named_types, type_info
from alignment_flywheel.events import EVENT_TYPES, Decision, Envelope, Event, Record
from tests.support.samples import sample_events

PRIMITIVE_TYPES: dict[str, type] = {
    "string": str,
    "long": int,
    "int": int,
    "double": float,
    "float": float,
    "boolean": bool,
    "bytes": bytes,
    "uuid": uuid.UUID,
    "timestamp": AwareDatetime,
}


def _strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _optional_inner(annotation: Any) -> Any | None:
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return None
    args = typing.get_args(annotation)
    rest = [a for a in args if a is not type(None)]
    return rest[0] if len(args) == 2 and len(rest) == 1 else None


class Walker:
    """Compares models with an expanded schema; collects every difference as text."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.named = named_types(schema)
        self.differences: list[str] = []
        self.seen: set[tuple[type, str]] = set()

    def record(self, model: type[Record], definition: dict[str, Any], path: str) -> None:
        if (model, definition["name"]) in self.seen:
            return
        self.seen.add((model, definition["name"]))
        if getattr(model, "avro_name", None) != definition["name"]:
            self.differences.append(f"{path}: model {model.__name__} is not {definition['name']}")
        fields = {f["name"]: f for f in definition["fields"]}
        for missing in sorted(set(fields) - set(model.model_fields)):
            self.differences.append(f"{path}.{missing}: in the schema, not in the model")
        for extra in sorted(set(model.model_fields) - set(fields)):
            self.differences.append(f"{path}.{extra}: in the model, not in the schema")
        for name in sorted(set(fields) & set(model.model_fields)):
            info = model.model_fields[name]
            self.annotation(info.annotation, fields[name]["type"], f"{path}.{name}")
            self.default(info, fields[name], f"{path}.{name}")

    def default(self, info: FieldInfo, field: dict[str, Any], path: str) -> None:
        if "default" not in field:
            if not info.is_required():
                self.differences.append(f"{path}: the model has a default, the schema none")
            return
        if info.is_required():
            self.differences.append(f"{path}: the schema has a default, the model none")
            return
        value = info.get_default(call_default_factory=True)
        value = list(value) if isinstance(value, tuple) else value
        if value != field["default"]:
            self.differences.append(f"{path}: default {value!r} != {field['default']!r}")

    def annotation(self, annotation: Any, node: Any, path: str) -> None:
        annotation = _strip_annotated(annotation)
        info = type_info(node, self.named)
        inner = _optional_inner(annotation)
        if info.kind == "optional":
            if inner is None:
                self.differences.append(f"{path}: nullable in the schema, not in the model")
            else:
                self.annotation(inner, info.inner, path)
            return
        if inner is not None:
            self.differences.append(f"{path}: nullable in the model, not in the schema")
            return
        self.structured(annotation, info, path)

    def structured(self, annotation: Any, info: Any, path: str) -> None:
        if info.kind in PRIMITIVE_TYPES:
            if annotation is not PRIMITIVE_TYPES[info.kind]:
                self.differences.append(f"{path}: {annotation!r} is not Avro {info.kind}")
        elif info.kind == "enum":
            self.enum(annotation, info.definition, path)
        elif info.kind == "record":
            if isinstance(annotation, type) and issubclass(annotation, Record):
                self.record(annotation, info.definition, path)
            else:
                self.differences.append(f"{path}: {annotation!r} is not a record model")
        else:
            self.collection(annotation, info, path)

    def collection(self, annotation: Any, info: Any, path: str) -> None:
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if info.kind == "array":
            if origin is not tuple or len(args) != 2 or args[1] != ...:
                self.differences.append(f"{path}: {annotation!r} is not tuple[T, ...]")
            else:
                self.annotation(args[0], info.inner, f"{path}[]")
        elif info.kind == "map":
            if origin is not dict or args[:1] != (str,):
                self.differences.append(f"{path}: {annotation!r} is not dict[str, T]")
            else:
                self.annotation(args[1], info.inner, f"{path}{{}}")
        else:
            self.differences.append(f"{path}: no rule for Avro {info.kind}")

    def enum(self, annotation: Any, definition: dict[str, Any], path: str) -> None:
        if not (isinstance(annotation, type) and issubclass(annotation, StrEnum)):
            self.differences.append(f"{path}: {annotation!r} is not a StrEnum")
            return
        if annotation.__name__ != definition["name"].rpartition(".")[2]:
            self.differences.append(
                f"{path}: enum {annotation.__name__} is not {definition['name']}"
            )
        members = [m.value for m in annotation]
        if members != definition["symbols"]:
            self.differences.append(f"{path}: members {members} != symbols {definition['symbols']}")


def drift(model: type[Record], schema: dict[str, Any]) -> list[str]:
    walker = Walker(schema)
    walker.record(model, schema, model.__name__)
    return walker.differences


@pytest.fixture(scope="module")
def repository() -> SchemaRepository:
    return SchemaRepository()


def test_every_schema_event_has_a_model_and_back(repository: SchemaRepository) -> None:
    assert set(EVENT_TYPES) == set(repository.events)
    assert len(EVENT_TYPES) == 20


@pytest.mark.parametrize("event", sorted(EVENT_TYPES))
def test_model_matches_schema(repository: SchemaRepository, event: str) -> None:
    model = EVENT_TYPES[event]
    assert model.avro_name == f"alignment_flywheel.{event}"
    assert next(iter(model.model_fields)) == "envelope"
    assert drift(model, repository.current(event).schema) == []


def test_the_walker_sees_drift(repository: SchemaRepository) -> None:
    class LedgerCheckpoint(Event):
        avro_name: ClassVar[str] = "alignment_flywheel.LedgerCheckpoint"
        log_id: str | None = None
        tree_size: float
        root_hash: str
        first_offset: int
        last_offset: int
        key_id: str
        signature: bytes
        extra: str

    differences = drift(LedgerCheckpoint, repository.current("LedgerCheckpoint").schema)
    assert differences == [
        "LedgerCheckpoint.extra: in the model, not in the schema",
        "LedgerCheckpoint.log_id: nullable in the model, not in the schema",
        "LedgerCheckpoint.log_id: the model has a default, the schema none",
        "LedgerCheckpoint.tree_size: <class 'float'> is not Avro long",
    ]


def test_the_walker_sees_enum_and_nested_drift(repository: SchemaRepository) -> None:
    class Verdict(StrEnum):
        ALLOW = "ALLOW"
        BLOCK = "BLOCK"

    class FindingRaised(Event):
        avro_name: ClassVar[str] = "alignment_flywheel.FindingRaised"
        finding_id: uuid.UUID
        source: str
        proposal: Envelope
        oracle_version: int
        oracle_decision: Verdict
        description: str
        seed: int | None = None
        parent_finding_id: uuid.UUID | None = None

    differences = drift(FindingRaised, repository.current("FindingRaised").schema)
    assert "FindingRaised.source: <class 'str'> is not a StrEnum" in differences
    assert "FindingRaised.oracle_decision: enum Verdict is not alignment_flywheel.Decision" in (
        differences
    )
    assert any("oracle_decision: members ['ALLOW', 'BLOCK']" in d for d in differences)
    assert "FindingRaised.proposal: model Envelope is not alignment_flywheel.Proposal" in (
        differences
    )
    assert list(Decision) == ["ALLOW", "REVISE", "BLOCK", "ESCALATE"]


def test_a_realistic_event_of_every_type_round_trips(repository: SchemaRepository) -> None:
    codec = EventCodec(repository)
    events = sample_events()
    assert {e.event_type() for e in events} == set(EVENT_TYPES)
    for event in events:
        data = codec.encode(event)
        decoded = codec.decode(data)
        assert type(decoded) is type(event)
        assert decoded == event
        name, record = codec.decode_record(data)
        assert name == event.event_type()
        assert codec.encode_record(name, record) == data
