"""The gate's hot path writes what the model path writes: derived ids as text, verdict bytes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.codec.codec import default_repository
from alignment_flywheel.enforcement.verdict import Verdict, verdict_event
from alignment_flywheel.events import Decision, Envelope, EvidenceKind
from alignment_flywheel.events.ids import (
    DECISION_NAMESPACE,
    EMITTED_NAMESPACE,
    REVIEW_NAMESPACE,
    SHADOW_NAMESPACE,
    decision_id_for,
    emitted_event_id,
    shadow_decision_id_for,
)
from alignment_flywheel.oracle import Amendment
from alignment_flywheel.oracle.contract import OracleSignal, Signal
from alignment_flywheel.processors.gate_core import REVISE_SPENT, GateCore, Submission
from alignment_flywheel.processors.gate_events import envelope_record, uuid5_text, verdict_record
from tests.support.samples import sample_proposal_submitted

CODEC = EventCodec(default_repository())
NAMESPACES = (DECISION_NAMESPACE, EMITTED_NAMESPACE, REVIEW_NAMESPACE, SHADOW_NAMESPACE)


@pytest.mark.parametrize("namespace", NAMESPACES)
@pytest.mark.parametrize("name", ["", "x", "verdict/5edd5542-9270-422b-84a3-f6b54840a27e", "é/ü/∑"])
def test_uuid5_text_is_the_text_of_uuid5(namespace: uuid.UUID, name: str) -> None:
    assert uuid5_text(namespace, name) == str(uuid.uuid5(namespace, name))


def test_uuid5_text_matches_the_derived_ids_of_random_proposals() -> None:
    for _ in range(200):
        pid = uuid.uuid4()
        assert uuid5_text(DECISION_NAMESPACE, str(pid)) == str(decision_id_for(pid))
        assert uuid5_text(SHADOW_NAMESPACE, str(pid)) == str(shadow_decision_id_for(pid))
        name = f"verdict/{pid}"
        assert uuid5_text(EMITTED_NAMESPACE, name) == str(emitted_event_id(pid, "verdict"))


def _verdict(decision: Decision, *, enforced: bool = True, signalled: bool = True) -> Verdict:
    signal = OracleSignal(
        safety_score=0.25,
        uncertainty=0.5,
        evidence=(
            Signal(EvidenceKind.RULE_MATCH, "matched", rule_id="r1", norm_refs=("n1", "n2")),
            Signal(EvidenceKind.NOTE, "note"),
        ),
        version=3,
        digest="a" * 64,
    )
    return Verdict(
        decision=decision,
        tier="rules",
        reasons=("matched", "and more"),
        policy_version="p2",
        latency_us=12,
        signal=signal if signalled else None,
        amendment=Amendment(set_arguments={"limit": 5}) if decision is Decision.REVISE else None,
        oracle_version=3,
        oracle_digest="a" * 64,
        enforced=enforced,
    )


@pytest.mark.parametrize("enforced", [True, False])
@pytest.mark.parametrize("decision", list(Decision))
def test_text_ids_encode_to_the_bytes_of_the_verdict_event(decision: Decision, enforced: bool):
    submitted = sample_proposal_submitted(3)
    proposal, key = submitted.proposal, str(submitted.proposal.proposal_id)
    verdict = _verdict(decision, enforced=enforced, signalled=decision is not Decision.ALLOW)
    kind = "verdict" if enforced else "shadow-verdict"
    stamp = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    args = ("gate-1", key, submitted.envelope.trace_id)
    fast = envelope_record(*args, kind=kind, occurred_at=stamp, text_id=True)
    model = envelope_record(*args, kind=kind, occurred_at=stamp)
    assert fast["event_id"] == str(model["event_id"])
    record = verdict_record(verdict, proposal, envelope=fast, key=key)
    decision_id = decision_id_for if enforced else shadow_decision_id_for
    event = verdict_event(
        verdict,
        proposal,
        producer="gate-1",
        decision_id=decision_id(proposal.proposal_id),
        trace_id=submitted.envelope.trace_id,
    ).model_copy(update={"envelope": Envelope.model_validate(model)})
    assert CODEC.encode_record("VerdictIssued", record) == CODEC.encode(event)


def test_the_core_writes_the_verdict_event_of_the_model_path() -> None:
    submitted = sample_proposal_submitted(4)
    proposal = submitted.proposal
    verdict = _verdict(Decision.ESCALATE)
    stamp = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    core = GateCore(CODEC, lambda *_: (verdict, None), producer="gate-1", review_timeout_s=30.0)
    envelope = {"trace_id": submitted.envelope.trace_id}
    stepped = core({REVISE_SPENT: {}}, Submission(envelope, proposal, None, stamp))
    model = envelope_record("gate-1", str(proposal.proposal_id), envelope["trace_id"])
    event = verdict_event(
        verdict,
        proposal,
        producer="gate-1",
        decision_id=decision_id_for(proposal.proposal_id),
        trace_id=envelope["trace_id"],
    ).model_copy(update={"envelope": Envelope.model_validate(model | {"occurred_at": stamp})})
    written, review = stepped.emitted
    assert written.value == CODEC.encode(event)
    decoded = CODEC.decode(review.value)
    assert decoded.decision_id == decision_id_for(proposal.proposal_id)  # type: ignore[attr-defined]
