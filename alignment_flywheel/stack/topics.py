"""Apply the topic catalog to a cluster, or check the cluster against it.

Rules:

* A topic's replication factor and ``min.insync.replicas`` are the catalog's, else the cluster's
  default from the settings' :class:`~alignment_flywheel.kafka.replication.ReplicationPolicy`
  (see :mod:`~alignment_flywheel.stack.topic_state`).
* :func:`apply_catalog` creates missing topics (with their config and ``min.insync.replicas``),
  sets config values that differ (incremental alter, SET only), adds partitions when the catalog
  has more, and, given a reassigner (:mod:`~alignment_flywheel.stack.reassign`), raises or lowers
  a replication factor by moving replicas. It never deletes a topic or shrinks partitions, nor
  asks for more replicas than the cluster has brokers: those differences are returned as drift.
  It returns once the cluster reports what it created, set and moved. Applying twice changes
  nothing the second time.
* :func:`check_catalog` changes nothing and lists every difference: missing topic, partition
  count, replication factor, config value (``min.insync.replicas`` among them), and the topics'
  offline and under-replicated partitions.
* The functions take a :class:`Catalog`, so callers (and tests) can apply any set of topics.
* A broker that refuses a setting raises :class:`CatalogError`; an unreachable or failing cluster
  raises :class:`KafkaTransportError`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.admin._resource import ResourceType
from confluent_kafka.cimpl import NewPartitions, NewTopic

from alignment_flywheel.errors import KafkaTransportError
from alignment_flywheel.kafka.catalog import (
    DEFAULT_CATALOG,
    Catalog,
    TopicKind,
    TopicSpec,
    load_catalog,
    parse_catalog,
)
from alignment_flywheel.kafka.clients import wait_for_topics
from alignment_flywheel.kafka.replication import ReplicationPolicy, reassigned
from alignment_flywheel.stack.reassign import Reassigner
from alignment_flywheel.stack.topic_state import (
    ADMIN_TIMEOUT_S,
    Drift,
    ObservedTopic,
    WantedTopic,
    admin_results,
    describe_configs,
    diff_topic,
    health_drift,
    observe,
    same_value,
    wanted_topics,
)

__all__ = [
    "DEFAULT_CATALOG",
    "ApplyReport",
    "Catalog",
    "Change",
    "Drift",
    "ObservedTopic",
    "ReplicationPolicy",
    "TopicKind",
    "TopicSpec",
    "apply_catalog",
    "check_catalog",
    "create_topic",
    "diff_topic",
    "load_catalog",
    "observe",
    "parse_catalog",
    "wait_for_topics",
]

ACTIONS = ("created", "altered", "partitions", "replication")


@dataclass(frozen=True)
class Change:
    """One change :func:`apply_catalog` made."""

    topic: str
    action: str  # one of ACTIONS
    detail: str


@dataclass
class ApplyReport:
    changes: list[Change] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)  # differences apply does not fix
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def summary(self) -> str:
        counts = {action: 0 for action in ACTIONS}
        for change in self.changes:
            counts[change.action] += 1
        text = (
            f"{counts['created']} created, {counts['altered']} reconfigured, "
            f"{counts['partitions']} with partitions added, "
            + (f"{counts['replication']} re-replicated, " if counts["replication"] else "")
            + f"{len(self.unchanged)} unchanged"
        )
        return text + (f"; {len(self.drift)} differences left (see check)" if self.drift else "")


@dataclass
class _Plan:
    missing: list[WantedTopic] = field(default_factory=list)
    alter: dict[str, list[Drift]] = field(default_factory=dict)
    grow: dict[str, int] = field(default_factory=dict)
    replicate: dict[str, int] = field(default_factory=dict)


def check_catalog(
    admin: AdminClient, catalog: Catalog, policy: ReplicationPolicy | None = None
) -> list[Drift]:
    """Every difference between the catalog and the cluster, and the catalog topics' offline and
    under-replicated partitions; changes nothing."""
    view = observe(admin, catalog.names)
    drift = []
    for wanted in wanted_topics(catalog, policy or ReplicationPolicy(), view):
        observed = view.topics.get(wanted.name)
        drift += diff_topic(wanted, observed, len(view.brokers))
        drift += health_drift(observed) if observed is not None else []
    return drift


def apply_catalog(
    admin: AdminClient,
    catalog: Catalog,
    timeout: float = ADMIN_TIMEOUT_S,
    *,
    policy: ReplicationPolicy | None = None,
    reassign: Reassigner | None = None,
) -> ApplyReport:
    """Create, reconfigure, grow and (with ``reassign``) re-replicate topics to match the catalog;
    report what cannot be fixed."""
    view = observe(admin, catalog.names)
    report = ApplyReport()
    plan = _Plan()
    for wanted in wanted_topics(catalog, policy or ReplicationPolicy(), view):
        drift = diff_topic(wanted, view.topics.get(wanted.name), len(view.brokers))
        if not drift:
            report.unchanged.append(wanted.name)
        for item in drift:
            if not item.fixable or (item.aspect == "replication" and reassign is None):
                report.drift.append(item)
            else:
                _plan_fix(plan, wanted, item)
    report.changes += _create(admin, plan.missing, timeout)
    report.changes += _alter(admin, plan.alter, timeout)
    report.changes += _grow(admin, plan.grow, timeout)
    if plan.missing or plan.grow:
        expected = {w.name: w.spec.partitions for w in plan.missing} | plan.grow
        wait_for_topics(admin, expected, timeout, partitions=expected)
    if reassign is not None and plan.replicate:
        report.changes += _replicate(admin, plan.replicate, reassign, timeout)
    return report


def _plan_fix(plan: _Plan, wanted: WantedTopic, item: Drift) -> None:
    if item.aspect == "missing":
        plan.missing.append(wanted)
    elif item.aspect == "partitions":
        plan.grow[wanted.name] = wanted.spec.partitions
    elif item.aspect == "replication":
        plan.replicate[wanted.name] = wanted.replication.factor
    else:
        plan.alter.setdefault(wanted.name, []).append(item)


def _replicate(
    admin: AdminClient, factors: dict[str, int], reassign: Reassigner, timeout: float
) -> list[Change]:
    """Move replicas so each topic has its wanted factor (observed again: partitions this apply
    added have the topic's old factor too)."""
    view = observe(admin, factors)
    targets = {
        name: reassigned(view.topics[name].replicas, view.brokers, factor)
        for name, factor in factors.items()
    }
    reassign(targets, timeout)
    return [
        Change(name, "replication", f"{view.topics[name].replication_factor} → {factor} replicas")
        for name, factor in factors.items()
    ]


def create_topic(
    admin: AdminClient,
    name: str,
    *,
    partitions: int = 1,
    config: Mapping[str, str] | None = None,
    replication_factor: int = -1,
    timeout: float = ADMIN_TIMEOUT_S,
) -> str:
    """Create one topic (``-1``: the broker's default replication) and wait until it is usable."""
    topic = NewTopic(
        name,
        num_partitions=partitions,
        replication_factor=replication_factor,
        config=dict(config or {}),
    )
    admin_results(
        admin.create_topics([topic], operation_timeout=timeout), "creating topic", timeout
    )
    wait_for_topics(admin, [name], timeout, partitions={name: partitions})
    return name


def _create(admin: AdminClient, wanted: list[WantedTopic], timeout: float) -> list[Change]:
    if not wanted:
        return []
    new = [
        NewTopic(
            topic.name,
            num_partitions=topic.spec.partitions,
            replication_factor=topic.replication.factor,
            config=topic.config,
        )
        for topic in wanted
    ]
    futures = admin.create_topics(new, operation_timeout=timeout)
    admin_results(futures, "creating topic", timeout)
    return [
        Change(
            t.name,
            "created",
            f"{t.spec.partitions} partitions, {t.replication.factor} replicas, {t.spec.kind}",
        )
        for t in wanted
    ]


def _alter(admin: AdminClient, drifts: dict[str, list[Drift]], timeout: float) -> list[Change]:
    if not drifts:
        return []
    resources = [
        ConfigResource(
            ResourceType.TOPIC,
            topic,
            incremental_configs=[
                ConfigEntry(
                    d.aspect.removeprefix("config "),
                    d.expected,
                    incremental_operation=AlterConfigOpType.SET,
                )
                for d in items
            ],
        )
        for topic, items in drifts.items()
    ]
    futures = admin.incremental_alter_configs(resources, request_timeout=timeout)
    admin_results({r.name: f for r, f in futures.items()}, "setting the config of topic", timeout)
    _wait_for_configs(admin, drifts, timeout)
    return [
        Change(
            topic, "altered", ", ".join(f"{d.aspect[7:]}: {d.actual} → {d.expected}" for d in items)
        )
        for topic, items in drifts.items()
    ]


def _wait_for_configs(admin: AdminClient, drifts: dict[str, list[Drift]], timeout: float) -> None:
    """Until the cluster reports every value just set (a broker's metadata may lag the
    controller's), so a check right after apply sees them."""
    deadline = time.monotonic() + timeout
    while True:
        configs = describe_configs(admin, list(drifts))
        pending = [
            f"{topic} {d.aspect}"
            for topic, items in drifts.items()
            for d in items
            if not same_value(d.expected, configs[topic].get(d.aspect.removeprefix("config "), ""))
        ]
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise KafkaTransportError(f"config not visible within {timeout:g} s: {pending[0]}")
        time.sleep(0.1)


def _grow(admin: AdminClient, counts: dict[str, int], timeout: float) -> list[Change]:
    if not counts:
        return []
    new = [NewPartitions(topic, count) for topic, count in counts.items()]
    futures = admin.create_partitions(new, operation_timeout=timeout)
    admin_results(futures, "adding partitions to", timeout)
    return [Change(topic, "partitions", f"now {count}") for topic, count in counts.items()]
