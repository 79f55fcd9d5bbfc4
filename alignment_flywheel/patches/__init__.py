"""Patches: the only way the oracle changes. Data, signed, approved, applied all or nothing."""

from alignment_flywheel.patches.model import (
    PAYLOAD_TYPE,
    Patch,
    apply_patch,
    patch_body,
    propose_patch,
)
from alignment_flywheel.patches.operations import (
    AddRule,
    ArtifactFold,
    Operation,
    PatchApplyError,
    RemoveRule,
    ReplaceRule,
    SetThreshold,
    SetTier,
    apply_operations,
    parse_operations,
)

__all__ = [
    "PAYLOAD_TYPE",
    "AddRule",
    "ArtifactFold",
    "Operation",
    "Patch",
    "PatchApplyError",
    "RemoveRule",
    "ReplaceRule",
    "SetThreshold",
    "SetTier",
    "apply_operations",
    "apply_patch",
    "parse_operations",
    "patch_body",
    "propose_patch",
]
