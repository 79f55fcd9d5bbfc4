"""Pure parts of the gate: ids, the decided-by header, the events it emits."""

from __future__ import annotations

import uuid
from datetime import timedelta

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.codec.codec import default_repository
from alignment_flywheel.enforcement.verdict import Verdict, verdict_event
from alignment_flywheel.events import (
    Decision,
    Envelope,
    EvidenceKind,
    Proposal,
    ProposalSubmitted,
    VerdictIssued,
)
from alignment_flywheel.events.ids import decision_id_for, review_id_for
from alignment_flywheel.kafka.headers import decided_elsewhere
from alignment_flywheel.oracle import Amendment
from alignment_flywheel.oracle.contract import OracleSignal, Signal
from alignment_flywheel.processors.gate_events import (
    envelope_record,
    escalation_review,
    gate_output,
    review_request,
    verdict_record,
)
from tests.support.samples import sample_proposal_submitted


class FixedDecider:
    def __init__(self, decision: Decision, amendment: Amendment | None = None) -> None:
        self.decision, self.amendment = decision, amendment
        self.depths: list[int] = []

    def decide(self, proposal: Proposal, *, revision_depth: int = 0) -> Verdict:
        self.depths.append(revision_depth)
        return Verdict(
            decision=self.decision,
            tier="t",
            reasons=("because",),
            policy_version="p1",
            latency_us=3,
            amendment=self.amendment,
        )


def test_ids_are_deterministic_per_proposal_and_distinct_between_kinds():
    pid = uuid.uuid4()
    assert decision_id_for(pid) == decision_id_for(uuid.UUID(str(pid)))
    assert decision_id_for(pid) != decision_id_for(uuid.uuid4())
    assert review_id_for(pid) != decision_id_for(pid)


def test_decided_by_header_is_found_in_lists_and_mappings():
    assert decided_elsewhere(None) is None
    assert decided_elsewhere([]) is None
    assert decided_elsewhere([("other", b"x")]) is None
    assert decided_elsewhere([("other", b"x"), ("flywheel-decided-by", b"sdk")]) == "sdk"
    assert decided_elsewhere({"flywheel-decided-by": b"http"}) == "http"


def _submitted() -> ProposalSubmitted:
    return sample_proposal_submitted(2)


def test_escalation_emits_a_review_request_with_a_deadline():
    submitted = _submitted()
    decider = FixedDecider(Decision.ESCALATE)
    out = gate_output(decider, submitted, depth=1, review_timeout_s=60, producer="gate-1")
    pid = submitted.proposal.proposal_id
    assert decider.depths == [1]
    assert out.verdict.decision is Decision.ESCALATE
    assert out.verdict.decision_id == decision_id_for(pid)
    assert out.verdict.envelope.key == str(pid) and out.verdict.envelope.producer == "gate-1"
    assert out.verdict.envelope.trace_id == submitted.envelope.trace_id
    review = out.review
    assert review is not None
    assert review.review_id == review_id_for(pid) and review.decision_id == out.verdict.decision_id
    assert review.reason == "because" and review.envelope.key == str(pid)
    assert review.deadline is not None
    remaining = review.deadline - review.envelope.occurred_at
    assert timedelta(seconds=59) < remaining <= timedelta(seconds=61)


def test_revise_carries_the_amendment_and_no_review():
    amendment = Amendment(set_arguments={"limit": 10}, constraints=("dry_run",))
    out = gate_output(
        FixedDecider(Decision.REVISE, amendment),
        _submitted(),
        depth=0,
        review_timeout_s=60,
        producer="g",
    )
    assert out.review is None
    assert out.verdict.amendment is not None
    assert Amendment.from_json(out.verdict.amendment) == amendment


def _signalled_verdict(decision: Decision) -> Verdict:
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
        reasons=("matched",),
        policy_version="p2",
        latency_us=12,
        signal=signal,
        amendment=Amendment(set_arguments={"limit": 5}),
        oracle_version=3,
        oracle_digest="a" * 64,
    )


def test_the_verdict_record_is_the_dump_of_the_verdict_event():
    submitted = _submitted()
    proposal = submitted.proposal
    for verdict in (
        _signalled_verdict(Decision.REVISE),
        FixedDecider(Decision.BLOCK).decide(proposal),
    ):
        envelope = envelope_record("gate-1", str(proposal.proposal_id), submitted.envelope.trace_id)
        record = verdict_record(verdict, proposal, envelope=envelope)
        event = verdict_event(
            verdict,
            proposal,
            producer="gate-1",
            decision_id=decision_id_for(proposal.proposal_id),
            trace_id=submitted.envelope.trace_id,
        ).model_copy(update={"envelope": Envelope.model_validate(envelope)})
        assert record == event.model_dump(mode="python")
        codec = EventCodec(default_repository())
        assert codec.encode_record("VerdictIssued", record) == codec.encode(event)


def test_the_review_of_a_verdict_record_matches_the_review_of_the_model():
    submitted = _submitted()
    proposal = submitted.proposal
    envelope = envelope_record("g", str(proposal.proposal_id), "trace-1")
    record = verdict_record(_signalled_verdict(Decision.ESCALATE), proposal, envelope=envelope)
    from_record = escalation_review(record, review_timeout_s=30, producer="g")
    from_model = review_request(
        VerdictIssued.model_validate(record), review_timeout_s=30, producer="g"
    )
    same = ("review_id", "proposal_id", "decision_id", "reason", "deadline")
    assert {k: getattr(from_record, k) for k in same} == {k: getattr(from_model, k) for k in same}
    assert from_record.review_id == review_id_for(proposal.proposal_id)
    assert from_record.envelope.trace_id == "trace-1"
