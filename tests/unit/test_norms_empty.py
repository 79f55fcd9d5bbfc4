"""Norms: a document with no norm is valid, and then nothing is covered."""

from __future__ import annotations

from alignment_flywheel.events import VerificationOutcome
from alignment_flywheel.governance.norms import build_norms, example_proposal


def test_a_norms_document_without_norms_leaves_every_finding_inconclusive() -> None:
    norms = build_norms({"version": "empty-1", "norms": []})
    assert norms.norms == () and norms.version == "empty-1"
    judgement = norms.judge(example_proposal("workspace.send_email", {"to": "a@b.example"}))
    assert judgement.outcome is VerificationOutcome.INCONCLUSIVE
    assert judgement.norm_ids == ()
    assert judgement.rationale == "no norm covers the tool workspace.send_email"
