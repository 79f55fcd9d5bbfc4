"""Refinement: the smallest generalising patch, proved on history; or why there is none."""

from __future__ import annotations

import random
import uuid

from alignment_flywheel.enforcement import Enforcer, build_policy, verdict_event
from alignment_flywheel.events import Decision, ProposalSubmitted, new_envelope
from alignment_flywheel.governance.changes import ProposedChanges
from alignment_flywheel.governance.history import History
from alignment_flywheel.governance.norms import example_proposal as made
from alignment_flywheel.governance.norms import load_norms
from alignment_flywheel.governance.refinement import (
    Cluster,
    LabelledCase,
    NoPatch,
    Refined,
    refine,
)
from alignment_flywheel.oracle.artifact import build_artifact, read_document
from alignment_flywheel.oracle.loader import DEFAULT_RISK_POLICY
from alignment_flywheel.oracle.rules import RuleOracle
from tests.support.oracles import artifact_doc, rule

POLICY = build_policy(read_document(DEFAULT_RISK_POLICY))
BASE = build_artifact(artifact_doc(rule("noop", "false")))

MEMBERS = [
    made("shell.exec", {"cmd": "chmod -R 777 /srv/app"}),
    made("shell.exec", {"cmd": "sudo chmod -R 0777 /var/www"}),
    made("shell.exec", {"cmd": "cd /data && chmod -R a+rwx ."}),
]
UNSEEN = [
    made("shell.exec", {"cmd": "chmod -R 777 /home/alice"}),
    made("shell.exec", {"cmd": "CHMOD -R 777 /etc"}),
]


def benign_history(count: int = 300) -> list[LabelledCase]:
    rng = random.Random(7)
    commands = [
        "ls -la",
        "cat README.md",
        "chmod 644 notes.txt",
        "grep -R todo src",
        "git status",
        "make test",
        "du -sh /srv",
        "rm build.log",
        "chmod +x run.sh",
    ]
    return [
        LabelledCase(made("shell.exec", {"cmd": f"{rng.choice(commands)} {i}"}), Decision.ALLOW)
        for i in range(count)
    ]


def test_the_patch_generalises_to_variants_never_seen() -> None:
    labelled = LabelledCase(made("shell.exec", {"cmd": "chmod 600 key"}), Decision.ALLOW, True)
    history = [*benign_history(), labelled]
    result = refine(Cluster("chmod-recursive", MEMBERS), BASE, POLICY, history)
    assert isinstance(result, Refined), result
    assert 1 <= len(result.predicates) <= 2
    assert {p.kind for p in result.predicates} <= {"word", "flag"}
    evidence = result.evidence
    assert evidence.passed and evidence.blocked == evidence.expected_blocked == 3
    assert evidence.false_positives == 0 and evidence.labels_kept == evidence.labelled == 1
    patched = Enforcer(RuleOracle(result.target), POLICY)
    assert all(patched.decide(p).decision is Decision.BLOCK for p in UNSEEN)
    assert result.patch.regression == evidence
    assert result.patch.target_digest == result.target.digest
    assert "chmod" in result.patch.rationale


def test_when_every_general_rule_hits_benign_traffic_the_exact_rule_fixes_the_reported_calls() -> (
    None
):
    members = [
        made("shell.exec", {"cmd": "git status"}),
        made("shell.exec", {"cmd": "git  status -s"}),
    ]
    result = refine(Cluster("git", members), BASE, POLICY, benign_history(), fp_budget=0.0)
    assert isinstance(result, Refined) and result.exact, result
    assert "false-positive budget" in result.patch.rationale
    patched = Enforcer(RuleOracle(result.target), POLICY)
    assert all(patched.decide(p).decision is Decision.BLOCK for p in members)
    assert patched.decide(made("shell.exec", {"cmd": "git status -v"})).decision is Decision.ALLOW
    assert result.evidence.passed and result.evidence.false_positives == 0


def test_a_call_labelled_safe_is_never_blocked_by_the_patch() -> None:
    safe = made("shell.exec", {"cmd": "chmod -R 755 /srv/app/public"})
    labelled = [LabelledCase(safe, Decision.ALLOW, True)]
    result = refine(Cluster("chmod-recursive", MEMBERS), BASE, POLICY, benign_history() + labelled)
    assert isinstance(result, Refined), result
    assert "0/1 calls labelled safe kept" in result.patch.rationale
    patched = Enforcer(RuleOracle(result.target), POLICY)
    assert patched.decide(safe).decision is Decision.ALLOW
    assert all(patched.decide(p).decision is Decision.BLOCK for p in MEMBERS)
    assert result.evidence.labels_kept == result.evidence.labelled == 1


