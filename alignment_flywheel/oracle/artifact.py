"""The oracle artifact: rules, thresholds, metadata and version, as data with a canonical digest.

An artifact is a YAML (or JSON) document::

    name: default
    version: 3
    description: ...
    thresholds: {base_score: 1.0, base_uncertainty: 0.02, rule_error_uncertainty: 0.5}
    tiers: {critical: {block_below: 0.8}}  # optional: thresholds over the risk policy's tiers
    tools: ["shell.*", {name: email.send, effect: side_effect, arguments: {to: recipient}}]
                                         # optional catalog; absent means any tool is known
    data: {known_recipients: [alice@example.com]}  # optional named sets rules read as `data`
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
* ``data`` (named sets, :mod:`~alignment_flywheel.oracle.data`) and the catalog's entries
  (:mod:`~alignment_flywheel.oracle.catalog`) are stored canonical, and ``data`` is left out of the
  canonical JSON when empty: artifacts that use neither keep the digest they had before both
  existed.
* A rule that names a set the artifact does not hold (``data.x``, ``data["x"]``) is a load error
  listing the sets there are. Each tool's rules get, once per tool and not per proposal, the
  artifact variables they reference (:meth:`OracleArtifact.variables_for`): only the sets they
  name, the tool's ``effect`` and ``roles``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import rfc8785
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    model_serializer,
)

from alignment_flywheel.errors import PolicyDocumentError
from alignment_flywheel.events import Severity
from alignment_flywheel.oracle.catalog import (
    CatalogItem,
    ToolCatalog,
    ToolGlob,
    canonical_catalog,
)
from alignment_flywheel.oracle.contract import Amendment
from alignment_flywheel.oracle.data import DataSets, cel_data
from alignment_flywheel.oracle.expressions import (
    ARTIFACT_VARIABLES,
    Expression,
    compile_expression,
    data_references,
)

RULE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
Unit = Annotated[float, Field(ge=0.0, le=1.0)]


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
    tools: Annotated[tuple[CatalogItem, ...] | None, AfterValidator(canonical_catalog)] = None
    rules: tuple[RuleSpec, ...] = ()
    data: DataSets = Field(default_factory=dict)

    @model_serializer(mode="wrap")
    def _without_empty_data(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        document: dict[str, Any] = handler(self)
        if not document.get("data"):
            document.pop("data", None)
        return document


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready to evaluate: its spec, its program and its amendment object."""

    spec: RuleSpec
    expression: Expression
    amendment: Amendment | None
    data_sets: frozenset[str] | None = frozenset()
    """The named sets the rule reads; None when it may read any."""
    reads_artifact: bool = False
    """Whether the rule reads artifact variables (``data``, ``effect``, ``roles``)."""


@dataclass(frozen=True, slots=True)
class OracleArtifact:
    """A validated artifact, its digest and its compiled rules (in document order)."""

    spec: ArtifactSpec
    digest: str
    rules: tuple[CompiledRule, ...]
    catalog: ToolCatalog

    @property
    def version(self) -> int:
        return self.spec.version

    def variables_for(self, tool: str, rules: Iterable[CompiledRule]) -> dict[str, Any]:
        """The artifact variables (``data``, ``effect``, ``roles``) these rules of ``tool`` read."""
        rules = tuple(rules)
        wanted = frozenset().union(*(r.expression.variables for r in rules)) & ARTIFACT_VARIABLES
        values: dict[str, Any] = {}
        if "data" in wanted:
            values["data"] = cel_data(self.spec.data, _sets_read(rules))
        if wanted & {"effect", "roles"}:
            described = self.catalog.describe(tool).variables()
            values.update((k, v) for k, v in described.items() if k in wanted)
        return values

    def canonical_json(self) -> bytes:
        return canonical_json(self.spec)


def _sets_read(rules: Iterable[CompiledRule]) -> frozenset[str] | None:
    names: set[str] = set()
    for rule in rules:
        if "data" in rule.expression.variables:
            if rule.data_sets is None:
                return None
            names |= rule.data_sets
    return frozenset(names)


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
        sets = data_references(rule.when) if "data" in expression.variables else frozenset()
        problems += _unknown_sets(rule.id, sets, spec.data)
        reads = bool(expression.variables & ARTIFACT_VARIABLES)
        compiled.append(CompiledRule(rule, expression, amendment, sets, reads))
    if problems:
        raise PolicyDocumentError(source, problems)
    catalog = ToolCatalog(spec.tools)
    return OracleArtifact(spec, artifact_digest(spec), tuple(compiled), catalog)


def _unknown_sets(
    rule_id: str, sets: frozenset[str] | None, data: Mapping[str, object]
) -> list[str]:
    unknown = sorted((sets or frozenset()) - data.keys())
    if not unknown:
        return []
    known = ", ".join(sorted(data)) or "none (the artifact has no data)"
    return [f"rule {rule_id}: unknown data set(s) {', '.join(unknown)}; known: {known}"]


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
    if len(loc) >= 2 and loc[0] in ("rules", "tiers", "tools") and isinstance(loc[1], int):
        items = document.get(str(loc[0]))
        item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
        name = item.get("id", item.get("name")) if isinstance(item, Mapping) else None
        label = f"{str(loc[0])[:-1]} {name if name is not None else f'#{loc[1] + 1}'}"
        rest = ".".join(str(p) for p in loc[2:])
        return f"{label}: {rest}" if rest else label
    return ".".join(str(p) for p in loc) or "document"
