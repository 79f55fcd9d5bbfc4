"""Apply the topic catalog to a cluster, or check the cluster against it.

Rules:

* :func:`apply_catalog` creates missing topics (with their config), sets config values that differ
  (incremental alter, SET only) and adds partitions when the catalog has more. It never deletes a
  topic, shrinks partitions or changes a replication factor: those differences are returned as
  drift. Applying twice changes nothing the second time.
* :func:`check_catalog` changes nothing and lists every difference: missing topic, partition
  count, replication factor, config value.
* Only the config keys the catalog sets are compared; numbers compare numerically.
* The functions take a :class:`Catalog`, so callers (and tests) can apply any set of topics.
* A broker that refuses a setting raises :class:`CatalogError`; an unreachable or failing cluster
  raises :class:`KafkaTransportError`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.admin._resource import ResourceType
from confluent_kafka.cimpl import NewPartitions, NewTopic

from alignment_flywheel.errors import CatalogError, KafkaTransportError
from alignment_flywheel.kafka.catalog import (
    DEFAULT_CATALOG,
    Catalog,
    TopicKind,
    TopicSpec,
    load_catalog,
    parse_catalog,
)
from alignment_flywheel.kafka.clients import list_metadata

__all__ = [
    "DEFAULT_CATALOG",
    "ApplyReport",
    "Catalog",
    "Change",
    "Drift",
    "ObservedTopic",
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

ADMIN_TIMEOUT_S = 30.0
_REJECTED = {
    KafkaError.INVALID_CONFIG,
    KafkaError.INVALID_PARTITIONS,
    KafkaError.INVALID_REPLICATION_FACTOR,
    KafkaError.POLICY_VIOLATION,
    KafkaError.TOPIC_EXCEPTION,
}
K = TypeVar("K")


@dataclass(frozen=True)
class ObservedTopic:
    """A topic as the cluster reports it."""

    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]


@dataclass(frozen=True)
class Drift:
    """One difference between the catalog and the cluster."""

    topic: str
    aspect: str  # "missing", "partitions", "replication" or "config <key>"
    expected: str
    actual: str | None
    fixable: bool

    def __str__(self) -> str:
        if self.aspect == "missing":
            return f"{self.topic}: missing"
        return f"{self.topic}: {self.aspect} is {self.actual}, the catalog says {self.expected}"


@dataclass(frozen=True)
class Change:
    """One change :func:`apply_catalog` made."""

    topic: str
    action: str  # "created", "altered" or "partitions"
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
        counts = {action: 0 for action in ("created", "altered", "partitions")}
        for change in self.changes:
            counts[change.action] += 1
        text = (
            f"{counts['created']} created, {counts['altered']} reconfigured, "
            f"{counts['partitions']} with partitions added, {len(self.unchanged)} unchanged"
        )
        return text + (f"; {len(self.drift)} differences left (see check)" if self.drift else "")


def observe(admin: AdminClient, names: Iterable[str]) -> dict[str, ObservedTopic]:
    """Partitions, replication factor and config of each named topic that exists."""
    metadata = list_metadata(admin)
    present = [name for name in names if name in metadata.topics]
    configs = _describe_configs(admin, present)
    observed = {}
    for name in present:
        partitions = metadata.topics[name].partitions
        first = partitions.get(0)
        observed[name] = ObservedTopic(
            name=name,
            partitions=len(partitions),
            replication_factor=len(first.replicas) if first is not None else 0,
            config=configs[name],
        )
    return observed


def diff_topic(spec: TopicSpec, replication: int, observed: ObservedTopic | None) -> list[Drift]:
    """Every difference between one catalog entry and what the cluster has."""
    if observed is None:
        return [Drift(spec.name, "missing", "present", None, fixable=True)]
    drift = []
    if observed.partitions != spec.partitions:
        drift.append(
            Drift(
                spec.name,
                "partitions",
                str(spec.partitions),
                str(observed.partitions),
                fixable=spec.partitions > observed.partitions,
            )
        )
    if observed.replication_factor != replication:
        drift.append(
            Drift(
                spec.name,
                "replication",
                str(replication),
                str(observed.replication_factor),
                fixable=False,
            )
        )
    for key, wanted in spec.config.items():
        actual = observed.config.get(key)
        if actual is None or not same_value(wanted, actual):
            drift.append(Drift(spec.name, f"config {key}", wanted, actual, fixable=True))
    return drift


def same_value(wanted: str, actual: str) -> bool:
    """Equal as strings, or as numbers (``"0.10"`` equals ``"0.1"``)."""
    if wanted == actual:
        return True
    try:
        return float(wanted) == float(actual)
    except ValueError:
        return False


def check_catalog(admin: AdminClient, catalog: Catalog) -> list[Drift]:
    """Every difference between the catalog and the cluster; changes nothing."""
    observed = observe(admin, catalog.names)
    return [
        drift
        for spec in catalog.topics
        for drift in diff_topic(spec, catalog.replication_for(spec), observed.get(spec.name))
    ]


def apply_catalog(
    admin: AdminClient, catalog: Catalog, timeout: float = ADMIN_TIMEOUT_S
) -> ApplyReport:
    """Create, reconfigure and grow topics to match the catalog; report what cannot be fixed."""
    observed = observe(admin, catalog.names)
    report = ApplyReport()
    missing: list[TopicSpec] = []
    alter: dict[str, list[Drift]] = {}
    grow: dict[str, int] = {}
    for spec in catalog.topics:
        drift = diff_topic(spec, catalog.replication_for(spec), observed.get(spec.name))
        if not drift:
            report.unchanged.append(spec.name)
        for item in drift:
            if not item.fixable:
                report.drift.append(item)
            elif item.aspect == "missing":
                missing.append(spec)
            elif item.aspect == "partitions":
                grow[spec.name] = spec.partitions
            else:
                alter.setdefault(spec.name, []).append(item)
    report.changes += _create(admin, catalog, missing, timeout)
    report.changes += _alter(admin, alter, timeout)
    report.changes += _grow(admin, grow, timeout)
    if missing or grow:
        expected = {spec.name: spec.partitions for spec in missing} | grow
        wait_for_topics(admin, expected, timeout, partitions=expected)
    return report


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
    _wait(admin.create_topics([topic], operation_timeout=timeout), "creating topic", timeout)
    wait_for_topics(admin, [name], timeout, partitions={name: partitions})
    return name


def wait_for_topics(
    admin: AdminClient,
    names: Iterable[str],
    timeout: float = ADMIN_TIMEOUT_S,
    partitions: Mapping[str, int] | None = None,
) -> None:
    """Wait until every topic is in the metadata, with a leader for each partition and at least
    ``partitions[name]`` partitions."""
    pending = set(names) | set(partitions or {})
    wanted = dict(partitions or {})
    deadline = time.monotonic() + timeout
    while pending:
        topics = list_metadata(admin).topics
        pending = {n for n in pending if not _usable(topics.get(n), wanted.get(n, 1))}
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise KafkaTransportError(
                f"topics not usable within {timeout:g} s: {', '.join(sorted(pending))}"
            )
        time.sleep(0.1)


def _usable(topic: Any, partitions: int) -> bool:
    if topic is None or topic.error is not None or len(topic.partitions) < partitions:
        return False
    return all(p.leader >= 0 and p.error is None for p in topic.partitions.values())


def _create(
    admin: AdminClient, catalog: Catalog, specs: list[TopicSpec], timeout: float
) -> list[Change]:
    if not specs:
        return []
    new = [
        NewTopic(
            spec.name,
            num_partitions=spec.partitions,
            replication_factor=catalog.replication_for(spec),
            config=dict(spec.config),
        )
        for spec in specs
    ]
    _wait(admin.create_topics(new, operation_timeout=timeout), "creating topic", timeout)
    return [
        Change(spec.name, "created", f"{spec.partitions} partitions, {spec.kind}") for spec in specs
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
    _wait({r.name: f for r, f in futures.items()}, "setting the config of topic", timeout)
    return [
        Change(
            topic, "altered", ", ".join(f"{d.aspect[7:]}: {d.actual} → {d.expected}" for d in items)
        )
        for topic, items in drifts.items()
    ]


def _grow(admin: AdminClient, counts: dict[str, int], timeout: float) -> list[Change]:
    if not counts:
        return []
    new = [NewPartitions(topic, count) for topic, count in counts.items()]
    _wait(admin.create_partitions(new, operation_timeout=timeout), "adding partitions to", timeout)
    return [Change(topic, "partitions", f"now {count}") for topic, count in counts.items()]


def _describe_configs(admin: AdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    if not names:
        return {}
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    futures = admin.describe_configs(resources, request_timeout=ADMIN_TIMEOUT_S)
    results = _wait({r.name: f for r, f in futures.items()}, "describing topic", ADMIN_TIMEOUT_S)
    return {
        name: {key: entry.value for key, entry in entries.items() if entry.value is not None}
        for name, entries in results.items()
    }


def _wait(futures: Mapping[K, Future[Any]], what: str, timeout: float) -> dict[K, Any]:
    """Every future's result; one error naming every failed item otherwise."""
    results: dict[K, Any] = {}
    rejected: list[str] = []
    failed: list[str] = []
    for key, future in futures.items():
        try:
            results[key] = future.result(timeout=timeout)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            code = error.code() if isinstance(error, KafkaError) else None
            if code == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            text = error.str() if isinstance(error, KafkaError) else str(exc)
            (rejected if code in _REJECTED else failed).append(f"{what} {key}: {text}")
        except TimeoutError:
            failed.append(f"{what} {key}: no answer within {timeout:g} s")
    if rejected:
        raise CatalogError("the cluster rejected the catalog: " + "; ".join(rejected + failed))
    if failed:
        raise KafkaTransportError("; ".join(failed))
    return results
