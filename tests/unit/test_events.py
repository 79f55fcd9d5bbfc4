"""The event models: envelopes, immutability, and the constraints Avro cannot express."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from alignment_flywheel.events import (
    EVENT_TYPES,
    DeadLettered,
    Envelope,
    LedgerCheckpoint,
    Origin,
    PatchProposed,
    Proposal,
    ProposalSubmitted,
    RiskContext,
    new_envelope,
)
from tests.support.samples import sample_release_events


def _proposal(**changes: Any) -> Proposal:
    values: dict[str, Any] = {
        "proposal_id": uuid.uuid4(),
        "proposer_id": "agent-1",
        "session_id": "s-1",
        "tool": "fs.read",
        "arguments": '{"path": "/etc/hosts"}',
        "risk": RiskContext(proposer_confidence=0.5, environment="staging"),
    }
    return Proposal(**{**values, **changes})


def test_new_envelope_is_fresh_and_keyed() -> None:
    before = datetime.now(UTC)
    first = new_envelope("gate@host/1", "key-1")
    second = new_envelope("gate@host/1", "key-1", trace_id="trace-7", correlation_id="c-1")
    assert first.event_id != second.event_id
    assert first.event_id.version == 4
    assert first.key == "key-1"
    assert first.producer == "gate@host/1"
    assert before <= first.occurred_at <= datetime.now(UTC)
    assert first.occurred_at.tzinfo is not None
    assert len(first.trace_id) == 32 and int(first.trace_id, 16) >= 0
    assert first.trace_id != new_envelope("p", "k").trace_id
    assert first.correlation_id is None
    assert (second.trace_id, second.correlation_id) == ("trace-7", "c-1")


def test_models_are_frozen_and_closed() -> None:
    envelope = new_envelope("p", "k")
    with pytest.raises(ValidationError, match="frozen"):
        envelope.key = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        Envelope(**envelope.model_dump(), unexpected="x")


def test_event_type_and_avro_name() -> None:
    assert ProposalSubmitted.event_type() == "ProposalSubmitted"
    assert ProposalSubmitted.avro_name == "alignment_flywheel.ProposalSubmitted"
    assert all(cls.event_type() == name for name, cls in EVENT_TYPES.items())
    assert all(name == cls.__name__ for name, cls in EVENT_TYPES.items())


def test_risk_context_defaults_to_unknown() -> None:
    risk = RiskContext(proposer_confidence=1.0, environment="production")
    assert risk.origin is Origin.UNKNOWN
    assert risk.blast_radius == "UNKNOWN"


@pytest.mark.parametrize("confidence", [-0.01, 1.01, float("nan")])
def test_confidence_must_be_a_fraction(confidence: float) -> None:
    with pytest.raises(ValidationError, match="proposer_confidence"):
        RiskContext(proposer_confidence=confidence, environment="production")


@pytest.mark.parametrize("arguments", ["[1, 2]", "not json", '{"a": NaN}', '"text"', ""])
def test_arguments_must_be_json_object_text(arguments: str) -> None:
    with pytest.raises(ValidationError, match="arguments"):
        _proposal(arguments=arguments)


def test_arguments_parse_to_a_dict() -> None:
    assert _proposal(arguments='{"a": [1, {"b": null}]}').arguments_object() == {
        "a": [1, {"b": None}]
    }


def test_timestamps_must_be_timezone_aware() -> None:
    values = new_envelope("p", "k").model_dump()
    with pytest.raises(ValidationError, match="occurred_at"):
        Envelope(**{**values, "occurred_at": datetime(2025, 1, 1)})
    eastern = datetime(2025, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5)))
    assert Envelope(**{**values, "occurred_at": eastern}).occurred_at == eastern


@pytest.mark.parametrize("digest", ["ab" * 31, "AB" * 32, "zz" * 32, ""])
def test_digests_are_lowercase_sha256_hex(digest: str) -> None:
    with pytest.raises(ValidationError, match="root_hash"):
        LedgerCheckpoint(
            envelope=new_envelope("p", "ledger"),
            log_id="ledger",
            tree_size=1,
            root_hash=digest,
            first_offset=0,
            last_offset=0,
            key_id="k",
            signature=b"s",
        )


def test_patch_operations_must_be_canonical_json_array() -> None:
    patch = next(e for e in sample_release_events() if isinstance(e, PatchProposed))
    values = patch.model_dump()
    for operations in ('[{"op": "add"}]', '{"op":"add"}', '[{"b":1,"a":2}]'):
        with pytest.raises(ValidationError, match="operations"):
            PatchProposed(**{**values, "operations": operations})
    assert PatchProposed(**{**values, "operations": '[{"a":2,"b":1}]'}).operations


def test_long_and_int_ranges_match_avro() -> None:
    values = dict(
        envelope=new_envelope("p", "t/0/0"),
        source_topic="t",
        offset=0,
        reason="r",
        error_type="E",
    )
    assert DeadLettered(**values, partition=2**31 - 1).partition == 2**31 - 1
    with pytest.raises(ValidationError, match="partition"):
        DeadLettered(**values, partition=2**31)
    with pytest.raises(ValidationError, match="offset"):
        DeadLettered(**{**values, "offset": 2**63}, partition=0)


def test_arrays_are_immutable_tuples() -> None:
    patch = next(e for e in sample_release_events() if isinstance(e, PatchProposed))
    finding = uuid.uuid4()
    rebuilt = PatchProposed(**{**patch.model_dump(), "finding_ids": [str(finding)]})
    assert rebuilt.finding_ids == (finding,)
    assert isinstance(patch.cluster_ids, tuple)
