"""`flywheel serve`: the HTTP ingest endpoint in the foreground, with uvicorn.

Defaults come from the settings (``http_host``, ``http_port``); the enforcer is built from the
settings (``oracle_path``, ``risk_policy_path``). Stops on SIGTERM or Ctrl-C, after publishing
what is left (see :mod:`alignment_flywheel.connectors.http.app`). ``--openapi`` prints the
endpoint's OpenAPI spec as YAML instead of serving (``docs/openapi.yaml`` is made with it).
"""

from __future__ import annotations

from typing import Annotated

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors


@reports_errors
def serve(
    ctx: typer.Context,
    *,
    host: Annotated[str | None, typer.Option("--host", help="Default: settings.http_host.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Default: settings.http_port.")] = None,
    openapi: Annotated[
        bool, typer.Option("--openapi", help="Print the OpenAPI spec (YAML) and exit.")
    ] = False,
    loglevel: Annotated[str, typer.Option("--loglevel")] = "info",
) -> None:
    """Serve the HTTP ingest endpoint (decisions and fire-and-forget proposals)."""
    import uvicorn  # noqa: PLC0415

    from alignment_flywheel.connectors.http import (  # noqa: PLC0415
        create_http_app,
        openapi_spec,
        openapi_yaml,
    )

    settings = cli_context(ctx).settings
    if openapi:
        typer.echo(openapi_yaml(openapi_spec(settings)), nl=False)
        return
    app = create_http_app(settings)
    uvicorn.run(
        app,
        host=host or settings.http_host,
        port=settings.http_port if port is None else port,
        log_level=loglevel,
    )
