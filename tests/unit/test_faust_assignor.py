"""The partition assignor of every worker: while a subscribed topic is missing from the group
leader's metadata, no member gets partitions (faust itself fails on a global changelog)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from faust.assignor import PartitionAssignor
from faust.assignor.client_assignment import ClientAssignment

from alignment_flywheel.config import load_settings
from alignment_flywheel.processors.app import (
    SettledPartitionAssignor,
    create_app,
    missing_topics,
)

CHANGELOG = "gate-x-revise-spent-changelog"


def _assignor(cls: type[PartitionAssignor]) -> PartitionAssignor:
    assignor = cls.__new__(cls)
    table = SimpleNamespace(
        is_global=True,
        _changelog_topic_name=lambda: CHANGELOG,
        synchronize_all_active_partitions=False,
        use_partitioner=False,
    )
    assignor._table_manager = SimpleNamespace(data={"revise-spent": table})  # type: ignore[assignment]
    return assignor


def _members() -> dict[str, ClientAssignment]:
    return {m: ClientAssignment(actives={}, standbys={}) for m in ("m1", "m2")}


def test_faust_fails_when_the_changelog_is_missing_from_the_metadata() -> None:
    with pytest.raises(KeyError, match=CHANGELOG):
        _assignor(PartitionAssignor)._global_table_standby_assignments(_members(), {})


def test_while_a_topic_is_missing_no_member_gets_partitions() -> None:
    known = {"proposals": {0, 1, 2}}
    cluster = SimpleNamespace(partitions_for_topic=known.get)
    members = {m: SimpleNamespace(subscription=["proposals", CHANGELOG]) for m in ("m1", "m2")}
    assert missing_topics(cluster, members) == [CHANGELOG]
    assignor = _assignor(SettledPartitionAssignor)
    assignor._missing = [CHANGELOG]
    given = _members()
    given["m1"].actives["proposals"] = [0, 1]
    given["m2"].actives["proposals"] = [2]
    emptied = assignor._global_table_standby_assignments(given, {"proposals": 3})
    assert {m: (a.actives, a.standbys) for m, a in emptied.items()} == {
        "m1": ({}, {}),
        "m2": ({}, {}),
    }
    listed = {m: SimpleNamespace(subscription=["proposals"]) for m in ("m1", "m2")}
    assert missing_topics(cluster, listed) == []
    assignor._missing = []
    faust_own = assignor._global_table_standby_assignments(_members(), {CHANGELOG: 3})
    assert all(a.actives[CHANGELOG] == [0, 1, 2] for a in faust_own.values())
    assert all(a.standbys[CHANGELOG] == [0, 1, 2] for a in faust_own.values())


def test_every_worker_uses_it(tmp_path) -> None:
    app = create_app(load_settings(state_dir=tmp_path, bootstrap_servers="127.0.0.1:1"), "t")
    assert app.conf.PartitionAssignor is SettledPartitionAssignor
    assert app.conf.consumer_metadata_max_age_ms == 5_000
