"""The role registry: every principal of the platform, what it reads and writes, how it runs.

Rules:

* A role has one name, one word, used everywhere: the catalog role (``infra/topics.yaml``, its
  Kafka principal), the CLI command group (``flywheel <name> run``), the fleet's worker and log
  name. The registry holds exactly the roles of the catalog.
* What a role reads and writes is given as event types; the topics (and their partition counts)
  come from the topic catalog, which routes each event type to one topic (:func:`topic_for`). Topic
  names appear nowhere else in the code.
* The consumer group of a role is its catalog ``app_id``; a role without one (the SDK, the HTTP
  service, people, the ledger, which assigns its partitions itself) has none.
* A role that runs as a worker is run by ``flywheel <name> run`` (``command``, the module
  ``alignment_flywheel.cli.<name>``) and names how it is built (``builder``, a
  ``module:attribute`` path, so the registry imports no edge); ``scaling`` says how many workers
  of it may run: up to the partitions of the topic of ``scales_with`` (they share the
  consumer group), any number, or one.
* A worker's topics are a :class:`RoleTopics`: each topic its role reads or writes, by its short
  name (the catalog name without ``flywheel.``), the catalog's unless overridden (the CLI's
  ``--<short>-topic`` options); an override names a topic of the role, or it is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from alignment_flywheel.errors import CatalogError
from alignment_flywheel.kafka.catalog import catalog, partitions_for, topic_for

__all__ = [
    "ROLES",
    "Role",
    "RoleTopics",
    "Scaling",
    "catalog",
    "group_for",
    "partitions_for",
    "role",
    "topic_for",
    "workers",
]

PROPOSALS = ("ProposalSubmitted", "SessionStarted", "ToolResultObserved")
REVIEWS = ("ReviewRequested", "ReviewDecided")
PATCHES = ("PatchProposed", "PatchApproved", "PatchRejected")
RELEASES = ("ReleaseStaged", "ReleasePromoted", "ReleaseRolledBack")
ORACLE = (*PATCHES, *RELEASES)
"""What a release follower reads to know the oracle in force."""
DEAD = ("DeadLettered",)
ANALYSED = (
    *PROPOSALS,
    "VerdictIssued",
    *REVIEWS,
    "IncidentReported",
    "FindingRaised",
    "VerificationRecorded",
    "DriftDetected",
    *PATCHES,
    "LedgerCheckpoint",
    *RELEASES,
    "ClusterUpdated",
)
"""What the ClickHouse sink copies and an operator reads."""


class Scaling(StrEnum):
    PARTITIONED = "partitioned"
    """Up to the partition count of its input; the workers share the consumer group."""
    ANY = "any"
    """Any number of workers; what they write twice counts once."""
    SINGLE = "single"
    """One per deployment: its state spans every partition."""
    IN_PROCESS = "in process"
    """Not a worker: a library, a service or a person."""


@dataclass(frozen=True)
class Role:
    """One principal of the platform."""

    name: str
    summary: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    scaling: Scaling = Scaling.IN_PROCESS
    builder: str | None = None
    scales_with: str | None = None

    @property
    def command(self) -> tuple[str, ...]:
        """Its worker's command line after ``flywheel``; empty if it runs no worker."""
        return (self.name, "run") if self.builder else ()

    @property
    def group(self) -> str | None:
        """The consumer group (faust app id) of its workers, from the catalog."""
        return catalog().roles[self.name].app_id

    @property
    def topics_read(self) -> tuple[str, ...]:
        return _topics(self.reads)

    @property
    def topics_written(self) -> tuple[str, ...]:
        return _topics(self.writes)

    @property
    def instances(self) -> str:
        """How many workers may run, in words."""
        if self.scaling is Scaling.PARTITIONED and self.scales_with is not None:
            return f"up to {partitions_for(self.scales_with)}"
        return {Scaling.ANY: "any number", Scaling.SINGLE: "one"}.get(self.scaling, "—")


