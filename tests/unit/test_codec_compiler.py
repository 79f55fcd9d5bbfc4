"""The compiled Avro encoder and decoder on small schemas, against fastavro and the spec."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer

from alignment_flywheel.codec.binary import FieldError
from alignment_flywheel.codec.compiler import CompiledSchema, compile_schema
from alignment_flywheel.errors import MalformedEventError, SchemaError, SchemaViolationError


def _record(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": "t.R", "fields": list(fields)}


def _compiled(*fields: dict[str, Any]) -> tuple[CompiledSchema, dict[str, Any]]:
    schema = parse_schema(_record(*fields), _write_hint=False)
    return compile_schema(schema), schema


def _fastavro(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    stream = io.BytesIO()
    schemaless_writer(stream, parse_schema(schema), record)
    return stream.getvalue()


def _roundtrip(compiled: CompiledSchema, record: dict[str, Any]) -> dict[str, Any]:
    data = compiled.encode(record, b"")
    back, end = compiled.decode(data, 0)
    assert end == len(data)
    return back


@pytest.mark.parametrize(
    "value", [0, 1, -1, 63, -64, 64, 1023, 1024, -1025, 2**31, 2**49, 2**62, 2**63 - 1, -(2**63)]
)
def test_longs_match_fastavro_at_every_width(value: int) -> None:
    compiled, schema = _compiled({"name": "n", "type": "long"})
    assert compiled.encode({"n": value}, b"") == _fastavro(schema, {"n": value})
    assert _roundtrip(compiled, {"n": value}) == {"n": value}


def test_ints_are_32_bit_both_ways() -> None:
    compiled, _schema = _compiled({"name": "n", "type": "int"})
    assert _roundtrip(compiled, {"n": -(2**31)}) == {"n": -(2**31)}
    with pytest.raises(FieldError, match=r"n: .*32-bit"):
        compiled.encode({"n": 2**31}, b"")
    too_big = _compiled({"name": "n", "type": "long"})[0].encode({"n": 2**31}, b"")
    with pytest.raises(MalformedEventError, match="exceeds 32 bits"):
        compiled.decode(too_big, 0)


@pytest.mark.parametrize("text", ["", "é", "x" * 63, "x" * 64, "ü" * 600, "🦜" * 5000])
def test_strings_of_every_length(text: str) -> None:
    compiled, schema = _compiled({"name": "s", "type": "string"})
    assert compiled.encode({"s": text}, b"") == _fastavro(schema, {"s": text})
    assert _roundtrip(compiled, {"s": text}) == {"s": text}


def test_every_supported_type_matches_fastavro() -> None:
    fields = [
        {"name": "f", "type": "float"},
        {"name": "d", "type": "double"},
        {"name": "b", "type": "boolean"},
        {"name": "raw", "type": "bytes"},
        {"name": "nothing", "type": "null"},
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}},
        {"name": "items", "type": {"type": "array", "items": ["null", "long"]}},
        {"name": "m", "type": {"type": "map", "values": {"type": "array", "items": "string"}}},
        {"name": "last", "type": ["long", "null"]},
        {"name": "t", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    ]
    compiled, schema = _compiled(*fields)
    record = {
        "f": 1.5,
        "d": -2.25,
        "b": True,
        "raw": b"\x00\xff",
        "nothing": None,
        "e": "B",
        "items": [1, None, -3],
        "m": {"k": ["a", "b"], "": []},
        "last": None,
        "t": datetime(2025, 6, 1, 12, 30, 0, 123456, tzinfo=UTC),
    }
    assert compiled.encode(record, b"HEAD") == b"HEAD" + _fastavro(schema, record)
    assert _roundtrip(compiled, record) == record


def test_negative_block_counts_are_read() -> None:
    compiled, _schema = _compiled(
        {"name": "xs", "type": {"type": "array", "items": "long"}},
        {"name": "m", "type": {"type": "map", "values": "long"}},
    )
    # Array: count -2 (zig-zag 3), block size 2 bytes, items 1 and 2, then the end block.
    # Map: count -1, block size 3 bytes, key "k" -> 5, then the end block.
    data = bytes([3, 4, 2, 4, 0, 1, 6, 2, ord("k"), 10, 0])
    assert compiled.decode(data, 0) == ({"xs": [1, 2], "m": {"k": 5}}, len(data))


@pytest.mark.parametrize(
    ("schema_field", "data", "message"),
    [
        ({"name": "b", "type": "boolean"}, b"\x02", "R.b: invalid boolean byte"),
        (
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A"]}},
            b"\x02",
            "index 1",
        ),
        ({"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A"]}}, b"\x01", "-1"),
        ({"name": "o", "type": ["null", "long"]}, b"\x04", "R.o: union index byte 4"),
        ({"name": "n", "type": "long"}, b"\xff" * 11, "longer than 10 bytes"),
        ({"name": "n", "type": "long"}, b"\xff" * 9 + b"\x7f", "exceeds 64 bits"),
        ({"name": "s", "type": "string"}, b"\x81\x01", "does not fit"),
        ({"name": "xs", "type": {"type": "array", "items": "long"}}, b"\x14\x02", "exceeds"),
    ],
)
def test_invalid_bodies_are_malformed(
    schema_field: dict[str, Any], data: bytes, message: str
) -> None:
    compiled, _schema = _compiled(schema_field)
    with pytest.raises(MalformedEventError, match=message):
        compiled.decode(data, 0)


def test_timestamps_outside_datetime_are_violations() -> None:
    compiled, _schema = _compiled(
        {"name": "t", "type": {"type": "long", "logicalType": "timestamp-micros"}}
    )
    with pytest.raises(SchemaViolationError, match=r"R\.t: timestamp out of range"):
        compiled.decode(compiled.encode({"t": -(2**62)}, b""), 0)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (["null", "string", "long"], "unsupported union"),
        (["string", "long"], "unsupported union"),
        ({"type": "fixed", "name": "F", "size": 4}, "unsupported schema type 'fixed'"),
        ({"type": "int", "logicalType": "date"}, "unsupported logical type 'date'"),
        ({"type": "array", "items": "null"}, "zero-byte items"),
    ],
)
def test_types_outside_the_subset_are_refused(kind: Any, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        compile_schema(parse_schema(_record({"name": "x", "type": kind}), _write_hint=False))


def test_field_names_must_be_avro_names() -> None:
    schema = parse_schema(_record({"name": "bad-name", "type": "long"}), _write_hint=False)
    with pytest.raises(SchemaError, match="'bad-name' is not a valid Avro name"):
        compile_schema(schema)


def test_the_top_level_must_be_a_record() -> None:
    with pytest.raises(SchemaError, match="must be a record"):
        compile_schema({"type": "enum", "name": "t.E", "symbols": ["A"]})


def test_recursive_records_compile() -> None:
    node = {
        "type": "record",
        "name": "t.Node",
        "fields": [
            {"name": "value", "type": "long"},
            {"name": "next", "type": ["null", "t.Node"], "default": None},
        ],
    }
    compiled = compile_schema(parse_schema(node, _write_hint=False))
    chain = {"value": 1, "next": {"value": 2, "next": None}}
    assert compiled.decode(compiled.encode(chain, b""), 0)[0] == chain
    assert compiled.encode({"value": 3}, b"") == _fastavro(node, {"value": 3, "next": None})
