"""Access control in the topic catalog: the roles, who writes and reads each topic, the ACL
bindings they turn into, and their agreement with the code (app ids, workers, topics read)."""

from __future__ import annotations

import copy
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from typer.testing import CliRunner

from alignment_flywheel.cli import topics as topics_cli
from alignment_flywheel.config import load_settings
from alignment_flywheel.connectors.clickhouse.sink import default_topics
from alignment_flywheel.errors import CatalogError
from alignment_flywheel.kafka.catalog import READER_GROUP_PREFIX, load_catalog, parse_catalog
from alignment_flywheel.processors import gate
from alignment_flywheel.processors.ledger import AUDITED_TOPICS
from alignment_flywheel.processors.shell import Shell
from alignment_flywheel.roles import RoleTopics, workers
from alignment_flywheel.stack.access import (
    CLUSTER,
    GROUP,
    LITERAL,
    PREFIXED,
    TOPIC,
    TRANSACTIONAL_ID,
    Binding,
    NoAuthorizerError,
    apply_access,
    check_access,
    desired_bindings,
    in_scope,
    role_bindings,
)
from alignment_flywheel.stack.fleet import EXTRA_WORKERS, GROUPS, WORKERS
from alignment_flywheel.stack.rights import rights_markdown, rights_rows

ROOT = Path(__file__).resolve().parents[2]

MINIMAL = {
    "kind_defaults": {"event": {"cleanup.policy": "delete", "retention.ms": 1000}},
    "roles": {"writer": {"app_id": "app-writer"}, "reader": {}},
    "topics": [
        {
            "name": "a.events",
            "kind": "event",
            "partitions": 1,
            "writers": ["writer"],
            "readers": ["reader"],
        }
    ],
}


def _with(**changes: object) -> dict:
    data = copy.deepcopy(MINIMAL)
    data.update(changes)
    return data


def test_only_the_release_controller_and_people_write_releases():
    topics = {t.name: t for t in load_catalog().topics}
    assert set(topics["flywheel.releases"].writers) == {"release", "operator", "serve"}
    patch_writers = {"refine", "autoapprove", "release", "operator", "serve"}
    assert set(topics["flywheel.patches"].writers) == patch_writers
    assert topics["flywheel.trust"].writers == ("operator",)
    assert topics["flywheel.ledger"].writers == ("ledger",)
    assert "gate" not in topics["flywheel.releases"].writers + topics["flywheel.patches"].writers


def test_every_worker_of_the_governance_stack_is_a_role_with_its_app_id(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path, bootstrap_servers="127.0.0.1:9")
    catalog = load_catalog()
    for name in {**WORKERS, **EXTRA_WORKERS, "release": []}:
        assert name in catalog.roles, name
        assert catalog.roles[name].app_id == GROUPS.get(name), name
    grouped = {r: s.app_id for r, s in catalog.roles.items() if s.app_id}
    faust_workers = {r.name for r in workers()} - {"ledger", "sink"}
    assert set(grouped) == faust_workers
    assert grouped["gate"] == gate.DEFAULT_APP_ID
    for name in faust_workers - {"gate"}:
        shell = Shell(settings, RoleTopics(name))
        assert shell.app_id == grouped[name] and shell.app.conf.id == grouped[name], name


def test_the_sink_and_the_ledger_may_read_what_they_copy_and_audit():
    catalog = load_catalog()
    read_by = {
        role: {t.name for t in catalog.topics if role in t.readers} for role in catalog.roles
    }
    assert set(default_topics()) <= read_by["sink"]
    assert {*AUDITED_TOPICS, "flywheel.ledger"} <= read_by["ledger"]
    assert read_by["operator"] == set(catalog.names)


def test_every_role_that_consumes_may_write_the_dead_letters_it_makes():
    catalog = load_catalog()
    deadletter = catalog.topic("flywheel.deadletter")
    for role, spec in catalog.roles.items():
        if spec.app_id:  # a faust worker dead-letters what it cannot decode
            assert role in deadletter.writers, role


def test_a_role_gets_write_read_its_groups_and_its_internal_topics():
    catalog = load_catalog()
    gate_bindings = role_bindings(catalog, "gate")
    principal = "User:flywheel-gate"
    assert Binding(principal, TOPIC, "flywheel.verdicts", LITERAL, "WRITE") in gate_bindings
    assert Binding(principal, TOPIC, "flywheel.proposals", LITERAL, "READ") in gate_bindings
    assert Binding(principal, GROUP, "flywheel-gate", PREFIXED, "READ") in gate_bindings
    assert Binding(principal, GROUP, READER_GROUP_PREFIX, PREFIXED, "READ") in gate_bindings
    for operation in ("CREATE", "READ", "WRITE"):
        assert Binding(principal, TOPIC, "flywheel-gate", PREFIXED, operation) in gate_bindings
    written = {b.name for b in gate_bindings if b.operation == "WRITE"}
    assert not written & {"flywheel.releases", "flywheel.patches"}
    everything = desired_bindings(catalog)
    ordinary = {b for b in everything if b.resource in (TOPIC, GROUP)}
    assert {b.operation for b in ordinary} == {"READ", "WRITE", "CREATE"}
    assert {b.permission for b in everything} == {"allow"}
    prefixed_topics = {b.name for b in everything if b.resource == TOPIC and b.pattern == PREFIXED}
    assert not any(name.startswith("flywheel.") for name in prefixed_topics)


