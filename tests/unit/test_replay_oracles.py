"""Resolving ``--oracle``: versions, digests, deployed releases, unreleased and signed patches."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignment_flywheel.config import Settings
from alignment_flywheel.events import ReleaseStage
from alignment_flywheel.patches.approvals import export_envelope
from alignment_flywheel.patches.trust import save_root
from alignment_flywheel.release.oracle_log import OracleLog, ReplayOracleError
from alignment_flywheel.release.rebuild import OracleBuilder, PatchLibrary
from alignment_flywheel.release.state import ReleaseState, fold
from tests.support.releases import patch_chain, promoted, staged
from tests.support.signing import BASE, Keyring, approvals, make_patch


def oracle_log(released: int) -> tuple[OracleLog, list]:
    chain = patch_chain(BASE, 3)
    library = PatchLibrary()
    for patch, _ in chain:
        library.add(patch.to_event("test"))
    state, digests = ReleaseState(), set()
    for patch, _ in chain[:released]:
        event = staged(patch)
        state = fold(state, event)
        state = fold(state, promoted(event, ReleaseStage.STABLE, ReleaseStage.SHADOW))
        digests.add(patch.target_digest)
    log = OracleLog(BASE, library, state, digests, OracleBuilder(BASE, library))
    return log, chain


def test_versions_digests_and_the_deployed_version(settings_factory) -> None:
    settings: Settings = settings_factory()
    log, chain = oracle_log(released=2)
    assert log.resolve("stable", settings).artifact.digest == chain[1][1].digest
    assert log.resolve(str(BASE.version), settings).artifact is BASE
    third = chain[2][1]
    assert log.resolve(f"v{third.version}", settings).artifact.digest == third.digest
    assert log.resolve(third.digest[:10], settings).artifact.digest == third.digest
    with pytest.raises(ReplayOracleError, match="no candidate"):
        log.resolve("candidate", settings)
    with pytest.raises(ReplayOracleError, match="no patch in the log target version 99"):
        log.resolve("99", settings)
    with pytest.raises(ReplayOracleError, match="not stable/candidate"):
        log.resolve("nonsense", settings)


def test_an_unreleased_patch_is_applied_to_its_base(settings_factory) -> None:
    settings: Settings = settings_factory()
    log, chain = oracle_log(released=0)
    patch, target = chain[1]
    resolved = log.resolve(f"patch:{patch.patch_id}", settings)
    assert resolved.artifact.digest == target.digest
    assert log.resolve(str(patch.patch_id), settings).artifact.digest == target.digest
    with pytest.raises(ReplayOracleError, match="no patch"):
        log.resolve("patch:00000000-0000-0000-0000-000000000000", settings)


def test_a_signed_patch_file_needs_a_trust_root_and_valid_signatures(
    settings_factory, tmp_path: Path
) -> None:
    settings: Settings = settings_factory()
    log, _ = oracle_log(released=0)
    ring = Keyring()
    patch = make_patch()
    envelope = tmp_path / "patch.dsse.json"
    envelope.write_text(export_envelope(patch, approvals(ring, patch)).dumps())
    with pytest.raises(ReplayOracleError, match="trust root"):
        log.resolve(str(envelope), settings)
    save_root(settings.effective_trust_root_path, ring.root())
    resolved = log.resolve(str(envelope), settings)
    assert resolved.artifact.digest == patch.target_digest
    forged = Keyring()
    envelope.write_text(export_envelope(patch, approvals(forged, patch)).dumps())
    with pytest.raises(ReplayOracleError):
        log.resolve(str(envelope), settings)
