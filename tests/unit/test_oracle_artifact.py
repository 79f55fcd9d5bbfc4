"""Loading, validating and digesting oracle artifacts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import rfc8785
import yaml

from alignment_flywheel.errors import InvalidInputError, PolicyDocumentError
from alignment_flywheel.oracle.artifact import artifact_digest, build_artifact, load_artifact
from alignment_flywheel.oracle.expressions import VARIABLES
from alignment_flywheel.oracle.loader import DEFAULT_ORACLE
from tests.support.oracles import artifact_doc, rule


def test_the_shipped_artifact_loads_and_its_digest_is_sha256_of_canonical_json() -> None:
    artifact = load_artifact(DEFAULT_ORACLE)
    assert artifact.version >= 1
    assert len(artifact.rules) == len(artifact.spec.rules) > 5
    expected = hashlib.sha256(rfc8785.dumps(artifact.spec.model_dump(mode="json"))).hexdigest()
    assert artifact.digest == expected
    assert artifact.canonical_json() == rfc8785.dumps(artifact.spec.model_dump(mode="json"))


def test_digest_ignores_layout_key_order_and_spelled_out_defaults(tmp_path: Path) -> None:
    doc = artifact_doc(rule("a", 'tool == "x"'), rule("b", "true", tools=["*"]))
    first = tmp_path / "first.yaml"
    first.write_text(yaml.safe_dump(doc, sort_keys=True))
    reordered = {k: doc[k] for k in reversed(list(doc))}
    reordered["rules"][0] = {**reordered["rules"][0], "uncertainty": 0.0, "review": False}
    second = tmp_path / "second.json"
    second.write_text("# a comment\n" + yaml.safe_dump(reordered, sort_keys=False, indent=4))
    assert load_artifact(first).digest == load_artifact(second).digest


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(version=2),
        lambda d: d["rules"][0].update(score=0.11),
        lambda d: d["rules"][0].update(when='tool == "y"'),
        lambda d: d["rules"].reverse(),
        lambda d: d.update(thresholds={"rule_error_uncertainty": 0.4}),
        lambda d: d.update(tools=["x"]),
    ],
)
def test_any_change_of_meaning_changes_the_digest(change: object) -> None:
    doc = artifact_doc(rule("a", 'tool == "x"'), rule("b", "true"))
    before = build_artifact(doc).digest
    changed = artifact_doc(rule("a", 'tool == "x"'), rule("b", "true"))
    change(changed)  # type: ignore[operator]
    assert build_artifact(changed).digest != before


def test_every_bad_rule_is_reported_by_id_with_the_cel_error() -> None:
    doc = artifact_doc(
        rule("good", 'args.cmd == "ls"'),
        rule("syntax", "args.cmd ==="),
        rule("unknown-var", "argz.cmd == 1"),
        rule("unknown-fn", "args.cmd.shout()"),
        rule("good", "true"),
        rule("empty", "  "),
    )
    with pytest.raises(PolicyDocumentError) as caught:
        build_artifact(doc, "test.yaml")
    problems = caught.value.problems
    assert len(problems) == 5, problems
    assert problems[0].startswith("rule syntax: when: Failed to parse expression")
    assert problems[1] == (
        "rule unknown-var: when: unknown variable(s) argz; known: " + ", ".join(sorted(VARIABLES))
    )
    assert problems[2] == "rule unknown-fn: when: unknown function(s) shout"
    assert problems[3] == "rule good: duplicate id"
    assert problems[4] == "rule empty: when: empty expression"
    assert "test.yaml: 5 problem(s)" in str(caught.value)
    assert isinstance(caught.value, InvalidInputError)


def test_field_errors_name_the_rule_and_every_problem() -> None:
    doc = artifact_doc(
        rule("too-safe", "true", score=1.5),
        {"id": "no-message", "when": "true", "score": 0.2},
        rule("bad severity", "true", severity="APOCALYPTIC"),
    )
    doc["surprise"] = 1
    with pytest.raises(PolicyDocumentError) as caught:
        build_artifact(doc)
    text = "\n".join(caught.value.problems)
    assert "rule too-safe: score: Input should be less than or equal to 1" in text
    assert "rule no-message: message: Field required" in text
    assert "rule bad severity: id: String should match pattern" in text
    assert "rule bad severity: severity: Input should be" in text
    assert "surprise: Extra inputs are not permitted" in text


def test_unreadable_and_non_mapping_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyDocumentError, match="cannot read"):
        load_artifact(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [unclosed\n")
    with pytest.raises(PolicyDocumentError, match="not valid YAML"):
        load_artifact(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(PolicyDocumentError, match="must be a mapping"):
        load_artifact(bad)


def test_digest_of_spec_matches_built_artifact() -> None:
    artifact = build_artifact(artifact_doc(rule("a", "true")))
    assert artifact_digest(artifact.spec) == artifact.digest
