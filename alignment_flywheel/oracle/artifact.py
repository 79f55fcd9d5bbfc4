"""The oracle artifact: rules, thresholds, metadata and version, as data with a canonical digest.

An artifact is a YAML (or JSON) document::

    name: default
    version: 3
    description: ...
    thresholds: {base_score: 1.0, base_uncertainty: 0.02, rule_error_uncertainty: 0.5}
    tiers: {critical: {block_below: 0.8}}  # optional: thresholds over the risk policy's tiers
    tools: ["shell.*", "sql.query"]      # optional catalog; absent means any tool is known
    rules:
      - id: shell.recursive-delete
        tools: ["shell.exec"]             # glob patterns; default ["*"]
        when: 'args.cmd.matches("rm\\s+-[a-z]*r")'
        score: 0.02                       # the safety score this rule gives when it matches
        uncertainty: 0.0
        severity: CRITICAL
        message: recursive delete
        norms: [N-OPS-1]
        review: false                     # true: a match demands human review
        amendment: {set_arguments: {dry_run: true}, remove_arguments: [], constraints: []}

Rules of this module:

* Loading validates the whole document and reports every problem at once
  (:class:`~alignment_flywheel.errors.PolicyDocumentError`): each bad rule by id, with CEL's
  compile error; duplicate rule ids; values out of range.
* The digest is the SHA-256 of the RFC 8785 canonical JSON of the validated document with its
  defaults filled in: two files that mean the same artifact have the same digest, and the digest
  changes with any change of meaning. Formatting, comments and key order do not count.
* The artifact is immutable; a patch (issue 4) produces a new artifact from a new spec.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import rfc8785
import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from alignment_flywheel.errors import PolicyDocumentError
from alignment_flywheel.events import Severity
from alignment_flywheel.oracle.contract import Amendment
from alignment_flywheel.oracle.expressions import Expression, compile_expression

RULE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
ToolGlob = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.*?\[\]-]{1,200}$")]


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AmendmentSpec(Spec):
    set_arguments: dict[str, Any] = Field(default_factory=dict)
    remove_arguments: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()

    def to_amendment(self) -> Amendment:
        return Amendment(
            set_arguments=dict(self.set_arguments),
            remove_arguments=self.remove_arguments,
            constraints=self.constraints,
        )


class RuleSpec(Spec):
    id: Annotated[str, StringConstraints(pattern=RULE_ID)]
    tools: tuple[ToolGlob, ...] = ("*",)
    when: str
    score: Unit
    uncertainty: Unit = 0.0
    severity: Severity = Severity.MEDIUM
    message: Annotated[str, StringConstraints(min_length=1)]
    norms: tuple[str, ...] = ()
    review: bool = False
    amendment: AmendmentSpec | None = None


class Thresholds(Spec):
    base_score: Unit = 1.0
    """The score of a proposal no rule matched."""
    base_uncertainty: Unit = 0.0
    """The uncertainty of every signal before rules add to it."""
    rule_error_uncertainty: Unit = 0.5
    """What each rule that failed on the input adds to the uncertainty (noisy-or)."""


class TierOverride(Spec):
    """Thresholds this artifact sets for one risk-policy tier, over the policy's own."""

    block_below: Unit | None = None
    escalate_uncertainty: Unit | None = None
    revise_budget: Annotated[int, Field(ge=0, le=100)] | None = None


class ArtifactSpec(Spec):
    name: Annotated[str, StringConstraints(min_length=1)]
    version: Annotated[int, Field(ge=0, le=2**63 - 1)]
    description: str = ""
    thresholds: Thresholds = Thresholds()
    tiers: dict[str, TierOverride] = Field(default_factory=dict)
    tools: tuple[ToolGlob, ...] | None = None
    rules: tuple[RuleSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready to evaluate: its spec, its program and its amendment object."""

    spec: RuleSpec
    expression: Expression
    amendment: Amendment | None


@dataclass(frozen=True, slots=True)
class OracleArtifact:
    """A validated artifact, its digest and its compiled rules (in document order)."""

    spec: ArtifactSpec
    digest: str
    rules: tuple[CompiledRule, ...]

    @property
    def version(self) -> int:
        return self.spec.version

    def canonical_json(self) -> bytes:
        return canonical_json(self.spec)


def canonical_json(spec: ArtifactSpec) -> bytes:
    """RFC 8785 canonical JSON of the spec, defaults included."""
    return rfc8785.dumps(spec.model_dump(mode="json"))


def artifact_digest(spec: ArtifactSpec) -> str:
    return hashlib.sha256(canonical_json(spec)).hexdigest()


def build_artifact(
    document: Mapping[str, Any] | ArtifactSpec, source: str = "artifact"
) -> OracleArtifact:
    """Validate and compile an artifact; PolicyDocumentError lists every problem."""
    spec = document if isinstance(document, ArtifactSpec) else _validate(document, source)
    problems: list[str] = []
    seen: set[str] = set()
    compiled: list[CompiledRule] = []
    for rule in spec.rules:
        if rule.id in seen:
            problems.append(f"rule {rule.id}: duplicate id")
        seen.add(rule.id)
        try:
            expression = compile_expression(rule.when)
        except ValueError as exc:
            problems.append(f"rule {rule.id}: when: {exc}")
            continue
        amendment = None if rule.amendment is None else rule.amendment.to_amendment()
        compiled.append(CompiledRule(rule, expression, amendment))
    if problems:
        raise PolicyDocumentError(source, problems)
    return OracleArtifact(spec, artifact_digest(spec), tuple(compiled))


def load_artifact(path: Path) -> OracleArtifact:
    """Read, validate and compile the artifact at ``path`` (YAML or JSON)."""
    return build_artifact(read_document(path), str(path))


def read_document(path: Path) -> Mapping[str, Any]:
    """A YAML/JSON mapping from a file; PolicyDocumentError when it is not one."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyDocumentError(str(path), [f"cannot read: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise PolicyDocumentError(str(path), [f"not valid YAML: {exc}"]) from None
    if not isinstance(document, Mapping):
        raise PolicyDocumentError(str(path), ["must be a mapping at the top level"])
    return document


def _validate(document: Mapping[str, Any], source: str) -> ArtifactSpec:
    try:
        return ArtifactSpec.model_validate(document)
    except ValidationError as exc:
        raise PolicyDocumentError(source, validation_problems(exc, document)) from None


def validation_problems(exc: ValidationError, document: Mapping[str, Any]) -> list[str]:
    """One line per pydantic error, naming rules (and tiers) by id rather than by index."""
    return [f"{_where(err['loc'], document)}: {err['msg']}" for err in exc.errors()]


def _where(loc: tuple[int | str, ...], document: Mapping[str, Any]) -> str:
    if len(loc) >= 2 and loc[0] in ("rules", "tiers") and isinstance(loc[1], int):
        items = document.get(str(loc[0]))
        item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
        name = item.get("id", item.get("name")) if isinstance(item, Mapping) else None
        label = f"{str(loc[0])[:-1]} {name if name is not None else f'#{loc[1] + 1}'}"
        rest = ".".join(str(p) for p in loc[2:])
        return f"{label}: {rest}" if rest else label
    return ".".join(str(p) for p in loc) or "document"


def tool_matcher(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One regular expression matching any of the tool globs (fnmatch syntax, case-sensitive)."""
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
