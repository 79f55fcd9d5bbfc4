"""A human approver's flow on the real broker: keys, trust root, show, diff, approve, reject."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alignment_flywheel.cli.main import app
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.events import PatchApproved, PatchRejectionReason, TrustRootPublished
from alignment_flywheel.kafka.credentials import connection_env
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.kafka.reader import read_topic
from alignment_flywheel.patches.approvals import approve, patch_from_event
from alignment_flywheel.patches.keys import KeyStore
from alignment_flywheel.patches.ledger import PatchLedger
from alignment_flywheel.patches.trust import bootstrap, follow, load_root_file
from alignment_flywheel.patches.verify import OracleHead, PatchVerifier
from tests.support.oracles import artifact_doc, rule
from tests.support.signing import BASE, make_patch

pytestmark = pytest.mark.integration


def test_patch_approve_publishes_an_approval_that_verifies(
    kafka_settings, make_topic, unique_name, tmp_path: Path
) -> None:
    topic = make_topic(unique_name("patches"), partitions=3)
    base_file = tmp_path / "oracle.json"
    base_file.write_text(json.dumps(artifact_doc(rule("a", "true", score=0.5))))
    state = tmp_path / "cli"
    env = {
        **connection_env(kafka_settings),
        "FLYWHEEL_STATE_DIR": str(state),
        "FLYWHEEL_ORACLE_PATH": str(base_file),
        "FLYWHEEL_IDENTITY": "alice@example.com",
        "COLUMNS": "250",
    }
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, result.output
        return result.output

    for name in ("root1", "refinement", "alice"):
        assert "key id:" in run("keys", "new", name)
    assert "refinement" in run("keys", "list")
    run(
        "trust",
        "init",
        "--root-key",
        "root1",
        "--author-key",
        "refinement",
        "--approver-key",
        "alice",
        "--releaser-key",
        "root1",
        "--threshold",
        "approver=1",
    )
    assert "1 of 1" in run("trust", "show")

    store = KeyStore(state / "keys")
    patch, other = make_patch(), make_patch()
    authored = approve(patch, store.private("refinement"), role="author", producer="refinement")
    codec = EventCodec.from_settings(kafka_settings)
    with EventProducer(kafka_settings, codec) as producer:
        for event in (patch.to_event("refinement"), authored, other.to_event("refinement")):
            producer.send(topic, event)

    where = ["--patches-topic", topic]
    shown = run("patch", "show", str(patch.patch_id), *where)
    assert "block rm" in shown and "as author" in shown and "no regression evidence" in shown
    assert "+ rule b" in run("patch", "diff", str(patch.patch_id), *where)
    approved = run("patch", "approve", str(patch.patch_id), "--key", "alice", "--yes", *where)
    assert "as approver" in approved and "+ rule b" in approved
    # an unsigned rejection is a note: anyone who can write the topic could send one
    noted = run("patch", "reject", str(other.patch_id), "--reason", "looks odd", *where)
    assert "unsigned" in noted
    assert "takes nothing away" in run(
        "patch", "approve", str(other.patch_id), "--key", "alice", "--yes", *where
    )
    # the releaser's signed rejection takes effect: no approval after it
    run("patch", "reject", str(other.patch_id), "--reason", "too broad", "--key", "root1", *where)
    refused = run(
        "patch", "approve", str(other.patch_id), "--key", "alice", "--yes", *where, code=1
    )
    assert "rejected by the releaser role" in refused

    records = PatchLedger(kafka_settings, codec, topic=topic).records()
    record = records[patch.patch_id]
    assert [a.role for a in record.approvals] == ["author", "approver"]
    assert isinstance(record.approvals[1], PatchApproved)
    now = datetime.now(UTC)
    root = load_root_file(state / "trust" / "root.json", now).root
    verifier = PatchVerifier(root, OracleHead(BASE.version, BASE.digest))
    verified = verifier.verify(patch_from_event(record.proposed), record.approvals, now)
    assert verified.patch == patch and verifier.counter.total == 0
    exported = tmp_path / "patch.dsse.json"
    assert "2 signature(s)" in run(
        "patch", "export", str(patch.patch_id), "--out", str(exported), *where
    )
    from_file = PatchVerifier(root, verifier.head).verify_envelope(exported.read_text(), now)
    assert from_file.patch == patch
    rejected = records[other.patch_id].rejections
    assert [(r.reason, r.security, len(r.signatures)) for r in rejected] == [
        (PatchRejectionReason.HUMAN_REJECTED, False, 0),
        (PatchRejectionReason.HUMAN_REJECTED, False, 1),
    ]


def test_trust_rotate_and_publish(kafka_settings, make_topic, unique_name, tmp_path: Path) -> None:
    topic = make_topic(unique_name("trust"), config={"cleanup.policy": "compact"})
    state = tmp_path / "cli"
    env = {
        **connection_env(kafka_settings),
        "FLYWHEEL_STATE_DIR": str(state),
        "COLUMNS": "250",
    }
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, result.output
        return result.output

    for name in ("r1", "r2", "author", "approver"):
        run("keys", "new", name)
    roles = ["--author-key", "author", "--approver-key", "approver", "--releaser-key", "r1"]
    run("trust", "init", "--root-key", "r1", *roles)
    first = (state / "trust" / "root.json").read_text()
    # a root the trusted root did not sign is a security failure: exit code 4
    hijack = run("trust", "rotate", "--root-key", "r2", "--sign-with", "r2", code=4)
    assert "0 of 1 signature(s) of the trusted v1 root role" in hijack
    assert "RotationNotAuthorizedError" not in hijack, "no internal class names"
    assert "trust root v2" in run("trust", "rotate", "--root-key", "r2")
    assert "r2 (" in run("trust", "show") and (state / "trust" / "root.v1.json").is_file()
    run("trust", "publish", "--topic", topic)

    codec = EventCodec.from_settings(kafka_settings)
    events = [
        e for e in read_topic(kafka_settings, codec, topic) if isinstance(e, TrustRootPublished)
    ]
    now = datetime.now(UTC)
    assert [e.version for e in events] == [2] and events[0].envelope.key == "root"
    assert follow(bootstrap(first, now), events, now).root.roles["root"].threshold == 1
