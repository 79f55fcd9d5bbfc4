"""Keys, trust roots and signed patches for the signing and verification tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alignment_flywheel.events import PatchApproved
from alignment_flywheel.oracle.artifact import OracleArtifact, build_artifact
from alignment_flywheel.patches import Patch, parse_operations, propose_patch
from alignment_flywheel.patches.approvals import approve
from alignment_flywheel.patches.signing import public_hex
from alignment_flywheel.patches.trust import Role, SignedRoot, build_root, sign_root
from tests.support.oracles import artifact_doc, rule

NOW = datetime(2026, 6, 1, tzinfo=UTC)
BASE: OracleArtifact = build_artifact(artifact_doc(rule("a", "true", score=0.5)))


@dataclass
class Keyring:
    """Named keys and the roles they get in a trust root."""

    keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Ed25519PrivateKey:
        if name not in self.keys:
            self.keys[name] = Ed25519PrivateKey.generate()
        return self.keys[name]

    def root(
        self,
        *,
        version: int = 1,
        roles: dict[Role, Sequence[str]] | None = None,
        thresholds: dict[Role, int] | None = None,
        expires: datetime = NOW + timedelta(days=365),
        signers: Sequence[str] | None = None,
    ) -> SignedRoot:
        roles = roles or DEFAULT_ROLES
        names = {n for keys in roles.values() for n in keys}
        root = build_root(
            version=version,
            expires=expires,
            keys={n: public_hex(self[n].public_key()) for n in names},
            roles=roles,
            thresholds=thresholds or {"root": 2, "approver": 2},
        )
        return sign_root(root, [self[n] for n in (signers or roles["root"])])


DEFAULT_ROLES: dict[Role, Sequence[str]] = {
    "root": ["root1", "root2", "root3"],
    "author": ["refinement"],
    "approver": ["alice", "bob", "carol"],
    "releaser": ["rel"],
}


def make_patch(base: OracleArtifact = BASE, **extra: object) -> Patch:
    operations = parse_operations([{"op": "add_rule", "rule": rule("b", "args.cmd == 'rm'")}])
    patch, _ = propose_patch(base, operations, author="refinement", rationale="block rm", **extra)  # type: ignore[arg-type]
    return patch


def approvals(
    ring: Keyring, patch: Patch, signers: Sequence[tuple[str, str]] | None = None
) -> list[PatchApproved]:
    """Approvals by (key name, role); default: the author and two approvers."""
    chosen = signers or [("refinement", "author"), ("alice", "approver"), ("bob", "approver")]
    return [approve(patch, ring[name], role=role, producer="test") for name, role in chosen]
