"""Keys, PAE, DSSE envelopes and approval envelopes: round trips and strict parsing."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alignment_flywheel.errors import UntrustedError
from alignment_flywheel.events import PatchRejectionReason
from alignment_flywheel.patches import PAYLOAD_TYPE, patch_body
from alignment_flywheel.patches.approvals import export_envelope, import_envelope
from alignment_flywheel.patches.errors import KeyFileError, MalformedError, OversizedEnvelopeError
from alignment_flywheel.patches.keys import KeyStore
from alignment_flywheel.patches.signing import (
    key_id,
    pae,
    parse_envelope,
    raw_public,
    seal,
    sign,
    signature_valid,
)
from tests.support.signing import Keyring, approvals, make_patch


def test_pae_matches_the_dsse_vectors() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert pae("", b"") == b"DSSEv1 0  0 "
    assert pae("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"


def test_a_signature_verifies_only_for_its_type_and_body() -> None:
    key = Ed25519PrivateKey.generate()
    signature = sign(key, "a/b", b"body")
    assert signature_valid(key.public_key(), signature, "a/b", b"body")
    assert not signature_valid(key.public_key(), signature, "a/c", b"body")
    assert not signature_valid(key.public_key(), signature, "a/b", b"bodY")
    assert not signature_valid(Ed25519PrivateKey.generate().public_key(), signature, "a/b", b"body")


def test_the_key_id_is_the_sha256_of_the_raw_public_key() -> None:
    key = Ed25519PrivateKey.generate()
    assert key_id(key.public_key()) == hashlib.sha256(raw_public(key.public_key())).hexdigest()


def test_keys_are_saved_0600_never_overwritten_and_loaded_with_their_passphrase(
    tmp_path: Path,
) -> None:
    store = KeyStore(tmp_path / "keys")
    plain = store.new("alice")
    secret = store.new("bob", b"correct horse")
    assert stat.S_IMODE(store.private_path("alice").stat().st_mode) == 0o600
    assert key_id(store.private("alice").public_key()) == key_id(plain.public_key())
    assert store.needs_passphrase("bob") and not store.needs_passphrase("alice")
    assert key_id(store.private("bob", b"correct horse").public_key()) == key_id(
        secret.public_key()
    )
    with pytest.raises(KeyFileError):
        store.private("bob", b"wrong")
    with pytest.raises(KeyFileError):
        store.private("bob")
    with pytest.raises(KeyFileError, match="already exists"):
        store.new("alice")
    with pytest.raises(KeyFileError, match="not a key name"):
        store.new("../evil")
    assert [(k.name, k.has_private) for k in store.list()] == [("alice", True), ("bob", True)]


def test_an_envelope_round_trips() -> None:
    keys = [Ed25519PrivateKey.generate() for _ in range(2)]
    envelope = seal("a/b", b"payload", keys)
    parsed = parse_envelope(envelope.dumps())
    assert parsed == envelope and parsed.body == b"payload"
    assert {s.keyid for s in parsed.signatures} == {key_id(k.public_key()) for k in keys}
    for entry in parsed.signatures:
        public = next(k.public_key() for k in keys if key_id(k.public_key()) == entry.keyid)
        assert signature_valid(public, entry.signature, "a/b", b"payload")


def _good() -> dict[str, object]:
    return json.loads(seal("a/b", b"x", [Ed25519PrivateKey.generate()]).dumps())


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("payload"),
        lambda d: d.update(extra=1),
        lambda d: d.update(payload="not base64!"),
        lambda d: d.update(payload=5),
        lambda d: d.update(signatures=[]),
        lambda d: d["signatures"][0].update(keyid="ABC"),
        lambda d: d["signatures"][0].update(sig="%%%"),
        lambda d: d["signatures"][0].update(cert="x"),
    ],
)
def test_a_malformed_envelope_is_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    document = _good()
    mutate(document)
    with pytest.raises(MalformedError) as caught:
        parse_envelope(json.dumps(document))
    assert caught.value.reason is PatchRejectionReason.MALFORMED
    assert isinstance(caught.value, UntrustedError)


@pytest.mark.parametrize(
    "raw",
    [b"", b"[]", b"{", b'{"payloadType": "a", "payloadType": "b"}', b'{"payload": NaN}', b"\xff"],
)
def test_text_that_is_not_strict_json_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_envelope(raw)


def test_an_oversized_envelope_is_refused_before_parsing() -> None:
    with pytest.raises(OversizedEnvelopeError) as caught:
        parse_envelope(b"{" * 2000, max_bytes=1000)
    assert caught.value.reason is PatchRejectionReason.MALFORMED


def test_approvals_export_and_import_as_one_envelope() -> None:
    ring = Keyring()
    root = ring.root().root
    patch = make_patch()
    given = approvals(ring, patch)
    envelope = export_envelope(patch, given)
    assert envelope.payloadType == PAYLOAD_TYPE and envelope.body == patch_body(patch)
    assert base64.b64decode(envelope.signatures[0].sig) == given[0].signature
    imported, back = import_envelope(envelope.dumps(), root, producer="test")
    assert imported == patch
    assert [(a.key_id, a.role, a.signature) for a in back] == [
        (a.key_id, a.role, a.signature) for a in given
    ]


def test_an_envelope_of_another_type_is_not_a_patch() -> None:
    envelope = seal("a/b", b"{}", [Ed25519PrivateKey.generate()])
    with pytest.raises(MalformedError, match="not a patch"):
        import_envelope(envelope.dumps(), Keyring().root().root, producer="test")
