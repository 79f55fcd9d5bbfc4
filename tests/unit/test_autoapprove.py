"""The auto-approver: automatic approvals of passing patches only, refused in production."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import ConfigError
from alignment_flywheel.events import RegressionEvidence
from alignment_flywheel.governance.autoapprove import AutoApprover, auto_approver_for
from alignment_flywheel.patches.keys import KeyStore
from alignment_flywheel.patches.verify import OracleHead, PatchVerifier
from tests.support.signing import BASE, NOW, Keyring, approvals, make_patch


def evidence(passed: bool) -> RegressionEvidence:
    return RegressionEvidence(
        cases=10,
        expected_blocked=3,
        blocked=3 if passed else 2,
        benign=7,
        false_positives=0,
        false_positive_rate=0.0,
        labelled=0,
        labels_kept=0,
        passed=passed,
        report="r",
    )


def test_passing_patches_get_automatic_approvals_that_verify() -> None:
    ring = Keyring()
    approver = AutoApprover([ring["alice"], ring["bob"]], "ci/auto-approver")
    patch = make_patch(regression=evidence(True))
    automatic = approver.approvals_for(patch.to_event("refinement"))
    assert len(automatic) == 2 and all(a.automatic and a.role == "approver" for a in automatic)
    author = approvals(ring, patch, [("refinement", "author")])
    verifier = PatchVerifier(ring.root().root, OracleHead(BASE.version, BASE.digest))
    verifier.verify(patch, author + automatic, NOW)
    assert approver.approvals_for(make_patch(regression=evidence(False)).to_event("r")) == []
    assert approver.approvals_for(make_patch().to_event("r")) == []


def test_configured_from_named_keys_and_refused_in_production(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(auto_approve_keys=("demo-approver",))
    KeyStore(settings.effective_keys_dir).new("demo-approver")
    approver = auto_approver_for(settings)
    assert approver is not None and len(approver.keys) == 1
    assert auto_approver_for(settings_factory()) is None
    with pytest.raises(ConfigError, match="refused in production"):
        settings_factory(auto_approve_keys=("demo-approver",), deployment="production")
