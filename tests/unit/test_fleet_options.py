"""The governance stack's command lines: extra options per worker, checked against the workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignment_flywheel.config import load_settings
from alignment_flywheel.errors import ConfigError
from alignment_flywheel.stack.fleet import WORKERS, GovernanceStack

POLICY = Path("/x/rollout.json")


def _stack(tmp_path: Path, **fields: object) -> GovernanceStack:
    settings = load_settings(state_dir=tmp_path, auto_approve_keys=("demo-approver",))
    return GovernanceStack(settings, tmp_path / "logs", **fields)  # type: ignore[arg-type]


def test_options_are_appended_to_their_workers_command_lines(tmp_path: Path) -> None:
    options = {
        "refine": ["--min-members", "1", "--norms", "/x/norms.yaml"],
        "verify": ["--norms", "/x/norms.yaml"],
    }
    commands = _stack(tmp_path, options=options).commands(POLICY)
    assert commands["refine"] == [
        *WORKERS["refine"],
        "--min-members",
        "1",
        "--norms",
        "/x/norms.yaml",
    ]
    assert commands["verify"] == ["verify", "run", "--norms", "/x/norms.yaml"]
    assert commands["triage"] == WORKERS["triage"]
    assert commands["release"] == ["release", "run", "--policy", str(POLICY)]
    assert WORKERS["verify"] == ["verify", "run"]  # the shared defaults are not changed


def test_without_options_the_commands_are_the_defaults(tmp_path: Path) -> None:
    commands = _stack(tmp_path).commands(POLICY)
    assert {name: commands[name] for name in WORKERS} == WORKERS


@pytest.mark.parametrize("name", ["verifier", "drift"])
def test_options_for_a_worker_that_is_not_started_are_refused(tmp_path: Path, name: str) -> None:
    stack = _stack(tmp_path, options={name: ["--x"]})
    with pytest.raises(ConfigError, match=f"options for {name}"):
        stack.commands(POLICY)
    with pytest.raises(ValueError, match="workers started: autoapprove, intake, refine"):
        stack.commands(POLICY)


def test_options_for_an_extra_worker_apply_when_it_is_started(tmp_path: Path) -> None:
    stack = _stack(tmp_path, extras=("drift",), options={"drift": ["--warmup", "5"]})
    assert stack.commands(POLICY)["drift"][-2:] == ["--warmup", "5"]


def test_each_worker_connects_as_the_role_of_its_name(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    env = stack.env(role="refine")
    assert env["FLYWHEEL_KAFKA_ROLE"] == "refine"
    assert env["FLYWHEEL_KAFKA_CREDENTIALS_DIR"] == str(tmp_path.resolve() / "kafka/credentials")
    assert env["FLYWHEEL_KAFKA_USERNAME"] == ""  # nothing inherited chooses another principal
    assert stack.env()["FLYWHEEL_KAFKA_ROLE"] == "admin"
