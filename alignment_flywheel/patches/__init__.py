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
    AddToSet,
    ArtifactFold,
    Operation,
    PatchApplyError,
    RemoveFromSet,
    RemoveRule,
    ReplaceRule,
    SetData,
    SetThreshold,
    SetTier,
    apply_operations,
    parse_operations,
)

__all__ = [
    "PAYLOAD_TYPE",
    "AddRule",
    "AddToSet",
    "ArtifactFold",
    "Operation",
    "Patch",
    "PatchApplyError",
    "RemoveFromSet",
    "RemoveRule",
    "ReplaceRule",
    "SetData",
    "SetThreshold",
    "SetTier",
    "apply_operations",
    "apply_patch",
    "parse_operations",
    "patch_body",
    "propose_patch",
]
