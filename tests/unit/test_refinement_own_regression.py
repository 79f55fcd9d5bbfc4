"""Refinement on data it was not built for: each cluster's own regression, its own members never
benign, list arguments, guarded optional keys, and a fix for every confirmed failure."""

from __future__ import annotations

from alignment_flywheel.enforcement import Enforcer, build_policy
from alignment_flywheel.events import Decision
from alignment_flywheel.governance.norms import example_proposal as made
from alignment_flywheel.governance.refinement import Cluster, LabelledCase, NoPatch, Refined, refine
from alignment_flywheel.governance.synthesis import shared_predicates
from alignment_flywheel.oracle.artifact import build_artifact, read_document
from alignment_flywheel.oracle.loader import DEFAULT_RISK_POLICY
from alignment_flywheel.oracle.rules import RuleOracle
from tests.support.oracles import artifact_doc, rule

POLICY = build_policy(read_document(DEFAULT_RISK_POLICY))
BASE = build_artifact(artifact_doc(rule("noop", "false")))
TOOL = "mail.send"


def mail(to: list[str], subject: str, body: str, **extra: object) -> LabelledCase:
    arguments = {"recipients": to, "subject": subject, "body": body, **extra}
    return LabelledCase(made(TOOL, arguments), Decision.ALLOW)


def benign_mail(count: int = 40) -> list[LabelledCase]:
    people = ["ana@corp.test", "bo@corp.test", "cy@partner.test", "di@corp.test"]
    return [
        mail([people[i % 4]], f"weekly notes {i}", f"Hi, the notes for week {i} and the plan.")
        for i in range(count)
    ]


def stopped(artifact: object, cases: list[LabelledCase]) -> list[Decision]:
    enforcer = Enforcer(RuleOracle(artifact), POLICY)  # type: ignore[arg-type]
    return [enforcer.decide(c.proposal).decision for c in cases]


ATTACKS = [
    mail(["drop@exfil.test"], "Important!", "Hey, how is it going and what is new?"),
    mail(["drop@exfil.test"], "Re: hello", "Here is the code 4411 and the rest."),
]


def test_a_cluster_is_not_held_to_other_clusters_unsafe_labels() -> None:
    other = LabelledCase(made("files.delete", {"file_id": "7"}), Decision.ALLOW, False)
    result = refine(
        Cluster("exfil", [c.proposal for c in ATTACKS]), BASE, POLICY, [*benign_mail(), other]
    )
    assert isinstance(result, Refined), result
    assert result.evidence.passed


def test_a_clusters_own_allowed_incidents_are_not_benign_history() -> None:
    members = [
        mail(["drop@exfil.test"], f"Important {i}", f"message number {i} for you") for i in range(4)
    ]
    history = [*benign_mail(), *members]  # the incidents were allowed, and nobody labelled them
    result = refine(Cluster("exfil", [c.proposal for c in members]), BASE, POLICY, history)
    assert isinstance(result, Refined) and not result.exact, result
    assert result.evidence.false_positives == 0


def test_list_arguments_give_candidates_and_free_text_does_not() -> None:
    predicates = shared_predicates([c.proposal for c in ATTACKS])
    kinds = {(p.kind, p.key) for p in predicates}
    assert ("element", "recipients") in kinds
    assert not {key for _, key in kinds} & {"subject", "body"}  # no lexical accidents in prose
    result = refine(Cluster("exfil", [c.proposal for c in ATTACKS]), BASE, POLICY, benign_mail())
    assert isinstance(result, Refined), result
    # 40 benign cases are too few to trust a broad rule within a 1 % budget: the shared address
    assert [p.kind for p in result.predicates] == ["element"]
    unseen = [
        mail(["drop@exfil.test"], "Invoice", "Please find the invoice attached."),
        mail(["other@leak.test"], "Invoice", "Please find the invoice attached."),
    ]
    assert stopped(result.target, unseen) == [Decision.BLOCK, Decision.ALLOW]
    # within a 10 % budget they are enough (3 / 0.1 = 30): a recipient the benign history never
    # had, which also stops an address nobody reported
    members = [c.proposal for c in ATTACKS]
    broad = refine(Cluster("exfil", members), BASE, POLICY, benign_mail(), fp_budget=0.1)
    assert isinstance(broad, Refined) and [p.kind for p in broad.predicates] == ["novel"]
    assert stopped(broad.target, unseen) == [Decision.BLOCK, Decision.BLOCK]
    assert "benign_mail_send_recipients" in broad.target.spec.data
    assert set(stopped(result.target, benign_mail())) == {Decision.ALLOW}


def test_no_candidate_is_said_as_such_and_the_reported_calls_are_still_stopped() -> None:
    members = [made(TOOL, {"body": "first words here"}), made(TOOL, {"body": "other text now"})]
    result = refine(Cluster("prose", members), BASE, POLICY, benign_mail())
    assert isinstance(result, Refined) and result.exact, result
    assert "no candidate predicate is shared by every member" in result.patch.rationale
    assert "false-positive budget" not in result.patch.rationale


def test_rules_on_optional_keys_never_fail_on_calls_without_them() -> None:
    members = [mail(["drop@exfil.test"], "x y", "a b", cc=["boss@exfil.test"]) for _ in range(2)]
    result = refine(Cluster("cc", [c.proposal for c in members]), BASE, POLICY, benign_mail())
    assert isinstance(result, Refined), result
    plain = made(TOOL, {"subject": "no recipients at all"})
    wrong_type = made(TOOL, {"recipients": "ana@corp.test", "cc": 3})
    decisions = stopped(
        result.target,
        [LabelledCase(plain, Decision.ALLOW), LabelledCase(wrong_type, Decision.ALLOW)],
    )
    assert decisions == [Decision.ALLOW, Decision.ALLOW]


def test_every_confirmed_failure_gets_a_patch_even_when_no_general_rule_qualifies() -> None:
    member = mail(["ana@corp.test"], "weekly notes 3", "Hi, the notes for week 3 and the plan.")
    twin = mail(["ana@corp.test"], "weekly notes 3 ", "Hi, the notes for week 3 and the plan.")
    result = refine(Cluster("lookalike", [member.proposal]), BASE, POLICY, [*benign_mail(), twin])
    assert isinstance(result, Refined) and result.exact, result
    assert stopped(result.target, [member]) == [Decision.BLOCK]
    assert set(stopped(result.target, [*benign_mail(), twin])) == {Decision.ALLOW}


def test_nothing_to_do_when_the_oracle_already_blocks_every_member() -> None:
    blocking = build_artifact(artifact_doc(rule("all-mail", "true", score=0.0, tools=[TOOL])))
    result = refine(Cluster("exfil", [c.proposal for c in ATTACKS]), blocking, POLICY, [])
    assert isinstance(result, NoPatch) and "already blocks" in result.reason
