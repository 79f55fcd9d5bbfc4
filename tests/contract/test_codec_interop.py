"""The bytes on the wire: other Avro implementations read ours, and v1 bytes never change."""

from __future__ import annotations

import io
import json
import struct
import uuid
from datetime import UTC, datetime

import avro.io
import avro.schema
import pytest

from alignment_flywheel.codec import EventCodec, SchemaRepository
from alignment_flywheel.events import (
    BlastRadius,
    Envelope,
    Event,
    Origin,
    Proposal,
    ProposalSubmitted,
    RiskContext,
)
from tests.support.samples import sample_events


@pytest.fixture(scope="module")
def codec() -> EventCodec:
    return EventCodec(SchemaRepository())


def _reference_schema(codec: EventCodec, event: Event) -> avro.schema.Schema:
    return avro.schema.parse(json.dumps(codec.repository.current(event.event_type()).schema))


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: e.event_type())
def test_the_avro_reference_implementation_reads_our_bodies(
    codec: EventCodec, event: Event
) -> None:
    schema = _reference_schema(codec, event)
    data = codec.encode(event)
    reader = avro.io.DatumReader(schema, schema)
    record = reader.read(avro.io.BinaryDecoder(io.BytesIO(data[10:])))
    assert type(event).model_validate(record) == event


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: e.event_type())
def test_we_read_bodies_the_avro_reference_implementation_writes(
    codec: EventCodec, event: Event
) -> None:
    schema = _reference_schema(codec, event)
    _name, record = codec.decode_record(codec.encode(event))
    body = io.BytesIO()
    avro.io.DatumWriter(schema).write(record, avro.io.BinaryEncoder(body))
    header = codec.encode(event)[:10]
    assert codec.decode(header + body.getvalue()) == event


def test_proposal_submitted_v1_bytes_are_fixed(codec: EventCodec) -> None:
    event_id = "00000000-0000-4000-8000-000000000001"
    proposal_id = "00000000-0000-4000-8000-000000000002"
    occurred_at = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    arguments = '{"path":"/etc/hosts"}'
    event = ProposalSubmitted(
        envelope=Envelope(
            event_id=uuid.UUID(event_id),
            occurred_at=occurred_at,
            producer="gate@host/1",
            trace_id="trace-1",
            key=proposal_id,
        ),
        proposal=Proposal(
            proposal_id=uuid.UUID(proposal_id),
            proposer_id="agent-1",
            session_id="s-1",
            tool="fs.read",
            arguments=arguments,
            risk=RiskContext(
                origin=Origin.HUMAN,
                proposer_confidence=0.5,
                blast_radius=BlastRadius.LOW,
                environment="staging",
            ),
        ),
    )
    assert int(occurred_at.timestamp() * 1_000_000) == 1_735_787_045_678_901
    expected = b"".join(
        [
            bytes.fromhex("c301"),  # single-object marker
            bytes.fromhex("b2154f414bd93b1a"),  # CRC-64-AVRO of ProposalSubmitted v1, LE
            b"\x48" + event_id.encode(),  # string length 36, zig-zag 72
            bytes.fromhex("eabc9ba48dac9506"),  # 1735787045678901 µs, zig-zag varint
            b"\x16gate@host/1",
            b"\x0etrace-1",
            b"\x00",  # correlation_id: union branch 0, null
            b"\x48" + proposal_id.encode(),  # key
            b"\x48" + proposal_id.encode(),  # proposal_id
            b"\x0eagent-1",
            b"\x06s-1",
            b"\x0efs.read",
            b"\x2a" + arguments.encode(),  # 21 bytes
            b"\x00",  # reasoning: null
            b"\x00",  # parent_proposal_id: null
            b"\x02",  # origin: symbol 1, HUMAN
            struct.pack("<d", 0.5),  # proposer_confidence
            b"\x04",  # blast_radius: symbol 2, LOW
            b"\x0estaging",
        ]
    )
    assert codec.encode(event) == expected
    assert codec.decode(expected) == event
