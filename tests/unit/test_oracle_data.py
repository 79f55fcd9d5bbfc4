"""Named sets in the oracle artifact: canonical form, size bound, references, evaluation."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from alignment_flywheel.errors import PolicyDocumentError
from alignment_flywheel.oracle.artifact import build_artifact
from alignment_flywheel.oracle.data import DATA_MAX_BYTES, canonical_values
from alignment_flywheel.oracle.expressions import compile_expression, data_references
from alignment_flywheel.oracle.rules import RuleOracle
from tests.support.oracles import artifact_doc, proposal, rule

LEGACY = {
    "name": "legacy",
    "version": 3,
    "tools": ["shell.*", "sql.query"],
    "rules": [
        {
            "id": "a",
            "tools": ["shell.exec"],
            "when": 'args.cmd == "ls"',
            "score": 0.2,
            "message": "m",
        }
    ],
}
LEGACY_DIGEST = "83f52a7eb4b203a3a6803bbed081c9e77ae18239b2554ae398e8adf74cb6088a"
"""The digest of LEGACY before the artifact had data or catalog entries: it must not change."""


def mail_oracle(when: str, **data: list[Any]) -> RuleOracle:
    doc = artifact_doc(rule("r", when, tools=["email.*"]), data=data)
    return RuleOracle(build_artifact(doc))


def matched(oracle: RuleOracle, arguments: dict[str, Any], tool: str = "email.send") -> bool:
    return any(e.rule_id == "r" for e in oracle.evaluate(proposal(tool, arguments)).evidence)


def test_an_artifact_without_data_keeps_its_digest() -> None:
    artifact = build_artifact(LEGACY)
    assert artifact.digest == LEGACY_DIGEST
    assert b'"data"' not in artifact.canonical_json()
    assert build_artifact({**LEGACY, "data": {}}).digest == LEGACY_DIGEST


def test_sets_are_stored_deduplicated_and_sorted_so_equal_sets_digest_equal() -> None:
    first = build_artifact(artifact_doc(data={"s": ["b", "a", 2, 1.0, True], "a": []}))
    second = build_artifact(artifact_doc(data={"a": [], "s": [1, True, "a", "b", "a", 2.0, 1]}))
    assert first.spec.data == {"a": (), "s": (True, 1, 2, "a", "b")}
    assert first.digest == second.digest
    assert build_artifact(artifact_doc(data={"s": ["a"]})).digest != first.digest


def test_one_and_true_are_two_values_one_and_one_point_zero_are_one() -> None:
    assert canonical_values([1, True, 1.0, 0.5, False]) == (False, True, 0.5, 1)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"Bad": ["x"]}, "data.Bad"),
        ({"s": [None]}, "not NoneType"),
        ({"s": [[1]]}, "not list"),
        ({"s": [float("nan")]}, "not finite"),
        ({"s": [2**60]}, "beyond 2**53 - 1"),
        ({"s": ["x" * DATA_MAX_BYTES]}, f"over the limit of {DATA_MAX_BYTES}"),
    ],
)
def test_bad_sets_are_refused_with_a_clear_problem(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(PolicyDocumentError) as caught:
        build_artifact(artifact_doc(data=data), "test.yaml")
    assert any(fragment in problem for problem in caught.value.problems), caught.value.problems


def test_a_rule_naming_a_set_that_does_not_exist_is_a_load_error_listing_the_sets() -> None:
    doc = artifact_doc(
        rule("a", "args.to in data.payes"),
        rule("b", '!(args.x in data["nope"]) || args.y in data.payees'),
        data={"payees": ["x"], "known_recipients": []},
    )
    with pytest.raises(PolicyDocumentError) as caught:
        build_artifact(doc)
    assert list(caught.value.problems) == [
        "rule a: unknown data set(s) payes; known: known_recipients, payees",
        "rule b: unknown data set(s) nope; known: known_recipients, payees",
    ]
    with pytest.raises(PolicyDocumentError, match="known: none"):
        build_artifact(artifact_doc(rule("a", "args.to in data.payees")))


def test_references_are_read_from_the_expression_not_from_strings_or_methods() -> None:
    assert data_references('args.to in data.a && data["b"] == [] && has(data.c)') == {"a", "b", "c"}
    assert data_references('args.note == "data.x" && args.data.y == 1') == frozenset()
    assert data_references("data[args.kind] == []") is None
    assert data_references("args.items.exists(data, data.x == 1)") == frozenset()


def test_membership_and_negated_membership_of_named_sets() -> None:
    oracle = mail_oracle("!(args.to in data.known)", known=["alice@example.com"])
    assert not matched(oracle, {"to": "alice@example.com"})
    assert matched(oracle, {"to": "mallory@example.com"})
    numbers = mail_oracle("args.amount in data.limits", limits=[100, 2.5])
    assert matched(numbers, {"amount": 100.0}) and matched(numbers, {"amount": 2.5})
    assert not matched(numbers, {"amount": 3})


def test_sets_work_with_size_has_macros_and_dynamic_names() -> None:
    oracle = mail_oracle(
        "size(data.known) == 2 && has(data.known) && data.known.exists(k, k == args.to)"
        " && args.to in data[args.list]",
        known=["a", "b"],
    )
    assert matched(oracle, {"to": "a", "list": "known"})
    assert not matched(oracle, {"to": "c", "list": "known"})


def test_only_the_sets_a_tools_rules_name_reach_its_context() -> None:
    doc = artifact_doc(
        rule("mail", "args.to in data.known", tools=["email.send"]),
        rule("pay", "args.iban in data.payees", tools=["payments.*"]),
        rule("any", "data[args.set] == []", tools=["any.thing"]),
        rule("none", "true", tools=["shell.exec"]),
        data={"known": ["a"], "payees": ["p"]},
    )
    artifact = build_artifact(doc)
    oracle = RuleOracle(artifact)
    assert artifact.variables_for("email.send", oracle.rules_for("email.send")) == {
        "data": {"known": ["a"]}
    }
    assert artifact.variables_for("any.thing", oracle.rules_for("any.thing")) == {
        "data": {"known": ["a"], "payees": ["p"]}
    }
    assert artifact.variables_for("shell.exec", oracle.rules_for("shell.exec")) == {}


def test_the_compiled_program_indexes_sets_rather_than_selecting_them() -> None:
    expression = compile_expression('args.to in data.known && !has(data.known) || "data.x" == ""')
    assert expression.variables == {"args", "data"}
    assert expression.program.source == (
        'args.to in data["known"] && !has(data.known) || "data.x" == ""'
    )


def test_contexts_reused_per_thread_give_each_proposal_its_own_answer() -> None:
    oracle = mail_oracle("args.to in data.known", known=[f"u{i}" for i in range(200)])
    failures: list[str] = []

    def work(offset: int) -> None:
        for i in range(300):
            name = f"u{(i + offset) % 400}"
            if matched(oracle, {"to": name}) != ((i + offset) % 400 < 200):
                failures.append(name)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_rules_that_read_data_and_rules_that_do_not_keep_their_order_and_errors() -> None:
    doc = artifact_doc(
        rule("plain-1", 'args.body.contains("secret")', tools=["email.send"]),
        rule("data", "!(args.to in data.known)", tools=["email.send"]),
        rule("plain-2", "args.missing == 1", tools=["email.send"]),
        rule("effect", 'effect == "unknown" && args.to != ""', tools=["email.send"]),
        data={"known": ["alice@example.com"]},
    )
    oracle = RuleOracle(build_artifact(doc))
    signal = oracle.evaluate(proposal("email.send", {"to": "eve@x.org", "body": "a secret"}))
    assert [(e.kind.value, e.rule_id) for e in signal.evidence] == [
        ("RULE_MATCH", "plain-1"),
        ("RULE_MATCH", "data"),
        ("RULE_ERROR", "plain-2"),
        ("RULE_MATCH", "effect"),
    ]
    quiet = oracle.evaluate(proposal("email.send", {"to": "alice@example.com", "body": "hi"}))
    assert [e.rule_id for e in quiet.evidence] == ["plain-2", "effect"]
