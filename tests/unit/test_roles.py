"""The role registry agrees with the topic catalog, the CLI and the code it names."""

from __future__ import annotations

import importlib

import pytest
import typer
from typer.testing import CliRunner

from alignment_flywheel import roles
from alignment_flywheel.cli.main import app
from alignment_flywheel.cli.worker_options import worker_command
from alignment_flywheel.kafka.catalog import load_catalog
from alignment_flywheel.roles import ROLES, Role, Scaling

CATALOG = load_catalog()
WORKERS = [r.name for r in roles.workers()]


def test_the_registry_holds_exactly_the_catalog_roles() -> None:
    assert set(ROLES) == set(CATALOG.roles)
    assert all(name == r.name for name, r in ROLES.items())


@pytest.mark.parametrize("name", list(ROLES))
def test_every_event_a_role_reads_or_writes_is_routed_by_the_catalog(name: str) -> None:
    role = ROLES[name]
    assert role.reads or role.writes
    for event in (*role.reads, *role.writes):
        assert CATALOG.topic_for(event) in CATALOG.names


@pytest.mark.parametrize("name", list(ROLES))
def test_a_roles_topics_are_exactly_those_the_catalog_lets_it_read_and_write(name: str) -> None:
    role = ROLES[name]
    readable = {t.name for t in CATALOG.topics if name in t.readers}
    writable = {t.name for t in CATALOG.topics if name in t.writers}
    assert set(role.topics_read) == readable
    assert set(role.topics_written) == writable


@pytest.mark.parametrize("name", list(ROLES))
def test_a_roles_group_is_its_catalog_app_id(name: str) -> None:
    assert ROLES[name].group == CATALOG.roles[name].app_id


@pytest.mark.parametrize("name", WORKERS)
def test_every_worker_names_a_builder_that_exists(name: str) -> None:
    builder = ROLES[name].builder
    assert builder is not None
    module, _, attribute = builder.partition(":")
    assert callable(getattr(importlib.import_module(module), attribute))


@pytest.mark.parametrize("name", WORKERS)
def test_every_worker_command_is_a_cli_command(name: str) -> None:
    result = CliRunner().invoke(app, [*ROLES[name].command, "--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", WORKERS)
def test_a_worker_runs_from_the_cli_module_of_its_name(name: str) -> None:
    module = importlib.import_module(f"alignment_flywheel.cli.{name}")
    assert ROLES[name].command == (name, "run")
    assert "run" in {command.name for command in module.app.registered_commands}


def test_a_partitioned_role_scales_with_an_event_it_reads() -> None:
    for role in ROLES.values():
        if role.scaling is Scaling.PARTITIONED:
            assert role.scales_with in role.reads, role.name
            assert role.instances == f"up to {roles.partitions_for(role.scales_with)}"
        else:
            assert role.scales_with is None, role.name


def test_only_workers_run_and_every_worker_runs_somehow() -> None:
    for role in ROLES.values():
        assert bool(role.command) == (role.scaling is not Scaling.IN_PROCESS), role.name


def test_lookups_name_what_is_missing() -> None:
    with pytest.raises(Exception, match="no role named nobody"):
        roles.role("nobody")
    with pytest.raises(Exception, match="has no consumer group"):
        roles.group_for("ledger")
    with pytest.raises(Exception, match="carries NoSuchEvent"):
        roles.topic_for("NoSuchEvent")


def test_topics_and_partitions_come_from_the_catalog() -> None:
    for spec in CATALOG.topics:
        for event in spec.events:
            assert roles.topic_for(event) == spec.name
            assert roles.partitions_for(event) == spec.partitions


def test_a_role_is_a_frozen_record() -> None:
    role = ROLES["gate"]
    assert isinstance(role, Role)
    with pytest.raises(AttributeError):
        role.name = "other"  # type: ignore[misc]


def test_a_workers_topics_are_the_catalogs_unless_overridden() -> None:
    topics = roles.RoleTopics("drift", {"findings": "t.findings"})
    assert topics.of("FindingRaised") == "t.findings"
    assert topics.of("ProposalSubmitted") == roles.topic_for("ProposalSubmitted")
    assert topics.of("SessionStarted") == roles.topic_for("ProposalSubmitted")
    assert list(topics.by_short_name()) == [
        "proposals",
        "verdicts",
        "drift",
        "findings",
        "deadletter",
    ]
    with pytest.raises(Exception, match="reads or writes no topic patches"):
        roles.RoleTopics("drift", {"patches": "t.patches"})


@pytest.mark.parametrize("name", [n for n in WORKERS if n not in ("ledger", "sink")])
def test_a_run_command_has_an_option_for_each_topic_of_its_role(name: str) -> None:
    result = CliRunner().invoke(app, [*ROLES[name].command, "--help"], env={"COLUMNS": "200"})
    options = {word for word in result.output.split() if word.endswith("-topic")}
    shorts = roles.RoleTopics(name).by_short_name()
    assert options == {f"--{'dead-letter' if s == 'deadletter' else s}-topic" for s in shorts}
    assert "--app-id" in result.output


def test_a_run_command_receives_the_topics_it_was_given() -> None:
    received: list[tuple[str, roles.RoleTopics]] = []
    command = typer.Typer()

    @command.command()
    @worker_command("triage")
    def run(*, app_id: str, topics: roles.RoleTopics, threshold: float = 0.5) -> None:
        received.append((app_id, topics))

    result = CliRunner().invoke(command, ["--clusters-topic", "t.c", "--threshold", "0.7"])
    assert result.exit_code == 0, result.output
    [(app_id, topics)] = received
    assert app_id == roles.group_for("triage")
    assert topics.of("ClusterUpdated") == "t.c"
    assert topics.of("FindingRaised") == roles.topic_for("FindingRaised")
