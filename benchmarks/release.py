"""Oracle releases: rebuild from a long patch log, release-to-enforcement time, verification rate.

1. ``rebuild``: an oracle built from 10,000 patches (rule replacements, additions, removals and
   threshold changes over a 120-rule artifact): the time to fold the patch log and compile the
   result, from in-memory patches and from the encoded ``PatchProposed`` records as they sit on
   the topic (decode, collect, fold, compile). Target: at most 2 s.
2. ``release_to_enforcement``: through a local broker (started here, or FLYWHEEL_BOOTSTRAP_SERVERS),
   ``FOLLOWERS`` release followers (what every gate and SDK runs) follow the topics; a release
   event is published and the time until every follower has swapped in the new deployment is
   measured, median over ``RUNS`` releases. Target: at most 1 s.
3. ``verification``: patches verified per second (base, version, the author's and two approvers'
   Ed25519 signatures over the canonical patch body, thresholds, freshness), one core.

Prints one JSON object.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from synthetic import synthetic_artifact

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.events import ReleasePromoted, ReleaseStage, new_envelope
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.oracle.artifact import OracleArtifact, artifact_digest, build_artifact
from alignment_flywheel.patches import ArtifactFold, Patch, parse_operations
from alignment_flywheel.patches.approvals import approve
from alignment_flywheel.patches.signing import public_hex
from alignment_flywheel.patches.trust import build_root
from alignment_flywheel.patches.verify import OracleHead, PatchVerifier
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from alignment_flywheel.release.rebuild import OracleBuilder, PatchLibrary
from alignment_flywheel.stack.broker import broker_for
from alignment_flywheel.stack.topics import create_topic

PATCHES = 10_000
FOLLOWERS = 3
RUNS = 7
TARGETS = {"rebuild_s": 2.0, "release_to_enforcement_s": 1.0}


def _operations(i: int) -> list[dict[str, Any]]:
    rule = {"id": f"extra-{i}", "when": f'args.cmd == "x{i}"', "score": 0.1, "message": "m"}
    kind = i % 4
    if kind == 0:
        return [{"op": "add_rule", "rule": rule}]
    if kind == 1:
        return [{"op": "remove_rule", "id": f"extra-{i - 1}"}]
    if kind == 2:
        replaced = {
            "id": f"t{i % 10}.r0",
            "when": f'args.cmd.contains("v{i}")',
            "score": 0.05,
            "message": f"replaced {i}",
        }
        return [{"op": "replace_rule", "rule": replaced}]
    return [{"op": "set_threshold", "name": "base_uncertainty", "value": (i % 50) / 1000}]


def patch_log(genesis: OracleArtifact, count: int) -> list[Patch]:
    """A chain of ``count`` patches from ``genesis`` (digests computed without compiling)."""
    fold, patches, digest = ArtifactFold(genesis.spec), [], genesis.digest
    for i in range(count):
        operations = parse_operations(_operations(i))
        base_version = fold.version
        fold.apply(operations, base_version + 1)
        target = artifact_digest(fold.spec())
        patches.append(
            Patch(
                patch_id=uuid.uuid4(),
                author="bench",
                base_version=base_version,
                base_digest=digest,
                target_version=base_version + 1,
                target_digest=target,
                operations=operations,
                rationale=f"patch {i}",
            )
        )
        digest = target
    return patches


def _rebuild(genesis: OracleArtifact, patches: list[Patch], codec: EventCodec) -> dict[str, Any]:
    events = [patch.to_event("bench") for patch in patches]
    encoded = [codec.encode(event) for event in events]
    target = patches[-1].target_digest
    in_memory, from_records = [], []
    for _ in range(3):
        library = PatchLibrary()
        for event in events:
            library.add(event)
        started = time.perf_counter()
        built = OracleBuilder(genesis, library).artifact_for(target)
        in_memory.append(time.perf_counter() - started)
        started = time.perf_counter()
        library = PatchLibrary()
        for data in encoded:
            library.add(codec.decode(data))
        built = OracleBuilder(genesis, library).artifact_for(target)
        from_records.append(time.perf_counter() - started)
    return {
        "patches": len(patches),
        "rules_at_the_end": len(built.rules),
        "fold_and_compile_s": round(statistics.median(in_memory), 3),
        "decode_fold_and_compile_s": round(statistics.median(from_records), 3),
    }


def _release_latency(settings: Settings, genesis: OracleArtifact) -> dict[str, Any]:
    admin, tag = admin_client(settings), uuid.uuid4().hex[:8]
    topics = ReleaseTopics(
        create_topic(admin, f"bench-patches-{tag}", partitions=3),
        create_topic(admin, f"bench-releases-{tag}", partitions=1),
    )
    patches = patch_log(genesis, RUNS)
    codec = EventCodec.from_settings(settings)
    with EventProducer(settings, codec) as producer:
        for patch in patches:
            producer.send(topics.patches, patch.to_event("bench"))
    followers = [
        ReleaseFollower(settings, genesis, topics=topics).start() for _ in range(FOLLOWERS)
    ]
    try:
        return {"followers": FOLLOWERS, **_measure_releases(settings, topics, patches, followers)}
    finally:
        for follower in followers:
            follower.stop()


def _measure_releases(
    settings: Settings,
    topics: ReleaseTopics,
    patches: list[Patch],
    followers: list[ReleaseFollower],
) -> dict[str, Any]:
    seen: dict[str, list[float]] = {}
    lock = threading.Lock()

    def listener(deployment: Any) -> None:
        with lock:
            seen.setdefault(deployment.stable.digest, []).append(time.perf_counter())

    for follower in followers:
        follower.attach_deployment(listener)
    samples = []
    with EventProducer(settings, EventCodec.from_settings(settings)) as producer:
        for patch in patches:
            started = time.perf_counter()
            producer.send(topics.releases, _stable_release(patch))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with lock:
                    arrivals = list(seen.get(patch.target_digest, []))
                if len(arrivals) == len(followers):
                    break
                time.sleep(0.002)
            samples.append(max(arrivals) - started)
    return {
        "median_s": round(statistics.median(samples), 4),
        "max_s": round(max(samples), 4),
        "runs": [round(s, 4) for s in samples],
    }


def _stable_release(patch: Patch) -> ReleasePromoted:
    release_id = uuid.uuid5(patch.patch_id, "release")
    return ReleasePromoted(
        envelope=new_envelope("bench", str(release_id)),
        release_id=release_id,
        version=patch.target_version,
        digest=patch.target_digest,
        from_stage=ReleaseStage.CANARY,
        to_stage=ReleaseStage.STABLE,
        actor="bench",
    )


def _verification(genesis: OracleArtifact, count: int = 2_000) -> dict[str, Any]:
    """Patches verified per second: base, version, 3 signatures (author + 2 approvers), thresholds,
    freshness, against a trust root with approver threshold 2."""
    keys = {name: Ed25519PrivateKey.generate() for name in ("root", "author", "alice", "bob")}
    root = build_root(
        version=1,
        expires=datetime.now(UTC) + timedelta(days=30),
        keys={name: public_hex(key.public_key()) for name, key in keys.items()},
        roles={
            "root": ["root"],
            "author": ["author"],
            "approver": ["alice", "bob"],
            "releaser": ["root"],
        },
        thresholds={"approver": 2},
    )
    signed = []
    for patch in patch_log(genesis, count):
        signers = [("author", "author"), ("alice", "approver"), ("bob", "approver")]
        signed.append(
            (patch, [approve(patch, keys[n], role=r, producer="bench") for n, r in signers])
        )
    verifier = PatchVerifier(root, OracleHead(genesis.version, genesis.digest))
    now = datetime.now(UTC)
    started = time.perf_counter()
    for patch, approvals in signed:
        verifier.verify(patch, approvals, now)
        verifier.advance(OracleHead(patch.target_version, patch.target_digest))
    elapsed = time.perf_counter() - started
    return {"patches": count, "signatures_each": 3, "per_s": round(count / elapsed)}


def _with_broker(base: Settings, run: Any) -> Any:
    with (
        tempfile.TemporaryDirectory(prefix="flywheel-bench-release-") as state,
        broker_for(base, Path(state)) as settings,
    ):
        return run(settings)


def main() -> None:
    base = load_settings()
    genesis = build_artifact(synthetic_artifact(tools=10))
    started = time.perf_counter()
    patches = patch_log(genesis, PATCHES)
    result: dict[str, Any] = {
        "benchmark": "release",
        "genesis_rules": len(genesis.rules),
        "patch_log_generation_s": round(time.perf_counter() - started, 1),
        "rebuild": _rebuild(genesis, patches, EventCodec.from_settings(base)),
    }
    result["verification"] = _verification(genesis)
    result["release_to_enforcement"] = _with_broker(base, lambda s: _release_latency(s, genesis))
    result["targets"] = TARGETS
    result["pass"] = {
        "rebuild": result["rebuild"]["decode_fold_and_compile_s"] <= TARGETS["rebuild_s"],
        "release_to_enforcement": result["release_to_enforcement"]["median_s"]
        <= TARGETS["release_to_enforcement_s"],
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
