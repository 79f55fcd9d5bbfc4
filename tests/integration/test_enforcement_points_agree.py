"""Every enforcement point follows the same chain: after a patch is released to STABLE, the SDK, the
gate worker and the HTTP endpoint all report and enforce its digest; restarted with forged records
on the patches and releases topics (an approval with an unknown key and junk signature, an unsigned
rejection, an unsigned rollback of the stable release, an unsigned patch promoted to STABLE), each
comes back on the same digest, never on the bootstrap artifact."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.connectors.http import create_http_app
from alignment_flywheel.connectors.sdk import Guard
from alignment_flywheel.events import (
    Decision,
    Event,
    ReleaseStage,
    VerdictIssued,
)
from alignment_flywheel.kafka.credentials import connection_settings
from alignment_flywheel.oracle.artifact import OracleArtifact, load_artifact
from alignment_flywheel.oracle.loader import oracle_path
from alignment_flywheel.patches import Patch
from alignment_flywheel.patches.trust import save_root
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from alignment_flywheel.release.trusted import follower_check
from tests.integration.test_gate_release import gate_command
from tests.support.kafka import collect_events, publish
from tests.support.releases import forged_votes, patch_chain, promoted, rolled_back, staged
from tests.support.samples import sample_proposal_submitted
from tests.support.signing import Keyring, approvals
from tests.support.workers import start_cli_worker, stop_worker

ST, S = ReleaseStage.STABLE, ReleaseStage.SHADOW
BAD = {"cmd": "bad-0"}
"""Blocked by the released patch only (``tests.support.releases.patch_chain``)."""


def forgeries(patch: Patch, unsigned: Patch, genesis: OracleArtifact) -> dict[str, list[Event]]:
    """What anyone able to write the two topics can append, with no private key, by topic."""
    release, other = staged(patch), staged(unsigned)
    back = rolled_back(release, ST, (genesis.version, genesis.digest))
    return {
        "patches": [*forged_votes(patch), unsigned.to_event("mallory")],
        "releases": [back, other, promoted(other, ST, S)],
    }


def sdk_digest(settings: Settings, genesis: OracleArtifact, topics: ReleaseTopics) -> set[str]:
    """The digests a freshly started SDK guard reports and decides ``BAD`` with (blocked)."""
    follower = ReleaseFollower(settings, genesis, topics=topics, check=follower_check(settings))
    follower.start()
    try:
        guard = Guard(settings, proposer_id="sdk-agent", publish=False)
        guard.follow(follower)
        checked = guard.check("shell.exec", BAD)
        assert checked.decision is Decision.BLOCK, checked.verdict.reasons
        return {follower.deployment.stable.digest, checked.verdict.oracle_digest}
    finally:
        follower.stop()


def serve_digest(settings: Settings, topics: ReleaseTopics) -> set[str]:
    """The digests a freshly started HTTP endpoint reports and decides ``BAD`` with (blocked)."""
    with TestClient(create_http_app(settings, publish=False, follow=topics)) as client:
        reported = client.get("/v1/oracle").json()
        body = {"proposer_id": "http-agent", "tool": "shell.exec", "arguments": BAD}
        decided = client.post("/v1/decisions", json=body).json()
    assert decided["decision"] == "BLOCK", decided
    return {reported["oracle_digest"], decided["oracle_digest"]}


def gate_digest(
    settings: Settings, names: dict[str, str], app_id: str, log: Path, round_: int
) -> set[str]:
    """The digests a freshly started gate worker decides its proposals with (a new group decides
    the whole proposals topic again: the earlier rounds' proposals twice over)."""
    worker = start_cli_worker(settings, gate_command(names, app_id), settings.state_dir, log)
    codec = EventCodec.from_settings(settings)
    events = [sample_proposal_submitted(i) for i in range(round_ * 6, round_ * 6 + 6)]
    try:
        publish(settings, names["--proposals-topic"], list(events))
        got = collect_events(
            settings,
            codec,
            names["--verdicts-topic"],
            group=f"{app_id}-v",
            count=6 + 12 * round_,
            dead_letter_topic=names["--dead-letter-topic"],
        )
    finally:
        stop_worker(worker, kill=True)
    mine = {e.proposal.proposal_id for e in events}
    verdicts = [v for v in got if isinstance(v, VerdictIssued) and v.proposal_id in mine]
    assert {v.proposal_id for v in verdicts} == mine, log.read_text()[-3000:]
    return {v.oracle_digest for v in verdicts}


def test_sdk_gate_and_serve_enforce_one_digest_and_forged_records_change_none(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    settings = load_settings(**connection_settings(kafka_settings), state_dir=tmp_path / "state")
    ring = Keyring()
    save_root(
        settings.effective_trust_root_path,
        ring.root(expires=datetime.now(UTC) + timedelta(days=1)),
    )
    names = {
        "--proposals-topic": make_topic(unique_name("proposals"), partitions=3),
        "--verdicts-topic": make_topic(unique_name("verdicts"), partitions=3),
        "--reviews-topic": make_topic(unique_name("reviews")),
        "--dead-letter-topic": make_topic(unique_name("dlq")),
        "--patches-topic": make_topic(unique_name("patches")),
        "--releases-topic": make_topic(unique_name("releases")),
    }
    topics = ReleaseTopics(names["--patches-topic"], names["--releases-topic"])
    genesis = load_artifact(oracle_path(settings))
    (good, target), (unsigned, _) = patch_chain(genesis, 2)
    release = staged(good)
    publish(settings, topics.patches, [good.to_event("refinement"), *approvals(ring, good)])
    publish(settings, topics.releases, [release, promoted(release, ST, S)])

    seen: dict[str, list[set[str]]] = {"sdk": [], "gate": [], "serve": []}
    for round_ in range(2):
        if round_ == 1:
            forged = forgeries(good, unsigned, genesis)
            publish(settings, topics.patches, forged["patches"])
            publish(settings, topics.releases, forged["releases"])
        seen["sdk"].append(sdk_digest(settings, genesis, topics))
        seen["serve"].append(serve_digest(settings, topics))
        log = tmp_path / f"gate-{round_}.log"
        seen["gate"].append(gate_digest(settings, names, unique_name("gate"), log, round_))

    assert target.digest != genesis.digest
    assert seen == {point: [{target.digest}, {target.digest}] for point in seen}
