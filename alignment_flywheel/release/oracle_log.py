"""Which oracle a replay uses: any version of the log, or a patch not released yet.

The patches topic is folded into a :class:`~alignment_flywheel.release.rebuild.PatchLibrary` and
the release topic into the release state, as every gate does; the bootstrap artifact is the
settings' oracle. ``--oracle`` is one of (first match wins):

* ``stable`` (the default) or ``candidate``: the version the release topic deploys now;
* a version number (``7`` or ``v7``): the bootstrap artifact's version, or the target of a patch
  in the log with that version (a released one when several patches target it);
* a digest (64 hex digits, or a unique prefix of at least 8);
* ``patch:<uuid>`` or a bare uuid: a ``PatchProposed`` of the patches topic, released or not,
  applied to its base;
* the path of a signed patch file (``flywheel patch export``): its signatures must verify
  against the trust root; the patch is applied to its base.

Every version is rebuilt with :class:`~alignment_flywheel.release.rebuild.OracleBuilder`; with a
trust root, every patch in the chain to a version is checked like a follower checks it (a
``patch:`` or file patch is applied unreleased on its base, whose chain is checked). Anything
that cannot be resolved raises :class:`ReplayOracleError` naming what is missing.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import FlywheelError
from alignment_flywheel.events import ReleasePromoted, ReleaseStaged
from alignment_flywheel.kafka.reader import read_topic
from alignment_flywheel.oracle.artifact import OracleArtifact, load_artifact
from alignment_flywheel.oracle.loader import oracle_path
from alignment_flywheel.patches import Patch, apply_patch
from alignment_flywheel.patches.approvals import import_envelope
from alignment_flywheel.patches.verify import OracleHead, PatchVerifier
from alignment_flywheel.release.follower import ReleaseTopics
from alignment_flywheel.release.rebuild import OracleBuilder, PatchLibrary
from alignment_flywheel.release.state import ReleaseState, fold
from alignment_flywheel.release.trusted import follower_check, trust_root_for

HEX = re.compile(r"^[0-9a-f]{8,64}$")
VERSION = re.compile(r"^v?(\d+)$")


class ReplayOracleError(FlywheelError):
    """The oracle asked for cannot be found or rebuilt from the log."""


@dataclass(frozen=True, slots=True)
class Resolved:
    label: str
    artifact: OracleArtifact


class OracleLog:
    """The patch and release topics, folded, and the oracles they give."""

    def __init__(
        self,
        genesis: OracleArtifact,
        library: PatchLibrary,
        state: ReleaseState,
        released: set[str],
        builder: OracleBuilder,
    ) -> None:
        self.genesis = genesis
        self.library = library
        self.state = state
        self.released = released
        self.builder = builder

    @classmethod
    def read(cls, settings: Settings, codec: EventCodec, topics: ReleaseTopics) -> OracleLog:
        library = PatchLibrary()
        for event in read_topic(settings, codec, topics.patches):
            library.add(event)
        state, released = ReleaseState(), set()
        for event in read_topic(settings, codec, topics.releases):
            state = fold(state, event)
            if isinstance(event, ReleaseStaged | ReleasePromoted):
                released.add(event.digest)
        genesis = load_artifact(oracle_path(settings))
        builder = OracleBuilder(genesis, library, check=follower_check(settings))
        return cls(genesis, library, state, released, builder)

    def resolve(self, spec: str, settings: Settings) -> Resolved:
        spec = spec.strip()
        if spec in ("stable", "candidate"):
            return Resolved(spec, self._deployed(spec))
        if match := VERSION.match(spec):
            return Resolved(f"v{match.group(1)}", self._version(int(match.group(1))))
        if spec.startswith("patch:") or _is_uuid(spec):
            patch_id = uuid.UUID(spec.removeprefix("patch:"))
            patch = self.library.patches.get(patch_id)
            if patch is None:
                raise ReplayOracleError(f"no patch {patch_id} on the patches topic")
            return Resolved(f"patch {patch_id}", self._applied(patch))
        if HEX.match(spec.lower()):
            return Resolved(spec[:12], self._digest(spec.lower()))
        path = Path(spec)
        if path.is_file():
            return Resolved(f"patch file {path.name}", self._applied(self._signed(path, settings)))
        raise ReplayOracleError(
            f"--oracle {spec!r}: not stable/candidate, a version, a digest, a patch id or a file"
        )

    def _deployed(self, which: str) -> OracleArtifact:
        if which == "candidate":
            if self.state.candidate is None:
                raise ReplayOracleError("no candidate release is being rolled out")
            return self._build(self.state.candidate.digest)
        stable = self.state.stable
        return self.genesis if stable is None else self._build(stable.digest)

    def _version(self, version: int) -> OracleArtifact:
        if version == self.genesis.version:
            return self.genesis
        found = [p for p in self.library.patches.values() if p.target_version == version]
        released = [p for p in found if p.target_digest in self.released]
        chosen = released or found
        if len({p.target_digest for p in chosen}) != 1:
            what = "no patch" if not chosen else "several patches"
            raise ReplayOracleError(f"{what} in the log target version {version}: give a digest")
        return self._build(chosen[0].target_digest)

    def _digest(self, prefix: str) -> OracleArtifact:
        known = {self.genesis.digest, *self.library.by_target}
        found = sorted(d for d in known if d.startswith(prefix))
        if len(found) != 1:
            what = "no version" if not found else "several versions"
            raise ReplayOracleError(f"{what} in the log with a digest starting {prefix}")
        return self._build(found[0])

    def _build(self, digest: str) -> OracleArtifact:
        try:
            return self.builder.artifact_for(digest)
        except FlywheelError as exc:
            raise ReplayOracleError(f"cannot rebuild {digest[:12]}: {exc}") from exc

    def _applied(self, patch: Patch) -> OracleArtifact:
        """An unreleased patch on its base (the base chain is checked, the patch is not)."""
        try:
            return apply_patch(self._build(patch.base_digest), patch)
        except ReplayOracleError:
            raise
        except FlywheelError as exc:
            raise ReplayOracleError(f"patch {patch.patch_id}: {exc}") from exc

    def _signed(self, path: Path, settings: Settings) -> Patch:
        root = trust_root_for(settings)
        if root is None:
            raise ReplayOracleError(f"a patch file needs a trust root to verify it: {path}")
        try:
            patch, approvals = import_envelope(path.read_bytes(), root, producer="replay")
            verifier = PatchVerifier(root, OracleHead(patch.base_version, patch.base_digest))
            verifier.check_signatures(patch, approvals)
        except FlywheelError as exc:
            raise ReplayOracleError(f"patch file {path}: {exc}") from exc
        return patch


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36
