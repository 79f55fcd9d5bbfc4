"""The topic catalog: the shipped file, its validation errors, and the drift computation."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from alignment_flywheel.errors import CatalogError
from alignment_flywheel.kafka.replication import Replication, ReplicationPolicy
from alignment_flywheel.stack.topic_state import (
    ClusterView,
    WantedTopic,
    health_drift,
    wanted_topics,
)
from alignment_flywheel.stack.topics import (
    ApplyReport,
    Change,
    Drift,
    ObservedTopic,
    TopicKind,
    diff_topic,
    load_catalog,
    parse_catalog,
)

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"

EXPECTED_PARTITIONS = {
    "flywheel.proposals": 6,
    "flywheel.verdicts": 6,
    "flywheel.reviews": 3,
    "flywheel.incidents": 3,
    "flywheel.findings": 3,
    "flywheel.verifications": 3,
    "flywheel.drift": 3,
    "flywheel.patches": 3,
    "flywheel.ledger": 1,
    "flywheel.releases": 1,
    "flywheel.clusters": 3,
    "flywheel.trust": 1,
    "flywheel.deadletter": 3,
}

MINIMAL = {
    "replication_factor": 1,
    "kind_defaults": {
        "event": {"cleanup.policy": "delete", "retention.ms": 1000},
        "state": {"cleanup.policy": "compact"},
    },
    "topics": [
        {"name": "a.events", "kind": "event", "partitions": 2, "events": ["ThingHappened"]},
        {"name": "a.state", "kind": "state", "partitions": 1},
    ],
}


def with_topic_change(index: int, **changes: object) -> dict:
    data = copy.deepcopy(MINIMAL)
    data["topics"][index].update(changes)
    return data


def test_shipped_catalog_has_every_topic_with_its_partitions():
    catalog = load_catalog()
    assert {t.name: t.partitions for t in catalog.topics} == EXPECTED_PARTITIONS
    assert catalog.replication_factor is None  # the cluster's default
    assert all(catalog.replication_for(t) is None for t in catalog.topics)


def test_shipped_catalog_kinds_and_their_settings():
    catalog = load_catalog()
    for topic in catalog.topics:
        if topic.kind is TopicKind.STATE:
            assert topic.config["cleanup.policy"] == "compact"
            assert float(topic.config["min.cleanable.dirty.ratio"]) <= 0.5
            assert "segment.ms" in topic.config
        else:
            assert topic.config["cleanup.policy"] == "delete"
            assert int(topic.config["retention.ms"]) == -1 or int(topic.config["retention.ms"]) > 0
    kinds = {t.name: t.kind for t in catalog.topics}
    state = {"flywheel.releases", "flywheel.clusters", "flywheel.trust"}
    assert {name for name, kind in kinds.items() if kind is TopicKind.STATE} == state
    assert kinds["flywheel.deadletter"] is TopicKind.DEADLETTER


def test_shipped_catalog_retention_and_message_size_rules():
    catalog = load_catalog()
    assert catalog.topic("flywheel.patches").config["retention.ms"] == "-1"
    assert catalog.topic("flywheel.ledger").config["retention.ms"] == "-1"
    assert catalog.topic("flywheel.proposals").config["retention.ms"] == str(7 * 24 * 3600 * 1000)
    dead = catalog.topic("flywheel.deadletter")
    assert dead.config["retention.ms"] == str(30 * 24 * 3600 * 1000)
    others = [int(t.config["max.message.bytes"]) for t in catalog.topics if t is not dead]
    assert int(dead.config["max.message.bytes"]) > max(others)


def test_every_event_schema_is_routed_to_exactly_one_topic():
    catalog = load_catalog()
    event_types = set()
    for path in SCHEMAS_DIR.glob("*.avsc"):
        schema = json.loads(path.read_text())
        names = {f["name"] for f in schema.get("fields", [])} if schema["type"] == "record" else {}
        if "envelope" in names:
            event_types.add(schema["name"])
    assert event_types, f"no event schemas found in {SCHEMAS_DIR}"
    carried = {event for topic in catalog.topics for event in topic.events}
    assert carried == event_types
    assert catalog.topic_for("VerdictIssued") == "flywheel.verdicts"
    assert catalog.topic_for("PatchRejected") == "flywheel.patches"
    assert catalog.topic_for("DeadLettered") == "flywheel.deadletter"


def test_topic_for_an_unknown_event_type_is_an_error():
    with pytest.raises(CatalogError, match="no topic in the catalog carries NoSuchEvent"):
        load_catalog().topic_for("NoSuchEvent")


def test_kind_defaults_are_merged_and_topic_config_wins():
    data = with_topic_change(0, config={"retention.ms": 5000, "compression.type": "zstd"})
    topic = parse_catalog(data).topic("a.events")
    assert topic.config == {
        "cleanup.policy": "delete",
        "retention.ms": "5000",
        "compression.type": "zstd",
    }


def test_yaml_scalars_become_kafka_strings():
    data = with_topic_change(1, config={"min.cleanable.dirty.ratio": 0.25, "preallocate": True})
    config = parse_catalog(data).topic("a.state").config
    assert config["min.cleanable.dirty.ratio"] == "0.25"
    assert config["preallocate"] == "true"


def test_replication_factor_default_and_override():
    data = with_topic_change(1, replication_factor=3)
    data["replication_factor"] = 2
    catalog = parse_catalog(data)
    assert catalog.replication_for(catalog.topic("a.events")) == 2
    assert catalog.replication_for(catalog.topic("a.state")) == 3


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (with_topic_change(0, kind="stream"), r"topic #1 \(a.events\) kind: Input should be"),
        (with_topic_change(1, config={"cleanup.policy": "delete"}), "state topic a.state must be"),
        (with_topic_change(0, config={"cleanup.policy": "compact"}), "event topic a.events must"),
        (with_topic_change(0, name="a.state"), "topic names listed more than once: a.state"),
        (with_topic_change(1, partitions=0), r"topic #2 \(a.state\) partitions"),
        (with_topic_change(1, name="bad name!"), r"topic #2 \(bad name!\) name"),
        (with_topic_change(0, colour="red"), r"topic #1 \(a.events\) colour: Extra inputs"),
        (with_topic_change(1, events=["ThingHappened"]), "ThingHappened is carried by both"),
        (with_topic_change(0, events=["not-a-type"]), "'not-a-type' is not an event type"),
        (with_topic_change(0, config={"Retention_MS": 1}), "'Retention_MS' is not a Kafka config"),
        (with_topic_change(0, config={"retention.ms": [1, 2]}), "must be scalars"),
        ({**MINIMAL, "topics": []}, "catalog: the catalog lists no topics"),
        ({**MINIMAL, "replication_factor": 0}, "replication_factor: Input should be greater"),
        ({"topics": [{"name": "x", "kind": "event", "partitions": 1}]}, "must have cleanup"),
        ([1, 2], "expected a mapping"),
    ],
)
def test_invalid_catalogs_raise_catalog_error_naming_the_entry(data, expected):
    with pytest.raises(CatalogError, match=expected):
        parse_catalog(data, "test catalog")


def test_event_topic_without_retention_is_rejected():
    data = copy.deepcopy(MINIMAL)
    data["kind_defaults"]["event"] = {"cleanup.policy": "delete"}
    with pytest.raises(CatalogError, match=r"event topic a\.events must set retention\.ms"):
        parse_catalog(data)


def test_load_catalog_errors_name_the_file(tmp_path):
    with pytest.raises(CatalogError, match="cannot read the topic catalog"):
        load_catalog(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("topics: [unclosed\n")
    with pytest.raises(CatalogError, match=r"broken.yaml is not valid YAML"):
        load_catalog(broken)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("topics:\n  - name: x\n    kind: event\n")
    with pytest.raises(CatalogError, match=r"wrong.yaml is invalid: topic #1 \(x\) partitions"):
        load_catalog(wrong)


def observed(**changes: object) -> ObservedTopic:
    base = {
        "name": "a.state",
        "partitions": 1,
        "replication_factor": 1,
        "config": {
            "cleanup.policy": "compact",
            "segment.ms": "604800000",
            "min.insync.replicas": "1",
        },
    }
    return ObservedTopic(**{**base, **changes})


def wanted(data: dict, factor: int = 1, min_insync: int = 1) -> WantedTopic:
    return WantedTopic(parse_catalog(data).topic("a.state"), Replication(factor, min_insync))


def test_diff_of_a_matching_topic_is_empty_and_ignores_keys_the_catalog_does_not_set():
    assert diff_topic(wanted(MINIMAL), observed(), brokers=1) == []


def test_diff_reports_missing_topics_as_fixable_when_the_cluster_has_the_brokers():
    missing = Drift("a.state", "missing", "present", None, True)
    assert diff_topic(wanted(MINIMAL), None, brokers=1) == [missing]
    too_few = diff_topic(wanted(MINIMAL, factor=3), None, brokers=1)
    assert too_few == [Drift("a.state", "missing", "present", None, False)]


def test_diff_reports_partitions_replication_min_isr_and_config():
    data = with_topic_change(1, partitions=4)
    drift = diff_topic(
        wanted(data, factor=3, min_insync=2),
        observed(partitions=6, config={"cleanup.policy": "delete", "min.insync.replicas": "1"}),
        brokers=3,
    )
    assert drift == [
        Drift("a.state", "partitions", "4", "6", fixable=False),
        Drift("a.state", "replication", "3", "1", fixable=True),
        Drift("a.state", "config min.insync.replicas", "2", "1", fixable=True),
        Drift("a.state", "config cleanup.policy", "compact", "delete", fixable=True),
    ]
    assert str(drift[0]) == "a.state: partitions is 6, the catalog says 4"
    grow = diff_topic(wanted(data), observed(partitions=2), brokers=1)
    assert grow == [Drift("a.state", "partitions", "4", "2", fixable=True)]
    short = diff_topic(wanted(MINIMAL, factor=3), observed(), brokers=2)
    assert Drift("a.state", "replication", "3", "1", fixable=False) in short


def test_a_min_isr_the_catalog_sets_wins_over_the_policy():
    data = with_topic_change(1, config={"min.insync.replicas": "1"})
    assert diff_topic(wanted(data, factor=3, min_insync=2), observed(replication_factor=3), 3) == []


def test_diff_compares_numbers_numerically():
    data = with_topic_change(1, config={"min.cleanable.dirty.ratio": "0.10"})
    config = {
        "cleanup.policy": "compact",
        "min.cleanable.dirty.ratio": "0.1",
        "min.insync.replicas": "1",
    }
    assert diff_topic(wanted(data), observed(config=config), brokers=1) == []


def test_health_lists_offline_and_under_replicated_partitions():
    assert health_drift(observed()) == []
    sick = observed(offline=(2,), under_replicated=(0, 2))
    assert health_drift(sick) == [
        Drift("a.state", "offline partitions", "none", "2", fixable=False),
        Drift("a.state", "under-replicated partitions", "none", "0,2", fixable=False),
    ]


def test_wanted_topics_resolve_replication_for_the_cluster():
    data = with_topic_change(1, replication_factor=1)
    del data["replication_factor"]
    topics = wanted_topics(parse_catalog(data), ReplicationPolicy(), ClusterView((1, 2, 3), {}))
    assert {t.name: t.replication for t in topics} == {
        "a.events": Replication(3, 2),
        "a.state": Replication(1, 1),
    }
    assert topics[0].config["min.insync.replicas"] == "2"


def test_a_broker_down_does_not_lower_the_wanted_replication():
    catalog = parse_catalog({**MINIMAL, "replication_factor": None})
    view = ClusterView((1, 2), {"a.state": observed(replication_factor=3)})
    topics = wanted_topics(catalog, ReplicationPolicy(), view)
    assert {t.name: t.replication for t in topics} == {
        "a.events": Replication(2, 1),
        "a.state": Replication(3, 2),
    }


def test_apply_report_summary():
    report = ApplyReport(
        changes=[Change("t1", "created", "3 partitions"), Change("t2", "altered", "x")],
        drift=[Drift("t3", "partitions", "1", "2", fixable=False)],
        unchanged=["t4", "t5"],
    )
    assert report.changed
    assert report.summary() == (
        "1 created, 1 reconfigured, 0 with partitions added, 2 unchanged; "
        "1 differences left (see check)"
    )
    assert not ApplyReport(unchanged=["t"]).changed
