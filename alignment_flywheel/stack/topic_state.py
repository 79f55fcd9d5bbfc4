"""What the cluster has, compared with what the catalog wants: topics, replicas and their health.

Rules:

* :func:`observe` reads the brokers and, for each named topic that exists, its partition count,
  replication factor (the largest replica count of its partitions), config, each partition's
  replicas, and its offline (no leader) and under-replicated (fewer in-sync replicas than replicas)
  partitions.
* A topic's wanted replication is its own catalog value, else the catalog's, else the settings',
  else the cluster's default for its live brokers, never below what the topic has
  (:class:`~alignment_flywheel.kafka.replication.ReplicationPolicy`); its wanted config is the
  catalog's plus ``min.insync.replicas`` from the same policy unless the catalog sets it.
* :func:`diff_topic` lists the differences apply can act on (a replication factor is fixable when
  the cluster has enough brokers); :func:`health_drift` lists offline and under-replicated
  partitions, which no catalog change fixes. Only the config keys wanted are compared; numbers
  compare numerically.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._resource import ResourceType

from alignment_flywheel.errors import CatalogError, KafkaTransportError
from alignment_flywheel.kafka.catalog import Catalog, TopicSpec
from alignment_flywheel.kafka.clients import list_metadata
from alignment_flywheel.kafka.replication import MIN_INSYNC, Replication, ReplicationPolicy

ADMIN_TIMEOUT_S = 30.0
CONFIG_RETRY_S = 0.2
OFFLINE = "offline partitions"
UNDER_REPLICATED = "under-replicated partitions"
_REJECTED = {
    KafkaError.INVALID_CONFIG,
    KafkaError.INVALID_PARTITIONS,
    KafkaError.INVALID_REPLICATION_FACTOR,
    KafkaError.INVALID_REPLICA_ASSIGNMENT,
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
    replicas: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    offline: tuple[int, ...] = ()
    under_replicated: tuple[int, ...] = ()


@dataclass(frozen=True)
class ClusterView:
    """The brokers of the cluster and the observed topics among those asked for."""

    brokers: tuple[int, ...]
    topics: Mapping[str, ObservedTopic]


@dataclass(frozen=True)
class Drift:
    """One difference between the catalog and the cluster."""

    topic: str
    aspect: str  # "missing", "partitions", "replication", "config <key>", OFFLINE, UNDER_REPLICATED
    expected: str
    actual: str | None
    fixable: bool

    def __str__(self) -> str:
        if self.aspect == "missing":
            return f"{self.topic}: missing"
        return f"{self.topic}: {self.aspect} is {self.actual}, the catalog says {self.expected}"


@dataclass(frozen=True)
class WantedTopic:
    """A catalog entry with its replication resolved for one cluster."""

    spec: TopicSpec
    replication: Replication

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def config(self) -> dict[str, str]:
        return {MIN_INSYNC: str(self.replication.min_insync), **self.spec.config}


def wanted_topics(
    catalog: Catalog, policy: ReplicationPolicy, view: ClusterView
) -> list[WantedTopic]:
    """Every catalog topic with the replication it should have on the observed cluster."""
    wanted = []
    for spec in catalog.topics:
        observed = view.topics.get(spec.name)
        present = observed.replication_factor if observed is not None else 0
        replication = policy.for_topic(len(view.brokers), catalog.replication_for(spec), present)
        wanted.append(WantedTopic(spec, replication))
    return wanted


def observe(admin: AdminClient, names: Iterable[str]) -> ClusterView:
    """The brokers, and partitions, replicas, health and config of each named topic that exists."""
    metadata = list_metadata(admin)
    present = [name for name in names if name in metadata.topics]
    configs = describe_configs(admin, present)
    topics = {}
    for name in present:
        partitions = metadata.topics[name].partitions
        replicas = {index: tuple(p.replicas) for index, p in partitions.items()}
        topics[name] = ObservedTopic(
            name=name,
            partitions=len(partitions),
            replication_factor=max((len(r) for r in replicas.values()), default=0),
            config=configs[name],
            replicas=replicas,
            offline=tuple(sorted(i for i, p in partitions.items() if p.leader < 0)),
            under_replicated=tuple(
                sorted(i for i, p in partitions.items() if len(p.isrs) < len(p.replicas))
            ),
        )
    return ClusterView(tuple(sorted(metadata.brokers)), topics)


def diff_topic(wanted: WantedTopic, observed: ObservedTopic | None, brokers: int) -> list[Drift]:
    """Every difference between one wanted topic and what the cluster has."""
    spec, factor = wanted.spec, wanted.replication.factor
    if observed is None:
        return [Drift(spec.name, "missing", "present", None, fixable=factor <= brokers)]
    drift = []
    if observed.partitions != spec.partitions:
        grow = spec.partitions > observed.partitions
        drift.append(
            Drift(spec.name, "partitions", str(spec.partitions), str(observed.partitions), grow)
        )
    if observed.replication_factor != factor:
        actual = str(observed.replication_factor)
        drift.append(Drift(spec.name, "replication", str(factor), actual, factor <= brokers))
    for key, value in wanted.config.items():
        actual_value = observed.config.get(key)
        if actual_value is None or not same_value(value, actual_value):
            drift.append(Drift(spec.name, f"config {key}", value, actual_value, fixable=True))
    return drift


def health_drift(observed: ObservedTopic) -> list[Drift]:
    """The topic's partitions without a leader and those with fewer in-sync replicas than
    replicas: what a stopped or lagging broker causes, and no catalog change fixes."""
    drift = []
    for aspect, partitions in (
        (OFFLINE, observed.offline),
        (UNDER_REPLICATED, observed.under_replicated),
    ):
        if partitions:
            listed = ",".join(str(p) for p in partitions)
            drift.append(Drift(observed.name, aspect, "none", listed, fixable=False))
    return drift


def same_value(wanted: str, actual: str) -> bool:
    """Equal as strings, or as numbers (``"0.10"`` equals ``"0.1"``)."""
    if wanted == actual:
        return True
    try:
        return float(wanted) == float(actual)
    except ValueError:
        return False


def describe_configs(admin: AdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    """The config of each topic. A broker that does not know a topic the metadata listed (it was
    just created, and this broker's metadata is behind) is asked again until it does."""
    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    configs: dict[str, dict[str, str]] = {}
    pending = list(names)
    while pending:
        resources = [ConfigResource(ResourceType.TOPIC, name) for name in pending]
        futures = admin.describe_configs(resources, request_timeout=ADMIN_TIMEOUT_S)
        by_name = {r.name: f for r, f in futures.items()}
        unknown = [n for n, f in by_name.items() if _unknown_topic(f)]
        if unknown and time.monotonic() < deadline:
            time.sleep(CONFIG_RETRY_S)
        else:
            unknown = []
        answered = {n: f for n, f in by_name.items() if n not in unknown}
        results = admin_results(answered, "describing topic", ADMIN_TIMEOUT_S)
        for name, entries in results.items():
            configs[name] = {k: e.value for k, e in entries.items() if e.value is not None}
        pending = unknown
    return configs


def _unknown_topic(future: Future[Any]) -> bool:
    try:
        future.result(timeout=ADMIN_TIMEOUT_S)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        return isinstance(error, KafkaError) and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    except TimeoutError:
        return False
    return False


def admin_results(futures: Mapping[K, Future[Any]], what: str, timeout: float) -> dict[K, Any]:
    """Every future's result; one error naming every failed item otherwise (a topic that already
    exists is not a failure)."""
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