ROLES: dict[str, Role] = {
    r.name: r
    for r in (
        Role(
            "proposer",
            "the SDK guard in an agent's process; decides in process",
            reads=(*REVIEWS, *ORACLE),
            writes=(*PROPOSALS, "VerdictIssued", *REVIEWS, "IncidentReported"),
        ),
        Role(
            "serve",
            "HTTP ingest and the review console",
            reads=("VerdictIssued", *REVIEWS, *ORACLE),
            writes=(*PROPOSALS, "VerdictIssued", *REVIEWS, "IncidentReported", *ORACLE),
        ),
        Role(
            "gate",
            "decides proposals not decided in process",
            reads=(*PROPOSALS, *ORACLE),
            writes=("VerdictIssued", "ReviewRequested", *DEAD),
            scaling=Scaling.PARTITIONED,
            scales_with="ProposalSubmitted",
            builder="alignment_flywheel.processors.gate:build_gate",
        ),
        Role(
            "intake",
            "incidents into findings",
            reads=("IncidentReported", *ORACLE),
            writes=("FindingRaised", *DEAD),
            scaling=Scaling.PARTITIONED,
            scales_with="IncidentReported",
            builder="alignment_flywheel.processors.intake:build_intake",
        ),
        Role(
            "verify",
            "findings checked against the norms",
            reads=("FindingRaised", *REVIEWS),
            writes=("VerificationRecorded", "ReviewRequested", *DEAD),
            scaling=Scaling.PARTITIONED,
            scales_with="FindingRaised",
            builder="alignment_flywheel.processors.verification:build_verification",
        ),
        Role(
            "triage",
            "confirmed violations into clusters",
            reads=("FindingRaised", "VerificationRecorded"),
            writes=("ClusterUpdated", *DEAD),
            scaling=Scaling.SINGLE,
            builder="alignment_flywheel.processors.triage:build_triage",
        ),
        Role(
            "refine",
            "the smallest patch per cluster",
            reads=(
                *PROPOSALS,
                "VerdictIssued",
                *REVIEWS,
                "FindingRaised",
                "ClusterUpdated",
                *ORACLE,
            ),
            writes=("PatchProposed", "PatchApproved", *DEAD),
            scaling=Scaling.SINGLE,
            builder="alignment_flywheel.processors.refinement:build_refinement",
        ),
        Role(
            "autoapprove",
            "the demo and CI approver",
            reads=("PatchProposed",),
            writes=("PatchApproved", *DEAD),
            scaling=Scaling.ANY,
            builder="alignment_flywheel.processors.autoapprove:AutoApproval",
        ),
        Role(
            "release",
            "the release controller: stages, promotes, rolls back",
            reads=("VerdictIssued", *REVIEWS, *ORACLE),
            writes=(*RELEASES, "PatchRejected", *DEAD),
            scaling=Scaling.SINGLE,
            builder="alignment_flywheel.processors.release:build_controller",
        ),
        Role(
            "drift",
            "change and novelty detectors",
            reads=("ProposalSubmitted", "VerdictIssued"),
            writes=("DriftDetected", "FindingRaised", *DEAD),
            scaling=Scaling.SINGLE,
            builder="alignment_flywheel.processors.drift:build_drift",
        ),
        Role(
            "redteam",
            "variants of known failures",
            reads=(
                "FindingRaised",
                "VerificationRecorded",
                "ProposalSubmitted",
                "VerdictIssued",
                *ORACLE,
            ),
            writes=("FindingRaised", *DEAD),
            scaling=Scaling.PARTITIONED,
            scales_with="ProposalSubmitted",
            builder="alignment_flywheel.processors.redteam:build_redteam",
        ),
        Role(
            "ledger",
            "signed Merkle checkpoints of the audited topics",
            reads=(
                "VerdictIssued",
                *PATCHES,
                *RELEASES,
                *REVIEWS,
                "IncidentReported",
                "LedgerCheckpoint",
            ),
            writes=("LedgerCheckpoint",),
            scaling=Scaling.SINGLE,
            builder="alignment_flywheel.processors.ledger:LedgerWorker",
        ),
        Role(
            "sink",
            "the topics into ClickHouse",
            reads=ANALYSED,
            writes=DEAD,
            scaling=Scaling.SINGLE,
            builder="alignment_flywheel.connectors.clickhouse.sink:ClickHouseSink",
        ),
        Role(
            "operator",
            "people: review, patch, release, trust, incident, audit, replay",
            reads=(*ANALYSED, "TrustRootPublished", *DEAD),
            writes=(*REVIEWS, "IncidentReported", *ORACLE, "TrustRootPublished"),
        ),
    )
}
"""Every role, in the order of the flow."""


def role(name: str) -> Role:
    try:
        return ROLES[name]
    except KeyError:
        raise CatalogError(f"no role named {name} (roles: {', '.join(ROLES)})") from None


def group_for(name: str) -> str:
    """The consumer group of the role ``name``; CatalogError if it has none."""
    found = role(name).group
    if found is None:
        raise CatalogError(f"role {name} has no consumer group")
    return found


def transactional_prefix_for(name: str) -> str:
    """The prefix of the transactional ids the role ``name`` may use (its catalog entry's first
    ``transactional_ids``); CatalogError if it may use none."""
    prefixes = catalog().roles[role(name).name].transactional_ids
    if not prefixes:
        raise CatalogError(f"role {name} may use no transactional id")
    return prefixes[0]


def workers() -> tuple[Role, ...]:
    """The roles that run as workers (``flywheel <command>``)."""
    return tuple(r for r in ROLES.values() if r.command)


def _topics(event_types: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(topic_for(event) for event in event_types))


TOPIC_PREFIX = "flywheel."


def short_name(topic: str) -> str:
    """A catalog topic's name without the common prefix (``flywheel.findings`` → ``findings``)."""
    return topic.removeprefix(TOPIC_PREFIX)


@dataclass(frozen=True)
class RoleTopics:
    """The topics of a role's worker: the catalog's routes, some overridden by short name."""

    role: str
    overrides: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.overrides) - set(self.by_short_name()))
        if unknown:
            raise CatalogError(
                f"role {self.role} reads or writes no topic {', '.join(unknown)} "
                f"(its topics: {', '.join(self.by_short_name())})"
            )

    def by_short_name(self) -> dict[str, str]:
        """Every topic the role reads or writes (reads first), by short name."""
        found = role(self.role)
        routed = dict.fromkeys((*found.topics_read, *found.topics_written))
        return {short_name(t): self.overrides.get(short_name(t), t) for t in routed}

    def of(self, event_type: str) -> str:
        """The topic this worker uses for ``event_type``."""
        routed = topic_for(event_type)
        return self.overrides.get(short_name(routed), routed)
