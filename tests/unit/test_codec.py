"""The event codec: single-object framing, Avro bodies, and errors that name what was wrong."""

from __future__ import annotations

import io
import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import avro.schema
import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from alignment_flywheel.codec import EventCodec, SchemaRepository
from alignment_flywheel.config import load_settings
from alignment_flywheel.errors import (
    CodecError,
    MalformedEventError,
    OversizedEventError,
    SchemaViolationError,
    UnknownSchemaError,
)
from alignment_flywheel.events import DeadLettered, Event, ProposalSubmitted
from tests.support.samples import sample_events, sample_proposal_submitted


@pytest.fixture(scope="module")
def codec() -> EventCodec:
    return EventCodec(SchemaRepository())


def _rabin(data: bytes) -> int:
    """CRC-64-AVRO computed bit by bit from the specification's polynomial, without a table."""
    empty = 0xC15D213AA4D7A795
    fp = empty
    for byte in data:
        fp ^= byte
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
    return fp


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value


def _without_logical_types(node: Any) -> Any:
    if isinstance(node, list):
        return [_without_logical_types(n) for n in node]
    if isinstance(node, dict):
        if "logicalType" in node:
            return node["type"]
        return {k: _without_logical_types(v) for k, v in node.items()}
    return node


def _without_uuid(node: Any) -> Any:
    if isinstance(node, list):
        return [_without_uuid(n) for n in node]
    if isinstance(node, dict):
        if node.get("logicalType") == "uuid":
            return "string"
        return {k: _without_uuid(v) for k, v in node.items()}
    return node


def _proposal_record(codec: EventCodec) -> dict[str, Any]:
    return codec.decode_record(codec.encode(sample_proposal_submitted(2)))[1]


# --- wire format ---------------------------------------------------------------------------------


def test_rabin_matches_the_avro_specification_vector() -> None:
    # Fingerprint of the schema "string" in the Avro specification's test suite (schema-tests.txt).
    assert _rabin(b'"string"') == (-8142146995180207161) % 2**64


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: e.event_type())
def test_header_is_marker_then_little_endian_fingerprint(codec: EventCodec, event: Event) -> None:
    data = codec.encode(event)
    version = codec.repository.current(event.event_type())
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == _rabin(version.canonical_form.encode()).to_bytes(8, "little")
    assert "logicalType" not in version.canonical_form and "doc" not in version.canonical_form
    # The avro package keeps {"type": "string"} for a logical type, against the specification's
    # [STRIP] rule (Java and fastavro write "string"); compare it on the stripped schema.
    reference = avro.schema.parse(json.dumps(_without_logical_types(version.schema)))
    assert reference.canonical_form == version.canonical_form
    assert data[2:10] == reference.fingerprint("CRC-64-AVRO")


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: e.event_type())
def test_bodies_are_those_of_fastavro(codec: EventCodec, event: Event) -> None:
    data = codec.encode(event)
    schema = codec.repository.current(event.event_type()).schema
    stream = io.BytesIO()
    schemaless_writer(stream, parse_schema(schema), _lists(event.model_dump(mode="python")))
    assert data[10:] == stream.getvalue()
    expected = schemaless_reader(io.BytesIO(data[10:]), parse_schema(_without_uuid(schema)), None)
    assert codec.decode_record(data) == (event.event_type(), expected)


def test_records_take_python_values_at_the_dict_level(codec: EventCodec) -> None:
    event = sample_proposal_submitted(4)
    name, record = codec.decode_record(codec.encode(event))
    assert name == "ProposalSubmitted"
    assert record["envelope"]["event_id"] == str(event.envelope.event_id)
    assert record["envelope"]["occurred_at"] == event.envelope.occurred_at
    assert record["envelope"]["occurred_at"].tzinfo is UTC
    assert record["proposal"]["risk"]["origin"] == "AUTOMATED"
    as_objects = event.model_dump(mode="python")
    assert codec.encode_record("ProposalSubmitted", as_objects) == codec.encode(event)
    assert codec.encode_record("alignment_flywheel.ProposalSubmitted", record) == codec.encode(
        event
    )


def test_fields_with_defaults_may_be_left_out(codec: EventCodec) -> None:
    record = _proposal_record(codec)
    del record["envelope"]["correlation_id"]
    del record["proposal"]["risk"]["origin"]
    _name, back = codec.decode_record(codec.encode_record("ProposalSubmitted", record))
    assert back["envelope"]["correlation_id"] is None
    assert back["proposal"]["risk"]["origin"] == "UNKNOWN"


# --- encoding errors -----------------------------------------------------------------------------


