"""Stable rollbacks signed in the browser: the bytes the page signs, and which posted signatures
the server attaches (releaser keys only, the releaser threshold for the stable version)."""

from __future__ import annotations

import base64
import os

import pytest

from alignment_flywheel.console.signing import (
    BrowserSignature,
    ConsoleSignatureError,
    rollback_signatures_needed,
    rollback_signing_request,
    signed_rollback,
)
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import ReleaseRolledBack, ReleaseStage
from alignment_flywheel.patches.signing import key_id, pae
from alignment_flywheel.patches.trust import TrustRoot
from alignment_flywheel.release.trusted import ROLLBACK_PAYLOAD_TYPE, ChainCheck, rollback_body
from tests.support.releases import patch_chain, rolled_back, staged
from tests.support.signing import BASE, DEFAULT_ROLES, Keyring


def rollback(stage: ReleaseStage = ReleaseStage.STABLE) -> ReleaseRolledBack:
    ((patch, _),) = patch_chain(BASE, 1)
    return rolled_back(staged(patch), stage, (BASE.version, BASE.digest))


def browser_signature(ring: Keyring, name: str, event: ReleaseRolledBack) -> BrowserSignature:
    """What the page does: Ed25519 over the decoded PAE with the key file, and the key's id."""
    pae_b64 = rollback_signing_request(event, 1)["pae"]
    signature = ring[name].sign(base64.b64decode(pae_b64))
    return BrowserSignature(key_id(ring[name].public_key()), base64.b64encode(signature).decode())


def two_releasers(ring: Keyring) -> TrustRoot:
    roles = {**DEFAULT_ROLES, "releaser": ["rel", "rel2"]}
    return ring.root(roles=roles, thresholds={"root": 2, "approver": 2, "releaser": 2}).root


def test_the_page_signs_the_pae_of_the_rollback_body_without_its_envelope() -> None:
    event = rollback()
    request = rollback_signing_request(event, 1)
    assert base64.b64decode(request["pae"]) == pae(ROLLBACK_PAYLOAD_TYPE, rollback_body(event))
    assert request["version"] == event.version and request["restored_version"] == BASE.version
    assert request["release_id"] == str(event.release_id) and request["signatures_needed"] == 1
    rebuilt = event.model_copy(update={"envelope": rollback().envelope})
    assert rollback_signing_request(rebuilt, 1)["pae"] == request["pae"]


def test_only_a_stable_rollback_under_a_trust_root_needs_signatures() -> None:
    root = Keyring().root().root
    assert rollback_signatures_needed(root, rollback()) == 1
    assert rollback_signatures_needed(root, rollback(ReleaseStage.CANARY)) == 0
    assert rollback_signatures_needed(None, rollback()) == 0


def test_a_releaser_signature_is_attached_and_followers_count_it() -> None:
    ring, event = Keyring(), rollback()
    root = ring.root().root
    posted = browser_signature(ring, "rel", event)
    signed = signed_rollback(root, event, [posted])
    assert [s.key_id for s in signed.signatures] == [key_id(ring["rel"].public_key())]
    assert ChainCheck(root).rollback_counts(signed)


@pytest.mark.parametrize("signer", ["alice", "refinement", "stranger"])
def test_a_key_without_the_releaser_role_is_refused(signer: str) -> None:
    ring, event = Keyring(), rollback()
    root = ring.root().root
    with pytest.raises(ConsoleSignatureError, match="refused"):
        signed_rollback(root, event, [browser_signature(ring, signer, event)])


def test_junk_and_borrowed_signatures_are_refused() -> None:
    ring, event = Keyring(), rollback()
    root = ring.root().root
    releaser = key_id(ring["rel"].public_key())
    other = browser_signature(ring, "rel", rollback())
    alice = browser_signature(ring, "alice", event)
    for posted in (
        BrowserSignature(releaser, other.signature),  # another rollback's signature
        BrowserSignature(releaser, alice.signature),  # an approver's, claiming the releaser key
        BrowserSignature(releaser, base64.b64encode(os.urandom(64)).decode()),
        BrowserSignature(releaser, "not base64!"),
        BrowserSignature(releaser, base64.b64encode(b"x" * 10).decode()),
    ):
        with pytest.raises(ConsoleSignatureError):
            signed_rollback(root, event, [posted])


def test_a_stable_rollback_under_the_releaser_threshold_is_refused() -> None:
    ring, event = Keyring(), rollback()
    with pytest.raises(InvalidInputError, match="releaser signature"):
        signed_rollback(ring.root().root, event, [])
    root = two_releasers(ring)
    one = browser_signature(ring, "rel", event)
    with pytest.raises(InvalidInputError, match="needs 2 releaser signature"):
        signed_rollback(root, event, [one])
    with pytest.raises(InvalidInputError, match="more than once"):
        signed_rollback(root, event, [one, one])
    both = signed_rollback(root, event, [one, browser_signature(ring, "rel2", event)])
    assert len(both.signatures) == 2 and ChainCheck(root).rollback_counts(both)


def test_a_candidate_or_a_development_rollback_needs_no_signature() -> None:
    root, candidate, stable = Keyring().root().root, rollback(ReleaseStage.CANARY), rollback()
    assert signed_rollback(root, candidate, []) == candidate
    assert signed_rollback(None, stable, []) == stable
    with pytest.raises(InvalidInputError, match="no trust root"):
        signed_rollback(None, stable, [browser_signature(Keyring(), "rel", stable)])
