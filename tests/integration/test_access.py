"""Kafka's own access control on a real broker: authentication, each role's ACLs, drift.

The broker is a private one with the catalog's topics and ACLs applied: this module writes patches
and release transitions to the catalog topics (``flywheel.patches``, ``flywheel.releases``), which
the end-to-end tests on the session broker must not see. Each role connects as its own principal
(:func:`~alignment_flywheel.kafka.credentials.as_role`), the admin as the super user.

* Without credentials, or with a wrong password, nothing gets in.
* A role writes only the topics it produces and reads only the topics and groups it may; the
  broker answers ``TOPIC_AUTHORIZATION_FAILED`` or ``GROUP_AUTHORIZATION_FAILED`` otherwise.
* The signatures still hold for a principal with the right (defence in depth): refinement may
  write the patches topic and people the releases topic, yet a follower does not deploy a patch
  whose approval is unsigned, and does deploy a properly signed one released after it.
* ``flywheel topics check`` reports missing and extra bindings; ``apply`` restores the missing
  ones and, with ``--prune-acls``, removes the extra ones.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from pydantic import SecretStr

from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.enforcement.staged import Deployment
from alignment_flywheel.events import ReleaseStage
from alignment_flywheel.kafka.catalog import load_catalog
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.consumer import consumer_config
from alignment_flywheel.kafka.credentials import as_role
from alignment_flywheel.kafka.producer import producer_config
from alignment_flywheel.patches import Patch, parse_operations, propose_patch
from alignment_flywheel.patches.approvals import approve
from alignment_flywheel.release.follower import ReleaseFollower
from alignment_flywheel.release.trusted import chain_check
from alignment_flywheel.stack.access import (
    LITERAL,
    TOPIC,
    Binding,
    apply_access,
    check_access,
    provision,
)
from alignment_flywheel.stack.broker import LocalBroker
from alignment_flywheel.stack.processes import free_ports
from tests.support.cli import flywheel
from tests.support.env import worker_env
from tests.support.kafka import publish
from tests.support.oracles import rule
from tests.support.releases import promoted, staged
from tests.support.signing import BASE, Keyring, approvals, make_patch

S, ST = ReleaseStage.SHADOW, ReleaseStage.STABLE


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    broker_port, controller_port = free_ports(2)
    settings = load_settings(
        bootstrap_servers="",
        state_dir=tmp_path_factory.mktemp("access"),
        local_broker_port=broker_port,
        local_controller_port=controller_port,
        local_broker_heap_mb=512,
        kafka_username=None,
        kafka_password=None,
        kafka_role=None,
    )
    broker = LocalBroker(settings)
    broker.start(timeout=120)
    try:
        provision(admin_client(settings), load_catalog())
        yield settings
    finally:
        broker.stop()


def produce_error(settings: Settings, topic: str) -> KafkaError | None:
    """The broker's answer to one record produced to ``topic``: None when it was written."""
    producer = Producer(producer_config(settings, {"message.timeout.ms": 15000}))
    results: list[KafkaError | None] = []
    producer.produce(topic, b"probe", on_delivery=lambda error, _msg: results.append(error))
    producer.flush(20)
    assert results, f"no delivery report for {topic}"
    return results[0]


