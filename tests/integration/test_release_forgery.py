"""Forged records on the real broker: after a patch is released to STABLE, anyone who can write
the patches topic appends an approval with an unknown key and junk signature and an unsigned
rejection; a restarted follower still enforces the released digest (not the bootstrap artifact),
and ``flywheel release status`` says which digest a verifying follower enforces."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from alignment_flywheel.cli.main import app
from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.events import (
    ReleaseStage,
)
from alignment_flywheel.kafka.credentials import connection_env, connection_settings
from alignment_flywheel.oracle.artifact import load_artifact
from alignment_flywheel.oracle.loader import oracle_path
from alignment_flywheel.patches.keys import KeyStore
from alignment_flywheel.patches.trust import save_root
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from alignment_flywheel.release.trusted import follower_check
from tests.support.kafka import publish
from tests.support.releases import forged_votes, patch_chain, promoted, staged
from tests.support.signing import Keyring, approvals

ST, S = ReleaseStage.STABLE, ReleaseStage.SHADOW


def test_forged_records_do_not_move_a_restarted_follower_off_the_release(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    settings = load_settings(**connection_settings(kafka_settings), state_dir=tmp_path / "state")
    ring = Keyring()
    ring.keys["rel"] = KeyStore(settings.effective_keys_dir).new("rel")  # for the CLI
    save_root(
        settings.effective_trust_root_path,
        ring.root(expires=datetime.now(UTC) + timedelta(days=1)),
    )
    topics = ReleaseTopics(make_topic(unique_name("patches")), make_topic(unique_name("releases")))
    genesis = load_artifact(oracle_path(settings))
    (good, target), (unsigned, _) = patch_chain(genesis, 2)
    release = staged(good)
    publish(settings, topics.patches, [good.to_event("refinement"), *approvals(ring, good)])
    publish(settings, topics.releases, [release, promoted(release, ST, S)])
    publish(settings, topics.patches, forged_votes(good))

    follower = ReleaseFollower(settings, genesis, topics=topics, check=follower_check(settings))
    follower.start().stop()
    assert follower.deployment.stable.digest == target.digest != genesis.digest
    assert follower.deployment.stable.version == 2
    assert not follower.status.degraded
    assert follower.ignored.total >= 2, "the forged records are counted as security events"

    where = ["--patches-topic", topics.patches, "--releases-topic", topics.releases]
    env = {**connection_env(kafka_settings), "FLYWHEEL_STATE_DIR": str(tmp_path / "state")}
    shown = CliRunner().invoke(app, ["release", "status", *where], env=env)
    assert shown.exit_code == 0, shown.output
    assert f"enforced: v2 {target.digest}" in shown.output
    assert "degraded: no" in shown.output

    # a stable release nobody signed: the follower stays on the last verified one, degraded
    bad = staged(unsigned)
    publish(settings, topics.patches, [unsigned.to_event("mallory")])
    publish(settings, topics.releases, [bad, promoted(bad, ST, S)])
    again = ReleaseFollower(settings, genesis, topics=topics, check=follower_check(settings))
    again.start().stop()
    assert again.deployment.stable.digest == target.digest
    assert again.status.degraded and again.status.reason
    shown = CliRunner().invoke(app, ["release", "status", *where], env=env)
    assert shown.exit_code == 0, shown.output
    assert f"enforced: v2 {target.digest}" in shown.output
    assert "degraded: yes" in shown.output

    # going back needs the releaser: unsigned, the command refuses; signed, the patch is withdrawn
    cli = CliRunner()
    refused = cli.invoke(app, ["release", "rollback", "--stable", "--reason", "x", *where], env=env)
    assert refused.exit_code != 0 and "--key" in refused.output
    reject = ["release", "reject", str(good.patch_id), "--key", "rel", "--reason", "unsafe"]
    rejected = cli.invoke(app, [*reject, "--patches-topic", topics.patches], env=env)
    assert rejected.exit_code == 0, rejected.output
    last = ReleaseFollower(settings, genesis, topics=topics, check=follower_check(settings))
    last.start().stop()
    assert last.deployment.stable.digest == genesis.digest, "no verified release is left"
    assert last.status.degraded and "rejected" in (last.status.reason or "")