def _violation(codec: EventCodec, change: Any) -> str:
    record = _proposal_record(codec)
    change(record)
    with pytest.raises(SchemaViolationError) as caught:
        codec.encode_record("ProposalSubmitted", record)
    return str(caught.value)


def test_encoding_errors_name_the_field(codec: EventCodec) -> None:
    def missing(r: dict[str, Any]) -> None:
        del r["proposal"]["tool"]

    def extra(r: dict[str, Any]) -> None:
        r["proposal"]["risk"]["mood"] = "happy"

    cases: list[tuple[Any, str]] = [
        (missing, "proposal.tool: missing required field"),
        (extra, "proposal.risk: unknown field(s): mood"),
        (
            lambda r: r["envelope"].update(producer=42),
            "envelope.producer: expected string, got int",
        ),
        (
            lambda r: r["proposal"]["risk"].update(origin="ALIEN"),
            "proposal.risk.origin: expected one",
        ),
        (
            lambda r: r["proposal"].update(proposal_id="not-a-uuid"),
            "proposal.proposal_id: expected uuid",
        ),
        (lambda r: r["proposal"].update(proposal_id=str(uuid.uuid4()).upper()), "proposal_id"),
        (lambda r: r["envelope"].update(occurred_at=datetime(2025, 1, 1)), "envelope.occurred_at"),
        (lambda r: r["envelope"].update(occurred_at=2**63), "out of the 64-bit range"),
        (lambda r: r["proposal"]["risk"].update(proposer_confidence="high"), "proposer_confidence"),
        (
            lambda r: r["proposal"].update(reasoning=b"bytes"),
            "proposal.reasoning: expected null or",
        ),
        (
            lambda r: r.update(proposal=None),
            "proposal: expected record alignment_flywheel.Proposal",
        ),
    ]
    for change, message in cases:
        text = _violation(codec, change)
        assert text.startswith("ProposalSubmitted: "), text
        assert message in text, text


def test_arrays_maps_and_ints_are_type_checked(codec: EventCodec) -> None:
    events = {type(e).__name__: e for e in sample_events()}
    verdict = events["VerdictIssued"].model_dump(mode="python")
    with pytest.raises(SchemaViolationError, match="reasons: expected array"):
        codec.encode_record("VerdictIssued", {**verdict, "reasons": "not a list"})
    drift = events["DriftDetected"].model_dump(mode="python")
    with pytest.raises(SchemaViolationError, match="evidence: expected map"):
        codec.encode_record("DriftDetected", {**drift, "evidence": {"window": 2000}})
    dead = events["DeadLettered"].model_dump(mode="python")
    with pytest.raises(SchemaViolationError, match=r"partition: .*32-bit"):
        codec.encode_record("DeadLettered", {**dead, "partition": 2**31})
    with pytest.raises(
        SchemaViolationError, match=r"<record>: expected record alignment_flywheel\.DeadLettered"
    ):
        codec.encode_record("DeadLettered", [])  # type: ignore[arg-type]


def test_unknown_event_type(codec: EventCodec) -> None:
    with pytest.raises(UnknownSchemaError, match="'Nope'"):
        codec.encode_record("Nope", {})


def test_oversized_events_are_refused_both_ways() -> None:
    small = EventCodec(SchemaRepository(), max_event_bytes=1024)
    event = sample_proposal_submitted(0)
    record = event.model_dump(mode="python")
    record["proposal"]["arguments"] = json.dumps({"blob": "x" * 2000})
    with pytest.raises(
        OversizedEventError, match=r"ProposalSubmitted: encoded size 2\d+ bytes .* 1024"
    ):
        small.encode_record("ProposalSubmitted", record)
    large = EventCodec(SchemaRepository()).encode_record("ProposalSubmitted", record)
    with pytest.raises(OversizedEventError, match=rf"received {len(large)} bytes.*1024"):
        small.decode(large)


def test_dead_letters_carry_oversized_originals_under_their_own_limit() -> None:
    small = EventCodec(SchemaRepository(), max_event_bytes=1024, max_dead_letter_bytes=4096)
    original = b"\xc3\x01" + bytes(2000)
    letter = DeadLettered(
        envelope=sample_events()[-1].envelope,
        source_topic="flywheel.proposals",
        partition=0,
        offset=3,
        original_value=original,
        reason="received 2002 bytes, over the limit of 1024 bytes",
        error_type="OversizedEventError",
    )
    data = small.encode(letter)
    assert len(data) > 1024
    decoded = small.decode(data)
    assert isinstance(decoded, DeadLettered) and decoded.original_value == original
    # Other event types keep the smaller limit, and garbage over it is reported as oversized.
    with pytest.raises(OversizedEventError, match=r"received 2002 bytes.*1024"):
        small.decode(original)
    too_big = letter.model_copy(update={"original_value": bytes(5000)})
    with pytest.raises(OversizedEventError, match=r"DeadLettered: encoded size .* 4096"):
        small.encode(too_big)