def first_error(consumer: Consumer, timeout: float = 20.0) -> KafkaError | None:
    """The first error the consumer reports (None if it reads a record first)."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            return msg.error()
    finally:
        consumer.close()
    raise AssertionError("the consumer neither read a record nor reported an error")


def test_nothing_gets_in_without_valid_credentials(secured: Settings) -> None:
    plaintext = {"bootstrap.servers": secured.effective_bootstrap_servers, "log_level": 0}
    wrong = secured.model_copy(
        update={"kafka_username": "flywheel-gate", "kafka_password": SecretStr("not-it")}
    )
    for client in (AdminClient(plaintext), admin_client(wrong, log_level=0)):
        with pytest.raises(KafkaException):
            client.list_topics(timeout=5)
    assert admin_client(as_role(secured, "gate")).list_topics(timeout=10).brokers


def test_a_role_writes_only_the_topics_it_produces(secured: Settings) -> None:
    gate, proposer = as_role(secured, "gate"), as_role(secured, "proposer")
    denied = KafkaError.TOPIC_AUTHORIZATION_FAILED
    for settings, topic in (
        (gate, "flywheel.releases"),
        (gate, "flywheel.patches"),
        (proposer, "flywheel.releases"),
        (as_role(secured, "refine"), "flywheel.trust"),
    ):
        error = produce_error(settings, topic)
        assert error is not None and error.code() == denied, (topic, error)
    assert produce_error(gate, "flywheel.deadletter") is None
    assert produce_error(proposer, "flywheel.proposals") is None


def test_a_role_reads_only_its_topics_and_its_groups(secured: Settings) -> None:
    intake = as_role(secured, "intake")
    operator = as_role(secured, "operator")
    assert produce_error(operator, "flywheel.incidents") is None

    own = Consumer(consumer_config(intake, "flywheel-intake-probe"))
    own.subscribe(["flywheel.incidents"])
    assert first_error(own) is None, "intake reads incidents in a group of its own"

    others = Consumer(consumer_config(intake, "flywheel-gate"))
    others.subscribe(["flywheel.incidents"])
    error = first_error(others)
    assert error is not None and error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED

    unread = Consumer(consumer_config(intake, "flywheel-intake-probe"))
    unread.subscribe(["flywheel.proposals"])
    error = first_error(unread)
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def _follow(settings: Settings, root_ring: Keyring) -> tuple[ReleaseFollower, list[Deployment]]:
    check = chain_check(root_ring.root(thresholds={"root": 2, "approver": 2}).root)
    follower = ReleaseFollower(settings, BASE, check=check).start()
    seen: list[Deployment] = []
    follower.attach_deployment(seen.append)
    return follower, seen


def _wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.05)
    return condition()


def test_a_principal_with_write_rights_still_needs_the_signatures(secured: Settings) -> None:
    ring = Keyring()
    refine, operator = as_role(secured, "refine"), as_role(secured, "operator")
    unapproved = make_patch()
    forged = approve(unapproved, ring["alice"], role="approver", producer="refine")
    forged = forged.model_copy(update={"signature": bytes(64)})  # an unsigned approval
    author = approvals(ring, unapproved, [("refinement", "author")])
    publish(refine, "flywheel.patches", [unapproved.to_event("refine"), *author, forged])
    release = staged(unapproved)
    publish(operator, "flywheel.releases", [release, promoted(release, ST, S)])

    follower, seen = _follow(as_role(secured, "gate"), ring)
    try:
        assert follower.errors >= 1, "the unsigned approval was checked and refused"
        assert follower.deployment.stable.digest == BASE.digest
        assert unapproved.target_digest not in {d.stable.digest for d in seen}

        signed = _another_patch()
        publish(refine, "flywheel.patches", [signed.to_event("refine")])
        publish(as_role(secured, "autoapprove"), "flywheel.patches", approvals(ring, signed))
        second = staged(signed)
        publish(operator, "flywheel.releases", [second, promoted(second, ST, S)])
        assert _wait_for(lambda: follower.deployment.stable.digest == signed.target_digest)
        assert unapproved.target_digest not in {d.stable.digest for d in seen}
    finally:
        follower.stop()


def _another_patch() -> Patch:
    """A patch of the same base as :func:`make_patch`, with another target."""
    operations = parse_operations([{"op": "add_rule", "rule": rule("c", "args.cmd == 'dd'")}])
    patch, _ = propose_patch(BASE, operations, author="refinement", rationale="block dd")
    return patch


def _topics(secured: Settings, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = worker_env(secured, FLYWHEEL_STATE_DIR=str(tmp_path), COLUMNS="250")
    return flywheel(env, None, "topics", *args, timeout=120)


def test_topics_check_reports_acl_drift_and_apply_repairs_it(
    secured: Settings, tmp_path: Path
) -> None:
    catalog, admin = load_catalog(), admin_client(secured)
    assert not check_access(admin, catalog)
    extra = Binding("User:flywheel-gate", TOPIC, "flywheel.releases", LITERAL, "WRITE")
    missing = Binding("User:flywheel-release", TOPIC, "flywheel.releases", LITERAL, "WRITE")
    admin.create_acls([extra.to_kafka()])[extra.to_kafka()].result(30)
    deleted = admin.delete_acls([missing.to_filter()])
    for future in deleted.values():
        future.result(30)
    assert _wait_for(lambda: check_access(admin, catalog).extra == [extra])
    assert check_access(admin, catalog).missing == [missing]

    checked = _topics(secured, tmp_path, "check")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "2 ACL differences" in checked.stdout
    assert "User:flywheel-gate" in checked.stdout and "User:flywheel-release" in checked.stdout

    applied = _topics(secured, tmp_path, "apply")
    assert applied.returncode == 1, "an extra binding is left without --prune-acls"
    assert f"ACL created: {missing}" in applied.stdout
    assert "1 extra left" in applied.stdout
    pruned = _topics(secured, tmp_path, "apply", "--prune-acls")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert f"ACL deleted: {extra}" in pruned.stdout
    again = _topics(secured, tmp_path, "apply")
    assert again.returncode == 0 and "ACLs: 0 created, 0 deleted" in again.stdout
    assert apply_access(admin, catalog).created == []
    final = _topics(secured, tmp_path, "check")
    assert final.returncode == 0, final.stdout
    assert "match the catalog" in final.stdout
    error = produce_error(as_role(secured, "gate"), "flywheel.releases")
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