def test_no_patch_when_a_person_labelled_a_reported_call_itself_safe() -> None:
    labelled = [
        LabelledCase(made("shell.exec", {"cmd": "chmod -R 777 /srv/app"}), Decision.ALLOW, True)
    ]
    members = [made("shell.exec", {"cmd": "chmod -R 777 /srv/app"})]
    history = [*benign_history(), *labelled]
    result = refine(Cluster("chmod", members), BASE, POLICY, history)
    # the same call as a member is the member: a person's label of it does not count as benign
    assert isinstance(result, Refined), result


def test_unsafe_traffic_the_oracle_let_through_is_not_benign_history() -> None:
    leaked = [
        LabelledCase(made("shell.exec", {"cmd": f"chmod -R 777 /srv/{i}"}), Decision.ALLOW)
        for i in range(50)
    ]
    history = [*benign_history(), *leaked]
    without = refine(Cluster("chmod", MEMBERS), BASE, POLICY, history)
    assert isinstance(without, Refined) and without.exact, without
    result = refine(Cluster("chmod", MEMBERS), BASE, POLICY, history, norms=load_norms())
    assert isinstance(result, Refined) and not result.exact, result
    assert result.evidence.false_positives == 0 and result.evidence.benign == 300


def test_history_counts_a_proposal_once_however_often_it_is_read() -> None:
    history = History()
    gate = Enforcer(RuleOracle(BASE), POLICY)
    for _ in range(2):
        for i in range(5):
            proposal = made("shell.exec", {"cmd": f"ls {i}"}).model_copy(
                update={"proposal_id": uuid.UUID(int=i + 1)}
            )
            history.add(ProposalSubmitted(envelope=new_envelope("t", "k"), proposal=proposal))
            history.add(verdict_event(gate.decide(proposal), proposal, producer="t"))
    assert history.seen_allowed == 5 and len(history.cases()) == 5


def test_no_second_patch_for_a_cluster_whose_rule_is_already_released() -> None:
    history = benign_history()
    first = refine(Cluster("chmod-recursive", MEMBERS), BASE, POLICY, history)
    assert isinstance(first, Refined), first
    grown = Cluster("chmod-recursive", [*MEMBERS, *UNSEEN])
    again = refine(grown, first.target, POLICY, history)
    assert isinstance(again, NoPatch)
    assert "already blocks every member" in again.reason and again.covered


def test_a_cluster_grown_past_its_released_rule_replaces_the_rule() -> None:
    history = benign_history()
    first = refine(Cluster("chmod-recursive", MEMBERS), BASE, POLICY, history)
    assert isinstance(first, Refined), first
    missed = made("shell.exec", {"cmd": "setfacl -m o::rwx /srv/app"})
    grown = refine(Cluster("chmod-recursive", [*MEMBERS, missed]), first.target, POLICY, history)
    assert isinstance(grown, Refined), grown
    assert [op.op for op in grown.patch.operations] == ["replace_rule"]
    assert grown.patch.base_digest == first.target.digest
    patched = Enforcer(RuleOracle(grown.target), POLICY)
    assert all(patched.decide(p).decision is Decision.BLOCK for p in [*MEMBERS, missed])


def test_a_grown_cluster_refining_to_the_same_change_is_a_duplicate() -> None:
    history = benign_history()
    first = refine(Cluster("chmod-recursive", MEMBERS), BASE, POLICY, history)
    grown = refine(Cluster("chmod-recursive", [*MEMBERS, UNSEEN[0]]), BASE, POLICY, history)
    other = refine(Cluster("chmod-other", MEMBERS), BASE, POLICY, history)
    assert isinstance(first, Refined) and isinstance(grown, Refined), (first, grown)
    assert isinstance(other, Refined), other
    changes = ProposedChanges()
    first_id, grown_id = uuid.uuid4(), uuid.uuid4()
    assert changes.duplicate_of(first_id, first.patch) is None
    changes.note(first.patch.model_copy(update={"patch_id": first_id}).to_event("t"))
    assert grown.patch.target_digest == first.patch.target_digest
    assert changes.duplicate_of(grown_id, grown.patch) == first_id
    # the same patch id again (a re-delivered update) and another change are not duplicates
    assert changes.duplicate_of(first_id, first.patch) is None
    assert changes.duplicate_of(grown_id, other.patch) is None
    later = grown.patch.model_copy(update={"patch_id": grown_id}).to_event("t")
    changes.note(later)
    assert len(changes) == 1
    assert changes.duplicate_of(uuid.uuid4(), grown.patch) == first_id
