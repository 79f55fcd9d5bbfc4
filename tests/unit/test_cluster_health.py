"""Partition health and quorum descriptions, and a cluster node's properties (no broker)."""

from __future__ import annotations

import pytest

from alignment_flywheel.errors import KafkaTransportError
from alignment_flywheel.stack.broker_files import BrokerLayout
from alignment_flywheel.stack.cluster import Node, cluster_properties
from alignment_flywheel.stack.health import PartitionHealth
from alignment_flywheel.stack.quorum import Quorum, parse_quorum


def test_health_describes_counts_and_names_the_first_partitions() -> None:
    fine = PartitionHealth((1, 2, 3), 1, 40, (), ())
    assert fine.healthy
    assert fine.describe() == "3 brokers (1, 2, 3), 40 partitions: 0 offline, 0 under-replicated"
    under = tuple(f"t/{i}" for i in range(5))
    sick = PartitionHealth((1, 2), 1, 40, (), under)
    assert not sick.healthy
    assert sick.describe().endswith("0 offline, 5 under-replicated (t/0, t/1, t/2 and 2 more)")


def answer(error: int = 0, leader: int = 2) -> dict:
    voters = [
        {"replica_id": 1, "log_end_offset": 10},
        {"replica_id": 2, "log_end_offset": 12},
        {"replica_id": 3, "log_end_offset": 12},
    ]
    partition = {
        "partition_index": 0,
        "error_code": error,
        "leader_id": leader,
        "leader_epoch": 4,
        "high_watermark": 12,
        "current_voters": voters,
        "observers": [],
    }
    return {
        "error_code": 0,
        "topics": [{"topic_name": "__cluster_metadata", "partitions": [partition]}],
    }


def test_a_quorum_answer_names_its_leader_voters_and_laggards() -> None:
    quorum = parse_quorum(answer())
    assert quorum == Quorum(leader=2, epoch=4, high_watermark=12, voters={1: 10, 2: 12, 3: 12})
    assert quorum.describe() == "leader 2 (epoch 4), voters 1, 2, 3; lagging 1"
    with pytest.raises(KafkaTransportError, match="could not be described"):
        parse_quorum(answer(error=7))


def test_a_node_is_the_single_broker_turned_into_a_voter_of_a_static_quorum(tmp_path) -> None:
    rendered = (
        "process.roles=broker,controller\nnode.id=1\n"
        "controller.quorum.bootstrap.servers=127.0.0.1:9\n"
        "listeners=CLIENT://127.0.0.1:8,CONTROLLER://127.0.0.1:9\n"
        "offsets.topic.replication.factor=1\n# node.id=5 in a comment stays\n"
    )
    node = Node(2, 21001, 21002, BrokerLayout(tmp_path))
    text = cluster_properties(rendered, node, "1@127.0.0.1:21000,2@127.0.0.1:21002", 3)
    lines = text.splitlines()
    assert "node.id=2" in lines
    assert "node.id=1" not in lines
    assert "# node.id=5 in a comment stays" in lines
    assert not any(line.startswith("controller.quorum.bootstrap.servers") for line in lines)
    assert "controller.quorum.voters=1@127.0.0.1:21000,2@127.0.0.1:21002" in lines
    assert "listeners=CLIENT://127.0.0.1:21001,CONTROLLER://127.0.0.1:21002" in lines
    assert "offsets.topic.replication.factor=3" in lines
    assert "transaction.state.log.min.isr=2" in lines
