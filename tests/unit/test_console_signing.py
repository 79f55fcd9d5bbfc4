"""Browser-made approvals: the bytes the page signs, and what the server accepts back; and how
the console reports a Kafka failure."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from confluent_kafka import KafkaError, KafkaException

from alignment_flywheel.console.desk import _kafka
from alignment_flywheel.console.signing import (
    ConsoleSignatureError,
    browser_approval,
    signing_request,
)
from alignment_flywheel.errors import KafkaTransportError
from alignment_flywheel.patches.errors import ExpiredPatchError
from alignment_flywheel.patches.model import PAYLOAD_TYPE, patch_body
from alignment_flywheel.patches.signing import key_id, pae
from alignment_flywheel.patches.verify import OracleHead, PatchVerifier
from tests.support.signing import NOW, Keyring, make_patch


def browser_signature(ring: Keyring, name: str, pae_b64: str) -> str:
    """What the page does with WebCrypto: Ed25519 over the decoded bytes, base64."""
    return base64.b64encode(ring[name].sign(base64.b64decode(pae_b64))).decode()


def test_the_page_signs_the_dsse_pae_of_the_patch_body() -> None:
    patch = make_patch()
    request = signing_request(patch)
    assert base64.b64decode(request["pae"]) == pae(PAYLOAD_TYPE, patch_body(patch))
    assert request["payload_type"] == PAYLOAD_TYPE and request["patch_id"] == str(patch.patch_id)


def test_an_approver_signature_becomes_an_approval_the_verifier_accepts() -> None:
    ring, patch = Keyring(), make_patch()
    root = ring.root().root
    signature = browser_signature(ring, "alice", signing_request(patch)["pae"])
    approval = browser_approval(root, patch, signature, operator="op1", now=NOW)
    assert approval.key_id == key_id(ring["alice"].public_key())
    assert approval.role == "approver" and approval.envelope.producer == "console:op1"
    verifier = PatchVerifier(root, OracleHead(patch.base_version, patch.base_digest))
    assert verifier.check_signatures(patch, [approval]) == {
        "approver": frozenset({approval.key_id})
    }


@pytest.mark.parametrize("signer", ["refinement", "stranger"])
def test_keys_without_the_approver_role_are_refused(signer: str) -> None:
    ring, patch = Keyring(), make_patch()
    root = ring.root().root
    signature = browser_signature(ring, signer, signing_request(patch)["pae"])
    with pytest.raises(ConsoleSignatureError, match="any approver key"):
        browser_approval(root, patch, signature, operator="op1", now=NOW)


def test_a_signature_of_another_patch_or_garbage_is_refused() -> None:
    ring, patch = Keyring(), make_patch()
    root = ring.root().root
    other = browser_signature(ring, "alice", signing_request(make_patch())["pae"])
    with pytest.raises(ConsoleSignatureError):
        browser_approval(root, patch, other, operator="op1", now=NOW)
    with pytest.raises(ConsoleSignatureError, match="base64"):
        browser_approval(root, patch, "not base64!", operator="op1", now=NOW)
    with pytest.raises(ConsoleSignatureError, match="64 bytes"):
        browser_approval(root, patch, base64.b64encode(b"x" * 10).decode(), operator="o", now=NOW)


def test_an_expired_patch_cannot_be_approved() -> None:
    ring = Keyring()
    patch = make_patch(expires=NOW - timedelta(days=1))
    signature = browser_signature(ring, "alice", signing_request(patch)["pae"])
    with pytest.raises(ExpiredPatchError):
        browser_approval(ring.root().root, patch, signature, operator="op1", now=NOW)


def test_kafka_client_failures_become_transport_errors() -> None:
    @_kafka
    def read() -> None:
        raise KafkaException(KafkaError(KafkaError._TRANSPORT, "broker down"))

    with pytest.raises(KafkaTransportError, match="broker down"):
        read()
