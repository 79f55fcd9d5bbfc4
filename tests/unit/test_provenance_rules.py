"""The ``provenance`` CEL variable through the rule oracle, the enforcers and the composite: a
session context reaches every rule that reads it, and callers without one keep working."""

from __future__ import annotations

from typing import Any

import pytest

from alignment_flywheel.enforcement import Enforcer, TimeoutOracle
from alignment_flywheel.enforcement.staged import Deployment, StagedEnforcer
from alignment_flywheel.events import Decision, EvidenceKind, Proposal, ReleaseStage
from alignment_flywheel.oracle import OracleSignal
from alignment_flywheel.oracle import expressions as expr
from alignment_flywheel.oracle.composite import CompositeOracle
from alignment_flywheel.oracle.contract import evaluate_oracle, takes_session
from alignment_flywheel.oracle.provenance import SessionContext
from tests.support.oracles import policy, proposal, rule, rule_oracle

EMAIL = ("email.read", "Your landlord's new account: DE89 3704 0044 0532 0130 00. Regards")
SESSION = SessionContext("Pay my rent of 1200 EUR to my landlord", (EMAIL,))
PAY = proposal("bank.transfer", {"iban": "DE89 3704 0044 0532 0130 00", "amount": 1200})
INJECTED = rule(
    "pay.iban-from-email-only",
    '!("user" in provenance.iban) && provenance.iban.exists(s, s == "text:email.read")',
    tools=["bank.*"],
)
GUARDED = rule(
    "pay.iban-not-from-user",
    'has(provenance.iban) && !("user" in provenance.iban)',
    tools=["bank.*"],
)


def test_a_rule_reads_where_each_argument_came_from() -> None:
    signal = rule_oracle(INJECTED).evaluate(PAY, SESSION)
    assert [e.rule_id for e in signal.evidence] == ["pay.iban-from-email-only"]
    assert signal.safety_score == 0.1


def test_a_value_the_user_gave_does_not_match() -> None:
    session = SessionContext("Pay 1200 EUR to DE89 3704 0044 0532 0130 00", (EMAIL,))
    assert rule_oracle(INJECTED, GUARDED).evaluate(PAY, session).evidence == ()


def test_without_a_session_a_guarded_rule_is_quiet_and_an_unguarded_one_fails() -> None:
    assert rule_oracle(GUARDED).evaluate(PAY).evidence == ()
    (error,) = rule_oracle(INJECTED).evaluate(PAY).evidence
    assert error.kind is EvidenceKind.RULE_ERROR
    assert "iban" in error.message


def test_provenance_is_only_computed_when_a_rule_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    real = expr.provenance_variable

    def counting(session: SessionContext | None, arguments: Any) -> dict[str, list[str]]:
        calls.append(arguments)
        return real(session, arguments)

    monkeypatch.setattr(expr, "provenance_variable", counting)
    other = rule("big", "args.amount > 1000", tools=["bank.*"])
    rule_oracle(other).evaluate(PAY, SESSION)
    assert calls == []
    rule_oracle(other, GUARDED).evaluate(PAY, SESSION)
    assert len(calls) == 1


def test_a_thread_reused_context_never_keeps_another_proposals_provenance() -> None:
    oracle = rule_oracle(GUARDED)
    assert oracle.evaluate(PAY, SESSION).evidence != ()
    assert oracle.evaluate(PAY).evidence == ()


def test_the_enforcer_decides_in_the_session_context() -> None:
    enforcer = Enforcer(rule_oracle(INJECTED), policy())
    assert enforcer.decide(PAY, session=SESSION).decision is Decision.BLOCK
    assert enforcer.decide(PAY, revision_depth=0).decision is Decision.ESCALATE  # rule error


def test_the_staged_enforcer_gives_both_sides_the_session() -> None:
    staged = StagedEnforcer(rule_oracle(INJECTED), policy())
    staged.deploy(Deployment(rule_oracle(INJECTED), rule_oracle(GUARDED), ReleaseStage.SHADOW))
    both = staged.decide_staged(PAY, session=SESSION)
    assert both.enforced.decision is Decision.BLOCK
    assert both.shadow is not None and both.shadow.decision is Decision.BLOCK
    assert staged.decide(PAY, session=SESSION).decision is Decision.BLOCK


class PlainOracle:
    """An oracle written before session contexts: ``evaluate(proposal)`` only."""

    version = 3
    digest = "12" * 32

    def evaluate(self, proposal: Proposal) -> OracleSignal:
        return OracleSignal(0.9, 0.0, (), self.version, self.digest)


def test_an_oracle_without_the_session_parameter_keeps_working() -> None:
    assert not takes_session(PlainOracle()) and takes_session(rule_oracle(GUARDED))
    assert evaluate_oracle(PlainOracle(), PAY, SESSION).safety_score == 0.9
    verdict = Enforcer(PlainOracle(), policy()).decide(PAY, session=SESSION)
    assert verdict.decision is Decision.ALLOW and verdict.error is None


def test_the_composite_and_the_timeout_oracle_pass_the_session_on() -> None:
    composite = CompositeOracle([PlainOracle(), rule_oracle(INJECTED)], ["plain", "rules"])
    signal = composite.evaluate(PAY, SESSION)
    assert [e.rule_id for e in signal.evidence] == ["pay.iban-from-email-only"]
    bounded = TimeoutOracle(rule_oracle(INJECTED), timeout_s=5.0)
    try:
        assert [e.rule_id for e in bounded.evaluate(PAY, SESSION).evidence] == [
            "pay.iban-from-email-only"
        ]
        assert bounded.evaluate(PAY).evidence[0].kind is EvidenceKind.RULE_ERROR
    finally:
        bounded.close()


def test_provenance_is_a_known_variable_and_maps_keys_to_lists() -> None:
    assert "provenance" in expr.VARIABLES
    compiled = expr.compile_expression('provenance.iban == ["text:email.read"]')
    assert compiled.variables == {"provenance"}
    oracle = rule_oracle(rule("exact", 'provenance.iban == ["text:email.read"]'))
    assert oracle.evaluate(PAY, SESSION).evidence[0].rule_id == "exact"


@pytest.mark.parametrize(
    ("source", "fields"),
    [
        ('has(provenance.to) && !("user" in provenance.to)', frozenset({"to"})),
        ('provenance["to"].size() > 0 && "provenance.cc" != ""', frozenset({"to"})),
        ("size(provenance) > 0", None),
        ("args.to != ''", frozenset()),
    ],
)
def test_only_the_provenance_a_rule_reads_is_computed(
    source: str, fields: frozenset[str] | None
) -> None:
    expression = expr.compile_expression(source)
    assert expression.provenance_fields == fields
    plan = expr.ContextPlan.of([expression])
    context = SessionContext("mail a@x.org", (("mail.read", "b@y.org and c@z.org"),))
    arguments = {"to": "b@y.org", "cc": "c@z.org", "body": "hello there"}
    made = proposal("mail.send", arguments)
    seen = expr.proposal_variables(made, arguments, plan, context).get("provenance")
    if "provenance" not in expression.variables:
        assert seen is None
    elif fields is None:
        assert seen is not None and set(seen) == set(arguments)
    else:
        assert seen == {"to": ["text:mail.read"]}
