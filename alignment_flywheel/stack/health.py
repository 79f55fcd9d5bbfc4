"""The health of a cluster's partitions and of its controller quorum, for ``flywheel infra status``.

Rules: every partition of every topic (internal ones included) counts. A partition is offline
when it has no leader, under-replicated when fewer of its replicas are in sync than it has
replicas. The cluster is degraded when any partition is offline or under-replicated, or when the
quorum has no leader. The quorum is read as the admin of the local broker, or as the settings'
principal on a configured cluster; when that principal may not describe it, the controller id of
the metadata is shown instead and the quorum does not count against the cluster's health.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka.admin import AdminClient

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import KafkaTransportError
from alignment_flywheel.kafka.clients import list_metadata
from alignment_flywheel.stack.quorum import describe_quorum

LISTED = 3


@dataclass(frozen=True)
class PartitionHealth:
    """Brokers, partitions, and the partitions without a leader or with missing in-sync replicas."""

    brokers: tuple[int, ...]
    controller: int
    partitions: int
    offline: tuple[str, ...]
    under_replicated: tuple[str, ...]

    @property
    def healthy(self) -> bool:
        return not self.offline and not self.under_replicated

    def describe(self) -> str:
        text = (
            f"{len(self.brokers)} brokers ({', '.join(map(str, self.brokers))}), "
            f"{self.partitions} partitions: {len(self.offline)} offline, "
            f"{len(self.under_replicated)} under-replicated"
        )
        worst = self.offline or self.under_replicated
        if worst:
            more = f" and {len(worst) - LISTED} more" if len(worst) > LISTED else ""
            text += f" ({', '.join(worst[:LISTED])}{more})"
        return text


def partition_health(admin: AdminClient) -> PartitionHealth:
    """Every partition's leader and in-sync replicas, from one metadata request."""
    metadata = list_metadata(admin)
    offline, under = [], []
    count = 0
    for name, topic in sorted(metadata.topics.items()):
        for index, partition in sorted(topic.partitions.items()):
            count += 1
            if partition.leader < 0:
                offline.append(f"{name}/{index}")
            if len(partition.isrs) < len(partition.replicas):
                under.append(f"{name}/{index}")
    return PartitionHealth(
        brokers=tuple(sorted(metadata.brokers)),
        controller=metadata.controller_id,
        partitions=count,
        offline=tuple(offline),
        under_replicated=tuple(under),
    )


def quorum_row(settings: Settings, health: PartitionHealth) -> tuple[bool, str]:
    """(healthy, detail) of the controller quorum."""
    try:
        quorum = describe_quorum(settings)
    except KafkaTransportError as exc:
        return True, f"controller {health.controller} (quorum not described: {exc})"
    if quorum.leader < 0:
        return False, "no quorum leader: " + quorum.describe()
    return True, quorum.describe()
