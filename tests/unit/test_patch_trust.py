"""The trust root: creation, bootstrap, and rotation under the TUF rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import PatchRejectionReason
from alignment_flywheel.patches.errors import (
    ExpiredRootError,
    MalformedError,
    RootVersionError,
    RotationNotAuthorizedError,
    ThresholdNotMetError,
)
from alignment_flywheel.patches.signing import seal
from alignment_flywheel.patches.trust import (
    TRUST_KEY,
    bootstrap,
    follow,
    read_root,
    rotate,
    trust_event,
)
from tests.support.signing import DEFAULT_ROLES, NOW, Keyring


def test_a_root_is_created_signed_and_bootstrapped() -> None:
    ring = Keyring()
    signed = ring.root()
    trusted = bootstrap(signed.text(), NOW)
    assert trusted.root == signed.root and trusted.version == 1
    assert trusted.root.roles["approver"].threshold == 2
    assert trusted.root.roles_of(next(iter(trusted.root.roles["author"].keyids))) == ("author",)
    assert read_root(signed.text()).root.body() == signed.root.body()


def test_a_root_under_its_own_threshold_does_not_bootstrap() -> None:
    ring = Keyring()
    with pytest.raises(ThresholdNotMetError) as caught:
        bootstrap(ring.root(signers=["root1"]).text(), NOW)
    assert caught.value.reason is PatchRejectionReason.THRESHOLD_NOT_MET


def test_a_root_signed_by_strangers_does_not_count() -> None:
    ring = Keyring()
    with pytest.raises(ThresholdNotMetError):
        bootstrap(ring.root(signers=["alice", "bob", "carol"]).text(), NOW)


def test_an_expired_root_does_not_bootstrap() -> None:
    ring = Keyring()
    with pytest.raises(ExpiredRootError) as caught:
        bootstrap(ring.root(expires=NOW - timedelta(seconds=1)).text(), NOW)
    assert caught.value.reason is PatchRejectionReason.EXPIRED


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [({"approver": 4}, "threshold 4 exceeds 3"), ({"approver": 0}, "greater than or equal")],
)
def test_thresholds_are_m_of_n(thresholds: dict[str, int], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Keyring().root(thresholds=thresholds)  # type: ignore[arg-type]


def test_a_trust_envelope_of_another_type_is_malformed() -> None:
    ring = Keyring()
    with pytest.raises(MalformedError, match="not a trust root"):
        read_root(seal("other/type", b"{}", [ring["root1"]]).dumps())


def test_rotation_signed_by_the_old_and_new_thresholds_is_accepted() -> None:
    ring = Keyring()
    old = bootstrap(ring.root().text(), NOW)
    roles = {**DEFAULT_ROLES, "root": ["root2", "root3", "root4"]}
    new = ring.root(version=2, roles=roles, signers=["root1", "root2", "root3", "root4"])
    rotated = rotate(old, new.text(), NOW)
    assert rotated.version == 2 and rotated.root.roles["root"] == new.root.roles["root"]


def test_rotation_not_signed_by_the_old_threshold_is_refused() -> None:
    ring = Keyring()
    old = bootstrap(ring.root().text(), NOW)
    roles = {**DEFAULT_ROLES, "root": ["new1", "new2"]}
    hijack = ring.root(version=2, roles=roles, signers=["new1", "new2", "root1"])
    with pytest.raises(RotationNotAuthorizedError) as caught:
        rotate(old, hijack.text(), NOW)
    assert caught.value.reason is PatchRejectionReason.THRESHOLD_NOT_MET


def test_rotation_not_signed_by_its_own_threshold_is_refused() -> None:
    ring = Keyring()
    old = bootstrap(ring.root().text(), NOW)
    roles = {**DEFAULT_ROLES, "root": ["root1", "root2", "new1"]}
    half = ring.root(version=2, roles=roles, thresholds={"root": 3}, signers=["root1", "root2"])
    with pytest.raises(ThresholdNotMetError) as caught:
        rotate(old, half.text(), NOW)
    assert not isinstance(caught.value, RotationNotAuthorizedError)


@pytest.mark.parametrize("version", [1, 3, 7])
def test_rotation_must_add_exactly_one_to_the_version(version: int) -> None:
    ring = Keyring()
    old = bootstrap(ring.root().text(), NOW)
    with pytest.raises(RootVersionError) as caught:
        rotate(old, ring.root(version=version).text(), NOW)
    assert caught.value.reason is PatchRejectionReason.VERSION_NOT_INCREASING


def test_an_expired_rotation_is_refused() -> None:
    ring = Keyring()
    old = bootstrap(ring.root().text(), NOW)
    with pytest.raises(ExpiredRootError):
        rotate(old, ring.root(version=2, expires=NOW - timedelta(days=1)).text(), NOW)


def test_the_trust_topic_is_followed_in_version_order() -> None:
    ring = Keyring()
    first = bootstrap(ring.root().text(), NOW)
    events = [trust_event(ring.root(version=v), "test") for v in (3, 1, 2)]
    assert all(e.envelope.key == TRUST_KEY for e in events)
    assert follow(first, events, NOW).version == 3


def test_following_allows_an_expired_intermediate_root_but_not_an_expired_last_one() -> None:
    ring = Keyring()
    first = bootstrap(ring.root().text(), NOW)
    stale = trust_event(ring.root(version=2, expires=NOW - timedelta(days=1)), "test")
    fresh = trust_event(ring.root(version=3), "test")
    assert follow(first, [stale, fresh], NOW).version == 3
    with pytest.raises(ExpiredRootError):
        follow(first, [stale], NOW)
