"""Records encoded as runs of fields (codec/spans.py) and the gate's verdict bytes
(processors/verdict_bytes.py): the joined runs are the bytes of the whole record."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.codec.codec import default_repository
from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.errors import OversizedEventError, SchemaError, SchemaViolationError
from alignment_flywheel.events import Decision, EvidenceKind, ReleaseStage
from alignment_flywheel.oracle import Amendment
from alignment_flywheel.oracle.contract import OracleSignal, Signal
from alignment_flywheel.processors import verdict_bytes
from alignment_flywheel.processors.gate_events import envelope_record, verdict_front, verdict_record
from alignment_flywheel.processors.verdict_bytes import VerdictBytes
from tests.support.samples import sample_events, sample_proposal

CODEC = EventCodec(default_repository())


def _cuts(names: list[str]) -> list[tuple[str, ...]]:
    """Every way to start one or two runs after the first field."""
    later = names[1:]
    return [(a,) for a in later] + list(itertools.combinations(later, 2))


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: e.event_type())
def test_joined_runs_are_the_bytes_of_every_sample_event(event: Any) -> None:
    record = event.model_dump(mode="python")
    whole = CODEC.encode_record(event.event_type(), record)
    for starts in _cuts(list(record)):
        spans = CODEC.spans(event.event_type(), starts)
        runs = [spans.encode(i, record) for i in range(len(spans.encoders))]
        assert spans.join(runs) == whole, starts


@pytest.mark.parametrize(
    "starts", [("envelope",), ("decision", "tool"), ("no_such_field",), ("tool", "tool")]
)
def test_runs_must_start_at_increasing_fields_after_the_first(starts: tuple[str, ...]) -> None:
    with pytest.raises(SchemaError):
        CODEC.spans("VerdictIssued", starts)


def test_a_bad_value_names_the_event_and_field() -> None:
    spans = CODEC.spans("VerdictIssued", ("decision", "latency_us"))
    with pytest.raises(SchemaViolationError, match="VerdictIssued: latency_us"):
        spans.encode(2, {"latency_us": "soon"})


def test_the_joined_record_obeys_the_size_limit() -> None:
    small = EventCodec(default_repository(), max_event_bytes=64)
    spans = small.spans("VerdictIssued", ("decision",))
    with pytest.raises(OversizedEventError):
        spans.join((b"x" * 40, b"y" * 40))
    with pytest.raises(ValueError, match="1 runs for 2 encoders"):
        spans.join((b"x",))


SIGNAL = OracleSignal(
    safety_score=0.25,
    uncertainty=0.5,
    evidence=(Signal(EvidenceKind.RULE_MATCH, "matched", rule_id="r1", norm_refs=("n1",)),),
    version=3,
    digest="a" * 64,
)
BASE = Verdict(
    decision=Decision.BLOCK,
    tier="rules",
    reasons=("matched",),
    policy_version="p2",
    latency_us=12,
    signal=SIGNAL,
    oracle_version=3,
    oracle_digest="a" * 64,
)
VARIANTS = [
    BASE,
    replace(BASE, latency_us=99_999),
    replace(BASE, reasons=("other",)),
    replace(BASE, decision=Decision.ESCALATE),
    replace(BASE, enforced=False, stage=ReleaseStage.SHADOW),
    replace(BASE, signal=replace(SIGNAL, safety_score=0.75)),
    replace(BASE, signal=None, error="oracle failed"),
    replace(BASE, decision=Decision.REVISE, amendment=Amendment(set_arguments={"limit": 5})),
    replace(BASE, tier="critical", policy_version="p3", oracle_version=4),
]


def _expected(verdict: Verdict, i: int) -> tuple[dict[str, Any], bytes]:
    proposal = sample_proposal(i)
    key = str(proposal.proposal_id)
    envelope = envelope_record("gate-1", key, f"trace-{i}", text_id=True)
    front = verdict_front(verdict, proposal, envelope=envelope, key=key)
    whole = verdict_record(verdict, proposal, envelope=envelope, key=key)
    return front, CODEC.encode_record("VerdictIssued", whole)


def test_remembered_judged_parts_give_the_bytes_of_the_whole_record() -> None:
    encoder = VerdictBytes(CODEC)
    for round_ in range(2):  # the second round reads what the first remembered
        for i, verdict in enumerate(VARIANTS):
            front, expected = _expected(verdict, i + round_)
            assert encoder.encode(front, verdict) == expected, (round_, i)


def test_the_remembered_table_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verdict_bytes, "MAX_REMEMBERED", 3)
    encoder = VerdictBytes(CODEC)
    for i in range(10):
        verdict = replace(BASE, reasons=(f"reason {i}",))
        front, expected = _expected(verdict, i)
        assert encoder.encode(front, verdict) == expected
        assert len(encoder._judged) <= 3