# --- decoding errors -----------------------------------------------------------------------------


def test_decoding_errors(codec: EventCodec) -> None:
    data = codec.encode(sample_proposal_submitted(1))
    cases: list[tuple[Any, type[CodecError], str]] = [
        (b"", MalformedEventError, "starts with nothing"),
        (None, MalformedEventError, "expected bytes, got NoneType"),
        ("\xc3\x01", MalformedEventError, "expected bytes, got str"),
        (b"\x00\x01" + data[2:], MalformedEventError, "expected c301"),
        (data[:7], MalformedEventError, "truncated header"),
        (data[:2] + b"\x01" * 8 + data[10:], UnknownSchemaError, "0101010101010101"),
        (data[:-1], MalformedEventError, "ProposalSubmitted v1: truncated body"),
        (data + b"\x00", MalformedEventError, "ProposalSubmitted v1: 1 trailing bytes"),
    ]
    for payload, error, message in cases:
        with pytest.raises(error, match=message):
            codec.decode(payload)


def test_buffers_other_than_bytes_are_read(codec: EventCodec) -> None:
    event = sample_proposal_submitted(5)
    data = codec.encode(event)
    assert codec.decode(bytearray(data)) == event
    assert codec.decode(memoryview(data)) == event


def test_every_truncation_is_malformed(codec: EventCodec) -> None:
    for event in sample_events():
        data = codec.encode(event)
        for end in range(len(data)):
            with pytest.raises(MalformedEventError):
                codec.decode_record(data[:end])


def test_model_validation_failures_are_schema_violations(codec: EventCodec) -> None:
    record = _proposal_record(codec)
    record["proposal"]["risk"]["proposer_confidence"] = 1.5
    record["proposal"]["arguments"] = "[1]"
    data = codec.encode_record("ProposalSubmitted", record)
    assert codec.decode_record(data)[1]["proposal"]["risk"]["proposer_confidence"] == 1.5
    with pytest.raises(SchemaViolationError) as caught:
        codec.decode(data)
    assert "proposal.arguments: Value error, must be the JSON text of one object" in str(
        caught.value
    )
    assert "proposal.risk.proposer_confidence: Input should be less than or equal to 1" in str(
        caught.value
    )


def test_a_timestamp_beyond_datetime_is_a_violation(codec: EventCodec) -> None:
    record = _proposal_record(codec)
    record["envelope"]["occurred_at"] = 2**62
    data = codec.encode_record("ProposalSubmitted", record)
    with pytest.raises(
        SchemaViolationError, match=r"Envelope\.occurred_at: timestamp out of range"
    ):
        codec.decode_record(data)


def test_random_bytes_only_ever_raise_codec_errors(codec: EventCodec) -> None:
    rng = random.Random(20251123)
    valid = [codec.encode(e) for e in sample_events()]
    decoded = 0
    for i in range(30_000):
        if i % 3 == 0:
            payload = rng.randbytes(rng.randrange(0, 64))
        elif i % 3 == 1:
            base = valid[i % len(valid)]
            payload = base[:10] + rng.randbytes(rng.randrange(0, len(base)))
        else:
            mutated = bytearray(valid[i % len(valid)])
            for _ in range(rng.randrange(1, 4)):
                mutated[rng.randrange(10, len(mutated))] = rng.randrange(256)
            payload = bytes(mutated)
        try:
            codec.decode(payload)
            decoded += 1
        except CodecError:
            pass
    assert decoded > 0, "some mutations (e.g. inside a string) still decode"


# --- construction --------------------------------------------------------------------------------


def test_from_settings_uses_single_object_framing_and_the_size_limit(tmp_path: Any) -> None:
    settings = load_settings(state_dir=tmp_path, max_event_bytes=4096, schema_registry_url=None)
    codec = EventCodec.from_settings(settings)
    assert codec.max_event_bytes == 4096
    letter = next(e for e in sample_events() if isinstance(e, DeadLettered))
    data = codec.encode(letter)
    assert data.startswith(b"\xc3\x01")
    assert codec.decode(data) == letter
    assert isinstance(codec.decode(codec.encode(sample_proposal_submitted(0))), ProposalSubmitted)
