"""The oracle of any released version, rebuilt from the bootstrap artifact and the patch log.

Rules:

* A :class:`PatchLibrary` collects what the patches topic holds: every ``PatchProposed`` (by patch
  id, the first one of an id; and by target digest), its ``PatchApproved`` signatures, and every
  ``PatchRejected`` (``rejections``). Only the rejections that take effect are in ``rejected``:
  with a trust (a :class:`ReleaseTrust`, e.g. ``release.trusted.ChainCheck``) a rejection takes
  effect only when the releaser threshold signed it; an unsigned or badly signed one is counted
  (the trust's ``ignored``), kept as information, and changes nothing. Without a trust (no trust
  root: development) every rejection takes effect.
* Several patches can produce the same digest (refinement proposes again as a cluster grows, with
  the same operations); a chain uses the first of them, in log order, that is not rejected and
  passes the ``check`` hook: equal digests are equal artifacts, whichever patch was signed.
* :meth:`OracleBuilder.artifact_for` finds the chain of patches from the bootstrap artifact (or
  the nearest version already built) to the wanted digest by following base digests, checks each
  patch with the ``check`` hook (signature verification plugs in here: a ``ReleaseTrust`` also
  decides which rejections count, whatever library it reads), folds their operations on one
  working copy, compiles once and compares the result's digest with the wanted one. Equal digests
  mean the exact artifact: every gate and SDK that folds the same log reaches the same oracle.
* A version that cannot be reached (a patch missing from the log, a patch rejected with effect in
  the chain, a chain that does not verify, a digest that does not match) raises
  :class:`RebuildError` or the check's error; the caller keeps the oracle it has. :meth:`forget`
  drops the versions built so far (after a rejection took effect).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from alignment_flywheel.errors import FlywheelError
from alignment_flywheel.events import (
    Event,
    PatchApproved,
    PatchProposed,
    PatchRejected,
    ReleaseRolledBack,
)
from alignment_flywheel.oracle.artifact import OracleArtifact, build_artifact
from alignment_flywheel.patches import ArtifactFold, Patch
from alignment_flywheel.patches.trust import IgnoredCounter

PatchCheck = Callable[[Patch, Sequence[PatchApproved]], None]
"""Raises (an UntrustedError) when a patch in a chain must not be applied."""


@runtime_checkable
class ReleaseTrust(Protocol):
    """A ``PatchCheck`` that also decides which signed decisions in the log count."""

    ignored: IgnoredCounter

    def __call__(self, patch: Patch, approvals: Sequence[PatchApproved]) -> None: ...

    def rejection_counts(self, event: PatchRejected) -> bool: ...

    def rollback_counts(self, event: ReleaseRolledBack) -> bool: ...


class RebuildError(FlywheelError):
    """A released version cannot be rebuilt from the log."""


class PatchLibrary:
    """The patches topic, folded: patches by id and by target digest, approvals, rejections."""

    def __init__(self, trust: ReleaseTrust | None = None) -> None:
        self.patches: dict[uuid.UUID, Patch] = {}
        self.by_target: dict[str, Patch] = {}
        self.producers: dict[str, list[Patch]] = defaultdict(list)
        self.approvals: dict[uuid.UUID, list[PatchApproved]] = defaultdict(list)
        self.rejections: dict[uuid.UUID, list[PatchRejected]] = defaultdict(list)
        self.rejected: dict[uuid.UUID, PatchRejected] = {}
        self._trust = trust

    def add(self, event: Event) -> bool:
        """Fold one event; True when it is a rejection that takes effect."""
        if isinstance(event, PatchProposed):
            patch = Patch.from_event(event)
            self.patches.setdefault(patch.patch_id, patch)
            self.by_target.setdefault(patch.target_digest, patch)
            self.producers[patch.target_digest].append(patch)
        elif isinstance(event, PatchApproved):
            self.approvals[event.patch_id].append(event)
        elif isinstance(event, PatchRejected):
            self.rejections[event.patch_id].append(event)
            if self._trust is None or self._trust.rejection_counts(event):
                self.rejected.setdefault(event.patch_id, event)
                return True
        return False


class OracleBuilder:
    """Builds (and caches) the artifact of any digest reachable from the bootstrap artifact."""

    def __init__(
        self, genesis: OracleArtifact, library: PatchLibrary, check: PatchCheck | None = None
    ) -> None:
        self.genesis = genesis
        self.library = library
        self._check = check
        self._built: dict[str, OracleArtifact] = {genesis.digest: genesis}

    def forget(self) -> None:
        """Drop every version built so far but the bootstrap artifact."""
        self._built = {self.genesis.digest: self.genesis}

    def artifact_for(self, digest: str) -> OracleArtifact:
        built = self._built.get(digest)
        if built is not None:
            return built
        start, chain = self._chain(digest)
        fold = ArtifactFold(start.spec)
        for patch in chain:
            fold.apply(patch.operations, patch.target_version)
        artifact = build_artifact(fold.spec())
        if artifact.digest != digest:
            raise RebuildError(f"the patch chain gives {artifact.digest[:12]}, not {digest[:12]}")
        self._built[digest] = artifact
        return artifact

    def producer(self, digest: str) -> Patch:
        """The patch a chain uses to reach ``digest``: not rejected, and passing the check."""
        return self._link(digest)

    def _chain(self, digest: str) -> tuple[OracleArtifact, list[Patch]]:
        chain: list[Patch] = []
        current = digest
        while current not in self._built:
            patch = self._link(current)
            chain.append(patch)
            current = patch.base_digest
            if len(chain) > len(self.library.patches):
                raise RebuildError(f"the patches leading to {digest[:12]} form a cycle")
        chain.reverse()
        return self._built[current], chain

    def _link(self, digest: str) -> Patch:
        """The first patch producing ``digest`` that may be applied; else the first one's error."""
        failures: list[FlywheelError] = []
        for patch in self.library.producers.get(digest, []):
            if self._rejected(patch):
                failures.append(RebuildError(f"patch {patch.patch_id} in the chain was rejected"))
                continue
            try:
                if self._check is not None:
                    self._check(patch, self.library.approvals.get(patch.patch_id, []))
            except FlywheelError as exc:
                failures.append(exc)
                continue
            return patch
        if not failures:
            raise RebuildError(f"no patch in the log produces {digest[:12]}")
        raise failures[0]

    def _rejected(self, patch: Patch) -> bool:
        check = self._check
        if not isinstance(check, ReleaseTrust):
            return patch.patch_id in self.library.rejected
        found = self.library.rejections.get(patch.patch_id, [])
        return any([check.rejection_counts(event) for event in found])
