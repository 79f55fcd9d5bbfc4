"""A patch: operations over one oracle version that produce the next, with why and the evidence.

Rules:

* A patch names its base (version and digest) and its target (version and digest); the target
  version is greater than the base version. It carries a rationale, the clusters, findings and
  incidents behind it, the regression evidence of refinement, and optionally an expiry.
* :func:`patch_body` is what is signed: the RFC 8785 canonical JSON of the patch's fields (the
  operations as a JSON array). It is the same bytes whether built from a :class:`Patch` or read
  back from a ``PatchProposed`` event.
* :func:`propose_patch` is the command: it applies the operations to the base artifact, compiles
  the result (every rule must compile) and returns the patch with the target digest.
  :func:`apply_patch` applies a patch to an artifact: it either returns the target artifact, whose
  version and digest are the patch's target, or raises :class:`PatchApplyError` and changes
  nothing (artifacts are immutable).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any

import rfc8785
from pydantic import Field, StringConstraints

from alignment_flywheel.errors import PolicyDocumentError
from alignment_flywheel.events import PatchProposed, RegressionEvidence, new_envelope
from alignment_flywheel.events.common import Sha256Hex, Timestamp
from alignment_flywheel.oracle.artifact import OracleArtifact, Spec, build_artifact
from alignment_flywheel.patches.operations import (
    Operation,
    PatchApplyError,
    apply_operations,
    operations_json,
    parse_operations,
)

PAYLOAD_TYPE = "application/vnd.alignment-flywheel.patch+json"


class Patch(Spec):
    patch_id: uuid.UUID
    author: Annotated[str, StringConstraints(min_length=1)]
    base_version: Annotated[int, Field(ge=0)]
    base_digest: Sha256Hex
    target_version: Annotated[int, Field(ge=1)]
    target_digest: Sha256Hex
    operations: Annotated[tuple[Operation, ...], Field(min_length=1)]
    rationale: str
    cluster_ids: tuple[uuid.UUID, ...] = ()
    finding_ids: tuple[uuid.UUID, ...] = ()
    incident_ids: tuple[uuid.UUID, ...] = ()
    regression: RegressionEvidence | None = None
    expires: Timestamp | None = None

    @classmethod
    def from_event(cls, event: PatchProposed) -> Patch:
        """The patch a ``PatchProposed`` carries; PatchApplyError if its operations are invalid."""
        fields = event.model_dump(exclude={"envelope", "operations"})
        return cls.model_validate(
            {**fields, "operations": parse_operations(json.loads(event.operations))}
        )

    def to_event(self, producer: str) -> PatchProposed:
        """The ``PatchProposed`` event of this patch, keyed by patch id."""
        fields = self.model_dump(exclude={"operations"})
        operations = rfc8785.dumps(operations_json(self.operations)).decode()
        return PatchProposed(
            envelope=new_envelope(producer, str(self.patch_id)), operations=operations, **fields
        )


def patch_body(patch: Patch) -> bytes:
    """The signed bytes: RFC 8785 canonical JSON of the patch."""
    document: dict[str, Any] = patch.model_dump(mode="json")
    return rfc8785.dumps(document)


def propose_patch(
    base: OracleArtifact,
    operations: Sequence[Operation],
    *,
    author: str,
    rationale: str,
    cluster_ids: Iterable[uuid.UUID] = (),
    finding_ids: Iterable[uuid.UUID] = (),
    incident_ids: Iterable[uuid.UUID] = (),
    regression: RegressionEvidence | None = None,
    expires: datetime | None = None,
    patch_id: uuid.UUID | None = None,
) -> tuple[Patch, OracleArtifact]:
    """A patch from ``base`` to the next version, and the artifact it produces."""
    target = _compiled(apply_operations(base.spec, operations, base.version + 1))
    patch = Patch(
        patch_id=patch_id or uuid.uuid4(),
        author=author,
        base_version=base.version,
        base_digest=base.digest,
        target_version=target.version,
        target_digest=target.digest,
        operations=tuple(operations),
        rationale=rationale,
        cluster_ids=tuple(cluster_ids),
        finding_ids=tuple(finding_ids),
        incident_ids=tuple(incident_ids),
        regression=regression,
        expires=expires,
    )
    return patch, target


def apply_patch(artifact: OracleArtifact, patch: Patch) -> OracleArtifact:
    """The target artifact of ``patch`` applied to ``artifact``; PatchApplyError otherwise."""
    if patch.base_digest != artifact.digest or patch.base_version != artifact.version:
        raise PatchApplyError(
            f"patch {patch.patch_id} applies to v{patch.base_version} "
            f"({patch.base_digest[:12]}), not to v{artifact.version} ({artifact.digest[:12]})"
        )
    target = _compiled(apply_operations(artifact.spec, patch.operations, patch.target_version))
    if target.digest != patch.target_digest:
        raise PatchApplyError(
            f"patch {patch.patch_id} produces {target.digest[:12]}, "
            f"not its declared target {patch.target_digest[:12]}"
        )
    return target


def _compiled(spec: Any) -> OracleArtifact:
    try:
        return build_artifact(spec)
    except PolicyDocumentError as exc:
        raise PatchApplyError(
            f"the patched artifact is invalid: {'; '.join(exc.problems)}"
        ) from None
