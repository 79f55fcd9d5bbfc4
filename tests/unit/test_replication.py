"""The replication policy: defaults from the cluster's size, overrides, reassignment targets."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import ConfigError
from alignment_flywheel.kafka.replication import (
    Replication,
    ReplicationPolicy,
    reassigned,
)


@pytest.mark.parametrize(
    ("brokers", "expected"),
    [
        (0, Replication(1, 1)),
        (1, Replication(1, 1)),
        (2, Replication(2, 1)),
        (3, Replication(3, 2)),
        (7, Replication(3, 2)),
    ],
)
def test_the_default_follows_the_cluster(brokers: int, expected: Replication) -> None:
    assert ReplicationPolicy().for_cluster(brokers) == expected


def test_settings_fix_the_factor_and_min_isr() -> None:
    assert ReplicationPolicy(factor=5).for_cluster(3) == Replication(5, 4)
    assert ReplicationPolicy(min_insync=1).for_cluster(3) == Replication(3, 1)
    assert ReplicationPolicy(factor=2, min_insync=2).for_cluster(1) == Replication(2, 2)


def test_a_pinned_topic_keeps_its_factor_and_a_reachable_min_isr() -> None:
    policy = ReplicationPolicy(min_insync=2)
    assert policy.for_topic(3, None) == Replication(3, 2)
    assert policy.for_topic(3, 1) == Replication(1, 1)
    assert ReplicationPolicy().for_topic(1, 4) == Replication(4, 3)


def test_the_cluster_default_never_lowers_a_present_factor() -> None:
    assert ReplicationPolicy().for_topic(2, None, present=3) == Replication(3, 2)
    assert ReplicationPolicy().for_topic(3, None, present=1) == Replication(3, 2)
    assert ReplicationPolicy(factor=2).for_topic(3, None, present=3) == Replication(2, 1)


def test_settings_carry_the_policy_and_refuse_an_unreachable_min_isr(
    settings_factory: Callable[..., Settings],
) -> None:
    policy = ReplicationPolicy.from_settings(
        settings_factory(replication_factor=3, min_insync_replicas=2)
    )
    assert policy == ReplicationPolicy(3, 2)
    assert ReplicationPolicy.from_settings(settings_factory()) == ReplicationPolicy()
    with pytest.raises(ConfigError, match="exceeds"):
        settings_factory(replication_factor=2, min_insync_replicas=3)


def test_growing_keeps_the_replicas_and_spreads_the_new_ones() -> None:
    current = {0: [1], 1: [2], 2: [3], 3: [1]}
    targets = reassigned(current, [1, 2, 3], 3)
    assert set(targets) == {0, 1, 2, 3}
    for partition, replicas in targets.items():
        assert replicas[0] == current[partition][0]
        assert sorted(replicas) == [1, 2, 3]


def test_growing_to_two_balances_the_load() -> None:
    targets = reassigned({0: [1], 1: [1], 2: [1]}, [1, 2, 3], 2)
    added = [replicas[1] for replicas in targets.values()]
    assert sorted(added) in ([2, 2, 3], [2, 3, 3])


def test_shrinking_keeps_the_first_replicas_and_unchanged_partitions_are_left_out() -> None:
    targets = reassigned({0: [2, 3, 1], 1: [3, 1]}, [1, 2, 3], 2)
    assert targets == {0: [2, 3]}


def test_more_replicas_than_brokers_is_refused() -> None:
    with pytest.raises(ConfigError, match="needs 3 brokers"):
        reassigned({0: [1]}, [1, 2], 3)
