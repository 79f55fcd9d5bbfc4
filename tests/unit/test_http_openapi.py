"""The committed OpenAPI spec (docs/openapi.yaml) is the app's own: regenerate it with
``flywheel serve --openapi > docs/openapi.yaml`` when this fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml
from typer.testing import CliRunner

from alignment_flywheel.cli import main as cli
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.http import create_http_app, openapi_spec, openapi_yaml
from tests.unit.test_sdk_fakes import ToolEnforcer

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def test_the_committed_spec_is_the_apps(settings_factory: Callable[..., Settings]) -> None:
    app = create_http_app(settings_factory(), enforcer=ToolEnforcer(), publish=False)
    committed = yaml.safe_load(SPEC.read_text())
    assert committed == app.openapi(), "docs/openapi.yaml drifted: run flywheel serve --openapi"


def test_the_spec_text_is_what_the_generator_writes(
    settings_factory: Callable[..., Settings],
) -> None:
    assert SPEC.read_text() == openapi_yaml(openapi_spec(settings_factory()))


def test_the_spec_documents_every_endpoint_and_the_error_body() -> None:
    spec = yaml.safe_load(SPEC.read_text())
    assert set(spec["paths"]) == {
        "/v1/decisions",
        "/v1/proposals",
        "/v1/incidents",
        "/v1/sessions",
        "/v1/sessions/{session_id}/results",
        "/v1/health",
        "/v1/oracle",
    }
    accepted = spec["paths"]["/v1/proposals"]["post"]["responses"]
    assert set(accepted) == {"202", "400", "413", "422", "503"}
    error = spec["components"]["schemas"]["ErrorDetail"]
    assert set(error["properties"]) == {"type", "field", "message"}


def test_flywheel_serve_openapi_prints_the_committed_spec(
    settings_factory: Callable[..., Settings],
) -> None:
    settings_factory()  # isolates the environment
    result = CliRunner().invoke(cli.app, ["serve", "--openapi"])
    assert result.exit_code == 0, result.output
    assert result.stdout == SPEC.read_text()
