"""The review console's API on the real broker (no browser): the dashboard shows the topics;
deny, signatures (refused, bound to the operator's keys, accepted) and rollback act on them in the
operator's name; a stable rollback under a trust root is published only signed by the releaser,
and a verifying follower obeys it."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.connectors.http import create_http_app
from alignment_flywheel.console.auth import Operators
from alignment_flywheel.console.desk import ConsoleTopics
from alignment_flywheel.console.routes import ConsoleOptions
from alignment_flywheel.events import (
    PatchApproved,
    ReleaseRolledBack,
    ReleaseStage,
    ReviewDecided,
    ReviewOutcome,
    ReviewRequested,
    new_envelope,
)
from alignment_flywheel.kafka.credentials import connection_settings
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.kafka.reader import read_topic
from alignment_flywheel.oracle.artifact import build_artifact, load_artifact
from alignment_flywheel.oracle.loader import oracle_path
from alignment_flywheel.patches.signing import key_id
from alignment_flywheel.patches.trust import save_root
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from alignment_flywheel.release.trusted import follower_check
from tests.support.oracles import artifact_doc, rule
from tests.support.releases import patch_chain, promoted, staged
from tests.support.signing import Keyring, approvals
from tests.unit.test_sdk_fakes import ToolEnforcer

pytestmark = pytest.mark.integration

PASSWORD = "operator password 2"
GENESIS_DOC = artifact_doc(rule("base", "false"))


@pytest.fixture
def topics(make_topic, unique_name) -> ConsoleTopics:
    return ConsoleTopics(
        reviews=make_topic(unique_name("reviews")),
        verdicts=make_topic(unique_name("verdicts")),
        patches=make_topic(unique_name("patches")),
        releases=make_topic(unique_name("releases")),
    )


@pytest.fixture
def settings(kafka_settings: Settings, tmp_path: Path) -> Settings:
    oracle = tmp_path / "oracle.json"
    oracle.write_text(json.dumps(GENESIS_DOC))
    return load_settings(
        **connection_settings(kafka_settings),
        state_dir=tmp_path / "server",
        oracle_path=oracle,
        identity="console-api-test",
    )


@pytest.fixture
def client(settings: Settings, topics: ConsoleTopics, tmp_path: Path) -> Iterator[TestClient]:
    operators = Operators(tmp_path / "operators.json")
    operators.add("alice", PASSWORD)
    options = ConsoleOptions(operators=operators.path, topics=topics)
    app = create_http_app(settings, enforcer=ToolEnforcer(), publish=False, console=options)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        answer = client.post("/console/login", data={"name": "alice", "password": PASSWORD})
        assert answer.status_code == 200 and 'id="operator"' in answer.text
        yield client


def csrf_of(client: TestClient) -> dict[str, str]:
    page = client.get("/console").text
    token = page.split("name='csrf-token' content='", 1)[1].split("'", 1)[0]
    return {"X-CSRF-Token": token}


def test_dashboard_deny_and_signatures(
    client: TestClient, settings: Settings, topics: ConsoleTopics, tmp_path: Path
) -> None:
    codec = EventCodec.from_settings(settings)
    genesis = build_artifact(GENESIS_DOC)
    ((patch, _),) = patch_chain(genesis, 1)
    request = ReviewRequested(
        envelope=new_envelope("gate", "p"),
        review_id=uuid.uuid4(),
        proposal_id=uuid.uuid4(),
        decision_id=uuid.uuid4(),
        reason="a <b>risky</b> call",
    )
    with EventProducer(settings, codec) as producer:
        producer.send(topics.reviews, request)
        producer.send(topics.patches, patch.to_event("refinement"))

    page = client.get("/console").text
    assert str(request.review_id) in page and "a &lt;b&gt;risky&lt;/b&gt; call" in page
    assert str(patch.patch_id) in page and "+ rule p0" in page
    assert "no trust root" not in page.split('id="releases"')[1].split("</section>")[0]
    headers = csrf_of(client)

    url = f"/console/api/reviews/{request.review_id}"
    empty = client.post(url, json={"outcome": "DENY", "reason": "  "}, headers=headers)
    assert empty.status_code == 400 and "reason" in empty.json()["error"]["message"]
    denied = client.post(url, json={"outcome": "DENY", "reason": "not allowed"}, headers=headers)
    assert denied.status_code == 200, denied.text
    assert denied.json() == {
        "review_id": str(request.review_id),
        "outcome": "DENY",
        "reviewer": "alice",
    }
    again = client.post(url, json={"outcome": "APPROVE", "reason": "x"}, headers=headers)
    assert again.status_code == 400 and "already decided" in again.json()["error"]["message"]
    decided = [
        e for e in read_topic(settings, codec, topics.reviews) if isinstance(e, ReviewDecided)
    ]
    assert [(d.outcome, d.reviewer) for d in decided] == [(ReviewOutcome.DENY, "alice")]

    ring = Keyring()
    save_root(settings.effective_trust_root_path, ring.root())
    to_sign = client.get(f"/console/api/patches/{patch.patch_id}/signing-request").json()
    forged = base64.b64encode(ring["stranger"].sign(base64.b64decode(to_sign["pae"]))).decode()
    refused = client.post(
        f"/console/api/patches/{patch.patch_id}/approvals",
        json={"signature": forged, "body_sha256": to_sign["body_sha256"]},
        headers=headers,
    )
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "untrusted"
    events = list(read_topic(settings, codec, topics.patches))
    assert not [e for e in events if isinstance(e, PatchApproved)]

    bob = key_id(ring["bob"].public_key())
    Operators(tmp_path / "operators.json").add("alice", PASSWORD, keys=[bob])
    url = f"/console/api/patches/{patch.patch_id}/approvals"
    for signer, status in (("alice", 403), ("bob", 200), ("bob", 400)):
        signature = base64.b64encode(ring[signer].sign(base64.b64decode(to_sign["pae"]))).decode()
        answer = client.post(
            url,
            json={"signature": signature, "body_sha256": to_sign["body_sha256"]},
            headers=headers,
        )
        assert answer.status_code == status, (signer, answer.text)
    approvals = [
        e for e in read_topic(settings, codec, topics.patches) if isinstance(e, PatchApproved)
    ]
    assert [(a.key_id, a.role, a.envelope.producer) for a in approvals] == [
        (bob, "approver", "console:alice")
    ]


def test_release_status_with_metrics_and_rollback(
    client: TestClient, settings: Settings, topics: ConsoleTopics
) -> None:
    codec = EventCodec.from_settings(settings)
    ((patch, _),) = patch_chain(build_artifact(GENESIS_DOC), 1)
    shadow = staged(patch)
    canary = promoted(shadow, ReleaseStage.CANARY, ReleaseStage.SHADOW).model_copy(
        update={"metrics": {"disagreement_rate": 0.0125}}
    )
    with EventProducer(settings, codec) as producer:
        producer.send(topics.patches, patch.to_event("refinement"))
        producer.send(topics.releases, shadow)
        producer.send(topics.releases, canary)

    page = client.get("/console").text
    releases = page.split('id="releases"')[1].split("</section>")[0]
    assert f"v{patch.target_version} at CANARY" in releases
    assert "disagreement_rate=0.0125" in releases
    headers = csrf_of(client)

    empty = client.post("/console/api/releases/rollback", json={"reason": ""}, headers=headers)
    assert empty.status_code == 400
    answer = client.post(
        "/console/api/releases/rollback", json={"reason": "canary misbehaves"}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["from_stage"] == "CANARY"
    rolled = [
        e for e in read_topic(settings, codec, topics.releases) if isinstance(e, ReleaseRolledBack)
    ]
    assert len(rolled) == 1
    assert (
        rolled[0].envelope.producer == "console:alice" and rolled[0].reason == "canary misbehaves"
    )
    after = client.get("/console").text.split('id="releases"')[1].split("</section>")[0]
    assert 'id="candidate">none<' in after


def rollbacks(settings: Settings, topics: ConsoleTopics) -> list[ReleaseRolledBack]:
    codec = EventCodec.from_settings(settings)
    return [
        e for e in read_topic(settings, codec, topics.releases) if isinstance(e, ReleaseRolledBack)
    ]


def follow_stable(settings: Settings, topics: ConsoleTopics) -> int:
    """The stable version a follower verifying with the trust root enforces (nothing ignored)."""
    genesis = load_artifact(oracle_path(settings))
    follow = ReleaseTopics(topics.patches, topics.releases)
    follower = ReleaseFollower(settings, genesis, topics=follow, check=follower_check(settings))
    follower.start().stop()
    assert follower.ignored.total == 0 and not follower.status.degraded
    stable = follower.deployment.stable
    assert stable.version != genesis.version or stable.digest == genesis.digest
    return stable.version


@pytest.fixture
def released(settings: Settings, topics: ConsoleTopics) -> Keyring:
    """A trust root, and a patch its keys signed released to STABLE (v2 over the genesis v1)."""
    ring = Keyring()
    save_root(
        settings.effective_trust_root_path,
        ring.root(expires=datetime.now(UTC) + timedelta(days=1)),
    )
    ((patch, _),) = patch_chain(build_artifact(GENESIS_DOC), 1)
    release = staged(patch)
    with EventProducer(settings, EventCodec.from_settings(settings)) as producer:
        for event in (patch.to_event("refinement"), *approvals(ring, patch)):
            producer.send(topics.patches, event)
        producer.send(topics.releases, release)
        producer.send(topics.releases, promoted(release, ReleaseStage.STABLE, ReleaseStage.SHADOW))
    return ring


def test_an_unsigned_stable_rollback_is_refused_under_a_trust_root(
    client: TestClient, settings: Settings, topics: ConsoleTopics, released: Keyring
) -> None:
    headers, url = csrf_of(client), "/console/api/releases/rollback"
    unsigned = client.post(url, json={"reason": "bad", "stable": True}, headers=headers)
    assert unsigned.status_code == 400, unsigned.text
    assert "releaser signature" in unsigned.json()["error"]["message"]
    asked = {"reason": "bad", "stable": True}
    to_sign = client.post(f"{url}/signing-request", json=asked, headers=headers).json()
    alice = released["alice"]
    forged = {
        "key_id": key_id(alice.public_key()),
        "signature": base64.b64encode(alice.sign(base64.b64decode(to_sign["pae"]))).decode(),
    }
    refused = client.post(url, json={**asked, "signatures": [forged]}, headers=headers)
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "untrusted"
    assert rollbacks(settings, topics) == []


def test_a_stable_rollback_signed_by_the_releaser_is_obeyed(
    client: TestClient, settings: Settings, topics: ConsoleTopics, released: Keyring
) -> None:
    headers, url = csrf_of(client), "/console/api/releases/rollback"
    asked = {"reason": "v2 blocks too much", "stable": True}
    to_sign = client.post(f"{url}/signing-request", json=asked, headers=headers)
    assert to_sign.status_code == 200, to_sign.text
    request = to_sign.json()
    summary = (request["version"], request["restored_version"], request["signatures_needed"])
    assert summary == (2, 1, 1)
    releaser = released["rel"]
    signature = releaser.sign(base64.b64decode(request["pae"]))  # what the page's WebCrypto does
    posted = {
        "key_id": key_id(releaser.public_key()),
        "signature": base64.b64encode(signature).decode(),
    }
    body = {**asked, "signatures": [posted]}
    stale = client.post(url, json={**body, "body_sha256": "0" * 64}, headers=headers)
    assert stale.status_code == 400 and "changed" in stale.json()["error"]["message"]
    assert follow_stable(settings, topics) == 2
    answer = client.post(url, json={**body, "body_sha256": request["body_sha256"]}, headers=headers)
    assert answer.status_code == 200, answer.text
    expected = {
        "version": 2,
        "restored_version": 1,
        "from_stage": "STABLE",
        "signatures": 1,
        "operator": "alice",
    }
    assert answer.json() == expected
    (rolled,) = rollbacks(settings, topics)
    assert rolled.envelope.producer == "console:alice" and len(rolled.signatures) == 1
    assert rolled.operator == "alice"

    assert follow_stable(settings, topics) == 1, "a verifying follower restores v1"
