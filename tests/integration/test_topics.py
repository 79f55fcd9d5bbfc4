"""The topic catalog applied to and checked against the real broker, with unique topic names."""

from __future__ import annotations

import time

import pytest
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from alignment_flywheel.errors import CatalogError
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.stack.topics import (
    Drift,
    apply_catalog,
    check_catalog,
    load_catalog,
    parse_catalog,
)

SHIPPED = load_catalog()


def catalog_data(unique_name, **partitions: int) -> dict:
    """Three topics with the shipped kind defaults: an event, a state and a dead-letter topic."""
    return {
        "replication_factor": 1,
        "kind_defaults": {kind.value: dict(c) for kind, c in SHIPPED.kind_defaults.items()},
        "topics": [
            {"name": unique_name("events"), "kind": "event", "partitions": 3},
            {"name": unique_name("state"), "kind": "state", "partitions": 1},
            {"name": unique_name("dead"), "kind": "deadletter", "partitions": 2},
        ],
    }


def resized(data: dict, index: int, partitions: int) -> dict:
    topics = [dict(t) for t in data["topics"]]
    topics[index]["partitions"] = partitions
    return {**data, "topics": topics}


@pytest.fixture
def admin(kafka_settings):
    return admin_client(kafka_settings)


@pytest.fixture
def cleanup(admin):
    names: list[str] = []
    yield names
    if names:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            future.result(timeout=30)


def broker_configs(admin, topic: str) -> dict[str, ConfigEntry]:
    (future,) = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)]).values()
    return future.result(timeout=30)


def alter_behind_its_back(admin, topic: str, key: str, value: str) -> None:
    entry = ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def delete_and_wait(admin, topic: str) -> None:
    admin.delete_topics([topic], operation_timeout=30)[topic].result(timeout=30)
    deadline = time.monotonic() + 30
    while topic in admin.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, f"{topic} still listed 30 s after deletion"
        time.sleep(0.1)


def test_apply_creates_topics_with_partitions_and_compaction_on_the_broker(
    admin, unique_name, cleanup
):
    catalog = parse_catalog(catalog_data(unique_name))
    cleanup += catalog.names
    report = apply_catalog(admin, catalog)
    assert [(c.topic, c.action) for c in report.changes] == [(n, "created") for n in catalog.names]
    assert report.drift == [] and report.unchanged == []

    topics = admin.list_topics(timeout=10).topics
    assert [len(topics[name].partitions) for name in catalog.names] == [3, 1, 2]

    events, state, dead = catalog.names
    state_config = broker_configs(admin, state)
    assert state_config["cleanup.policy"].value == "compact"
    assert float(state_config["min.cleanable.dirty.ratio"].value) == 0.1
    assert state_config["segment.ms"].value == "3600000"
    assert state_config["max.compaction.lag.ms"].value == "86400000"
    assert not state_config["cleanup.policy"].is_default
    events_config = broker_configs(admin, events)
    assert events_config["cleanup.policy"].value == "delete"
    assert events_config["retention.ms"].value == "604800000"
    dead_config = broker_configs(admin, dead)
    assert dead_config["max.message.bytes"].value == "8388608"
    assert dead_config["retention.ms"].value == str(30 * 24 * 3600 * 1000)


def test_second_apply_is_a_no_op(admin, unique_name, cleanup):
    catalog = parse_catalog(catalog_data(unique_name))
    cleanup += catalog.names
    assert apply_catalog(admin, catalog).changed
    again = apply_catalog(admin, catalog)
    assert not again.changed
    assert again.unchanged == catalog.names
    assert check_catalog(admin, catalog) == []


def test_check_detects_a_config_altered_behind_its_back_and_a_missing_topic(
    admin, unique_name, cleanup
):
    catalog = parse_catalog(catalog_data(unique_name))
    cleanup += catalog.names[:2]
    apply_catalog(admin, catalog)
    events, state, dead = catalog.names
    alter_behind_its_back(admin, state, "cleanup.policy", "delete")
    alter_behind_its_back(admin, events, "retention.ms", "1000")
    delete_and_wait(admin, dead)

    drift = check_catalog(admin, catalog)
    assert set(drift) == {
        Drift(events, "config retention.ms", "604800000", "1000", fixable=True),
        Drift(state, "config cleanup.policy", "compact", "delete", fixable=True),
        Drift(dead, "missing", "present", None, fixable=True),
    }

    cleanup.append(dead)
    report = apply_catalog(admin, catalog)
    assert {(c.topic, c.action) for c in report.changes} == {
        (events, "altered"),
        (state, "altered"),
        (dead, "created"),
    }
    assert check_catalog(admin, catalog) == []
    assert broker_configs(admin, state)["cleanup.policy"].value == "compact"


def test_apply_adds_partitions_but_never_shrinks(admin, unique_name, cleanup):
    data = catalog_data(unique_name)
    catalog = parse_catalog(data)
    cleanup += catalog.names
    apply_catalog(admin, catalog)
    events = catalog.names[0]

    grown = apply_catalog(admin, parse_catalog(resized(data, 0, 5)))
    assert [(c.topic, c.action, c.detail) for c in grown.changes] == [
        (events, "partitions", "now 5")
    ]
    assert len(admin.list_topics(timeout=10).topics[events].partitions) == 5

    smaller = parse_catalog(resized(data, 0, 2))
    report = apply_catalog(admin, smaller)
    assert not report.changed
    assert report.drift == [Drift(events, "partitions", "2", "5", fixable=False)]
    assert len(admin.list_topics(timeout=10).topics[events].partitions) == 5
    assert check_catalog(admin, smaller) == report.drift


def test_a_config_the_broker_refuses_is_a_catalog_error(admin, unique_name):
    data = catalog_data(unique_name)
    data["topics"] = [{**data["topics"][0], "config": {"retention.ms": "soon"}}]
    catalog = parse_catalog(data)
    with pytest.raises(CatalogError, match=rf"creating topic {catalog.names[0]}.*retention\.ms"):
        apply_catalog(admin, catalog)
    assert catalog.names[0] not in admin.list_topics(timeout=10).topics