def test_only_the_gate_may_use_transactions_under_its_prefix():
    catalog = load_catalog()
    principal = "User:flywheel-gate"
    transactional = {
        b for b in desired_bindings(catalog) if b.resource in (TRANSACTIONAL_ID, CLUSTER)
    }
    assert transactional == {
        Binding(principal, TRANSACTIONAL_ID, "flywheel-gate", PREFIXED, "WRITE"),
        Binding(principal, TRANSACTIONAL_ID, "flywheel-gate", PREFIXED, "DESCRIBE"),
        Binding(principal, CLUSTER, "kafka-cluster", LITERAL, "IDEMPOTENT_WRITE"),
    }
    assert all(b.to_kafka() is not None for b in transactional)


def test_bindings_in_scope_are_the_catalogs_principals_topics_and_prefixes():
    catalog = load_catalog()
    other = "User:someone"
    assert in_scope(Binding("User:flywheel-sink", TOPIC, "x", LITERAL, "READ"), catalog)
    assert in_scope(Binding(other, TOPIC, "flywheel.releases", LITERAL, "WRITE"), catalog)
    assert in_scope(Binding(other, TOPIC, "*", LITERAL, "WRITE"), catalog)
    assert in_scope(Binding(other, TOPIC, "flywheel.", PREFIXED, "WRITE"), catalog)
    assert in_scope(Binding(other, GROUP, "flywheel-gate", LITERAL, "READ"), catalog)
    changelog = "flywheel-gate-decided-changelog"
    assert in_scope(Binding(other, TOPIC, changelog, LITERAL, "READ"), catalog)
    assert not in_scope(Binding(other, TOPIC, "orders", LITERAL, "WRITE"), catalog)
    assert not in_scope(Binding(other, GROUP, "billing", PREFIXED, "READ"), catalog)
    reader_groups = Binding("User:flywheel-gate", GROUP, READER_GROUP_PREFIX, PREFIXED, "READ")
    assert in_scope(reader_groups, catalog)
    without_roles = parse_catalog(
        {**MINIMAL, "roles": {}, "topics": [{"name": "a.events", "kind": "event", "partitions": 1}]}
    )
    assert not in_scope(reader_groups, without_roles)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"roles": {"admin": {}}}, "'admin' cannot name a role"),
        ({"roles": {"Writer": {}}}, "'Writer' cannot name a role"),
        ({"roles": {"reader": {}}}, "writers: unknown or repeated roles writer"),
        (
            {"roles": {"writer": {"app_id": "app"}, "reader": {"groups": ["app-x"]}}},
            "group prefix app .writer. overlaps app-x .reader.",
        ),
        (
            {"roles": {"writer": {"app_id": "flywheel-reader"}, "reader": {}}},
            "overlaps flywheel-reader-",
        ),
        ({"roles": {"writer": {"app_id": "a."}, "reader": {}}}, "covers catalog topic a.events"),
        ({"principal": "flywheel-{role}"}, "principal"),
    ],
)
def test_invalid_access_entries_are_named(changes, message):
    with pytest.raises(CatalogError, match=message):
        parse_catalog(_with(**changes))


def test_the_rights_table_lists_every_role():
    rows = {row[0]: row for row in rights_rows(parse_catalog(MINIMAL))}
    owned = "groups app-writer*; topics app-writer*"
    assert rows["writer"] == ("writer", "User:flywheel-writer", "a.events", "-", owned)
    assert rows["reader"][2:] == ("-", "a.events", f"groups {READER_GROUP_PREFIX}*")


def test_docs_operations_md_shows_the_current_rights_table():
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    block = text.split("<!-- rights -->\n", 1)[1].split("<!-- /rights -->", 1)[0]
    assert block == rights_markdown(load_catalog()), (
        "docs/operations.md is out of date: paste `flywheel topics rights --markdown`"
    )


def test_topics_rights_prints_the_table():
    result = CliRunner().invoke(topics_cli.app, ["rights", "--markdown"])
    assert result.exit_code == 0, result.output
    assert result.output == rights_markdown(load_catalog())


class _NoAuthorizer:
    """An admin client of a cluster without an authorizer: describing ACLs is refused."""

    def describe_acls(self, *_args: object, **_kwargs: object) -> Future[object]:
        future: Future[object] = Future()
        future.set_exception(KafkaException(KafkaError(KafkaError.SECURITY_DISABLED)))
        return future


def test_a_cluster_without_an_authorizer_is_named_or_passed_over():
    admin: Any = _NoAuthorizer()
    with pytest.raises(NoAuthorizerError, match="no authorizer"):
        check_access(admin, load_catalog())
    report = apply_access(admin, load_catalog(), require_authorizer=False)
    assert report.no_authorizer and "not applied" in report.summary()
