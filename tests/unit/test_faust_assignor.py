"""The partition assignor of every worker: a global table's changelog topic that the group
leader's metadata does not list yet no longer fails the assignment."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from faust.assignor import PartitionAssignor
from faust.assignor.client_assignment import ClientAssignment

from alignment_flywheel.config import load_settings
from alignment_flywheel.processors.app import SettledPartitionAssignor, create_app

CHANGELOG = "gate-x-revise-depth-changelog"


def _assignor(cls: type[PartitionAssignor]) -> PartitionAssignor:
    assignor = cls.__new__(cls)
    table = SimpleNamespace(
        is_global=True,
        _changelog_topic_name=lambda: CHANGELOG,
        synchronize_all_active_partitions=False,
        use_partitioner=False,
    )
    assignor._table_manager = SimpleNamespace(data={"revise-depth": table})  # type: ignore[assignment]
    return assignor


def _members() -> dict[str, ClientAssignment]:
    return {m: ClientAssignment(actives={}, standbys={}) for m in ("m1", "m2")}


def test_faust_fails_when_the_changelog_is_missing_from_the_metadata() -> None:
    with pytest.raises(KeyError, match=CHANGELOG):
        _assignor(PartitionAssignor)._global_table_standby_assignments(_members(), {})


def test_a_missing_changelog_gets_no_partitions_until_the_metadata_lists_it() -> None:
    assignor = _assignor(SettledPartitionAssignor)
    missing = assignor._global_table_standby_assignments(_members(), {"proposals": 6})
    assert {m: (a.actives, a.standbys) for m, a in missing.items()} == {
        m: ({CHANGELOG: []}, {CHANGELOG: []}) for m in ("m1", "m2")
    }
    listed = assignor._global_table_standby_assignments(_members(), {CHANGELOG: 3})
    assert all(a.actives[CHANGELOG] == [0, 1, 2] for a in listed.values())
    assert all(a.standbys[CHANGELOG] == [0, 1, 2] for a in listed.values())


def test_every_worker_uses_it(tmp_path) -> None:
    app = create_app(load_settings(state_dir=tmp_path, bootstrap_servers="127.0.0.1:1"), "t")
    assert app.conf.PartitionAssignor is SettledPartitionAssignor
    assert app.conf.consumer_metadata_max_age_ms == 5_000
