"""How many replicas a topic gets, and how a partition's replicas change to reach that number.

Rules (pure functions, no I/O):

* The replication factor follows the cluster's size unless the settings fix it
  (``FLYWHEEL_REPLICATION_FACTOR``): ``min(brokers, 3)``, so 1 on one broker and 3 from three.
  Brokers are the live ones, so this default never lowers an existing topic's factor.
* ``min.insync.replicas`` follows the replication factor unless the settings fix it
  (``FLYWHEEL_MIN_INSYNC_REPLICAS``): ``factor - 1`` from three replicas (one broker may be lost
  without losing an acknowledged write or the ability to write), else 1. It never exceeds the
  topic's replication factor, so a topic the catalog pins to fewer replicas stays writable.
* A partition's new replica list keeps its current replicas, in order (the leader first), when
  the factor grows, and adds the brokers that hold the fewest replicas of the topic so far; when
  the factor shrinks, it keeps the first replicas of the current list.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import ConfigError

MAX_DEFAULT_FACTOR = 3
MIN_INSYNC = "min.insync.replicas"
"""The topic config key of the minimum in-sync replicas."""


@dataclass(frozen=True)
class Replication:
    """The replication factor and ``min.insync.replicas`` to give a topic."""

    factor: int
    min_insync: int


@dataclass(frozen=True)
class ReplicationPolicy:
    """The settings' choices; None follows the cluster."""

    factor: int | None = None
    min_insync: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ReplicationPolicy:
        return cls(settings.replication_factor, settings.min_insync_replicas)

    def for_cluster(self, brokers: int) -> Replication:
        """The default replication of a cluster of ``brokers`` brokers."""
        factor = self.factor or default_factor(brokers)
        return Replication(factor, self.min_insync_for(factor))

    def for_topic(self, brokers: int, pinned: int | None, present: int = 0) -> Replication:
        """A topic's replication: ``pinned`` (the catalog's), the settings', or the cluster's
        default, which never lowers the ``present`` factor of an existing topic: more replicas
        than live brokers means a broker is down, not that the cluster shrank."""
        factor = pinned or self.factor or max(default_factor(brokers), present)
        return Replication(factor, self.min_insync_for(factor))

    def min_insync_for(self, factor: int) -> int:
        wanted = self.min_insync or default_min_insync(factor)
        return min(wanted, factor)


def default_factor(brokers: int) -> int:
    """``min(brokers, 3)``, at least 1."""
    return max(1, min(brokers, MAX_DEFAULT_FACTOR))


def default_min_insync(factor: int) -> int:
    """``factor - 1`` from three replicas, else 1."""
    return factor - 1 if factor >= MAX_DEFAULT_FACTOR else 1


def reassigned(
    current: Mapping[int, Sequence[int]], brokers: Iterable[int], factor: int
) -> dict[int, list[int]]:
    """The new replica list of every partition whose replica count is not ``factor``.

    ``current`` maps each partition to its replicas (the preferred leader first)."""
    available = sorted(set(brokers))
    if factor > len(available):
        raise ConfigError(
            f"a replication factor of {factor} needs {factor} brokers; the cluster has "
            f"{len(available)}"
        )
    load: Counter[int] = Counter({broker: 0 for broker in available})
    for replicas in current.values():
        load.update(replica for replica in replicas if replica in load)
    changed = {}
    for partition in sorted(current):
        replicas = list(current[partition])
        if len(replicas) == factor:
            continue
        target = replicas[:factor]
        for replica in replicas[factor:]:
            load[replica] -= 1
        while len(target) < factor:
            extra = min((b for b in available if b not in target), key=lambda b: (load[b], b))
            target.append(extra)
            load[extra] += 1
        changed[partition] = target
    return changed
