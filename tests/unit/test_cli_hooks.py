"""The run commands' hidden hooks: loading ``module:callable``, the errors, the refusal in
production, and the consumer-group timeouts the settings give every worker."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from alignment_flywheel.cli.hooks import hooked, load_hook
from alignment_flywheel.cli.main import app
from alignment_flywheel.errors import ConfigError
from alignment_flywheel.processors.app import group_timeouts
from tests.support.doubles import ScriptedDecider, scripted


def test_a_hook_resolves_to_its_callable_and_replaces_the_built_component(settings_factory):
    settings = settings_factory()
    assert load_hook(settings, "tests.support.doubles:scripted") is scripted
    assert isinstance(hooked(settings, "tests.support.doubles:scripted", object()), ScriptedDecider)
    built = object()
    assert hooked(settings, None, built) is built


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tests.support.doubles", "is not module:callable"),
        ("no.such.module:x", "does not resolve"),
        ("tests.support.doubles:no_such_double", "does not resolve"),
        ("tests.support.doubles:DELAY_ENV", "is not callable"),
    ],
)
def test_a_hook_that_does_not_resolve_is_a_config_error(settings_factory, path, message):
    with pytest.raises(ConfigError, match=message):
        load_hook(settings_factory(), path)


def test_hooks_are_refused_in_production(settings_factory):
    settings = settings_factory(deployment="production")
    with pytest.raises(ConfigError, match="refused"):
        load_hook(settings, "tests.support.doubles:scripted")


@pytest.mark.parametrize(
    ("command", "option"),
    [
        ("gate", "--decider"),
        ("intake", "--decider"),
        ("verify", "--judge"),
        ("redteam", "--judge"),
        ("drift", "--watch"),
        ("autoapprove", "--approver"),
    ],
)
def test_the_hook_options_are_hidden_from_help(command, option):
    shown = CliRunner().invoke(app, [command, "run", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "--app-id" in shown.output and option not in shown.output


def test_a_hook_that_does_not_resolve_stops_the_command_with_one_line(settings_factory):
    settings_factory()
    result = CliRunner().invoke(app, ["drift", "run", "--watch", "tests.support.doubles:nope"])
    assert result.exit_code == 2, "a hook that does not resolve is configuration (exit code 2)"
    assert "error: hook tests.support.doubles:nope does not resolve" in result.output
    assert "ConfigError" not in result.output


def test_the_group_timeouts_come_from_the_settings(settings_factory):
    assert group_timeouts(settings_factory()) == {}
    settings = settings_factory(worker_session_timeout_s=6, worker_heartbeat_interval_s=1)
    assert group_timeouts(settings) == {
        "broker_session_timeout": 6,
        "broker_heartbeat_interval": 1,
    }
