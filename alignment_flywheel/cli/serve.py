"""`flywheel serve`: the HTTP ingest endpoint in the foreground, with uvicorn; `flywheel tokens`:
its API tokens.

Defaults come from the settings (``http_host``, ``http_port``); the enforcer is built from the
settings (``oracle_path``, ``risk_policy_path``). Stops on SIGTERM or Ctrl-C, after publishing
what is left (see :mod:`alignment_flywheel.connectors.http.app`). ``--openapi`` prints the
endpoint's OpenAPI spec as YAML instead of serving (``docs/openapi.yaml`` is made with it).

Rules:

* ``serve`` needs the token store (``settings.effective_http_tokens_path``, made by ``flywheel
  tokens new``) and refuses to start without one. ``--insecure-no-auth`` (or
  ``FLYWHEEL_HTTP_INSECURE_NO_AUTH``) serves without tokens, in development only: the settings
  refuse it in production.
* Unless ``--no-follow``, ``serve`` follows the patch and release topics like ``flywheel gate
  run``: it starts serving once it has read them (the newest verified stable, and the candidate
  per the rollout) and swaps in every new release.
* ``tokens new NAME --proposer ID`` and/or ``--reporter`` prints the new token once, on the last
  line of stdout; ``--rotate`` replaces an existing one. ``tokens revoke NAME`` takes effect on a
  running server at its next request. ``tokens list`` never shows a secret.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.output import Column, OutputFormat, OutputOption, emit
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import ConfigError
from alignment_flywheel.release.follower import ReleaseTopics

if TYPE_CHECKING:  # the HTTP stack (FastAPI) is imported only by the commands that use it
    from alignment_flywheel.connectors.http.auth import ApiAuth
    from alignment_flywheel.connectors.http.tokens import TokenStore

log = logging.getLogger(__name__)
_RELEASES = ReleaseTopics()

tokens_app = typer.Typer(help="API tokens of `flywheel serve`.", no_args_is_help=True)


def api_auth(settings: Settings, insecure: bool) -> ApiAuth | None:
    """The token check ``serve`` runs with; None only for an explicit development opt-out."""
    from alignment_flywheel.connectors.http.auth import ApiAuth  # noqa: PLC0415

    if insecure or settings.http_insecure_no_auth:
        if settings.deployment == "production":
            raise ConfigError("--insecure-no-auth is refused in production")
        log.warning("serving WITHOUT API tokens (--insecure-no-auth): development only")
        return None
    path = settings.effective_http_tokens_path
    if not path.is_file():
        raise ConfigError(
            f"no API tokens at {path}: create one with `flywheel tokens new NAME --proposer ID` "
            "(or --reporter), or serve without tokens in development with --insecure-no-auth"
        )
    return ApiAuth.from_settings(settings)


@reports_errors
def serve(
    ctx: typer.Context,
    *,
    host: Annotated[str | None, typer.Option("--host", help="Default: settings.http_host.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Default: settings.http_port.")] = None,
    openapi: Annotated[
        bool, typer.Option("--openapi", help="Print the OpenAPI spec (YAML) and exit.")
    ] = False,
    insecure_no_auth: Annotated[
        bool,
        typer.Option("--insecure-no-auth", help="Serve without API tokens (development only)."),
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow/--no-follow", help="Follow oracle releases on Kafka.")
    ] = True,
    patches: Annotated[str, typer.Option("--patches-topic")] = _RELEASES.patches,
    releases: Annotated[str, typer.Option("--releases-topic")] = _RELEASES.releases,
    loglevel: Annotated[str, typer.Option("--loglevel")] = "info",
) -> None:
    """Serve the HTTP ingest endpoint (decisions, fire-and-forget proposals, incidents) and the
    review console."""
    import uvicorn  # noqa: PLC0415

    from alignment_flywheel.connectors import http  # noqa: PLC0415

    settings = cli_context(ctx).settings
    if openapi:
        typer.echo(http.openapi_yaml(http.openapi_spec(settings)), nl=False)
        return
    auth = api_auth(settings, insecure_no_auth)
    topics = ReleaseTopics(patches, releases) if follow else None
    app = http.create_http_app(settings, auth=auth, follow=topics)
    uvicorn.run(
        app,
        host=host or settings.http_host,
        port=settings.http_port if port is None else port,
        log_level=loglevel,
    )


def _store(ctx: typer.Context) -> TokenStore:
    from alignment_flywheel.connectors.http.tokens import TokenStore  # noqa: PLC0415

    return TokenStore(cli_context(ctx).settings.effective_http_tokens_path)


@tokens_app.command("new")
@reports_errors
def new_token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The caller's identity (reporter of incidents).")],
    *,
    proposer: Annotated[
        str | None, typer.Option("--proposer", help="May propose, as this proposer id only.")
    ] = None,
    reporter: Annotated[bool, typer.Option("--reporter", help="May report incidents.")] = False,
    rotate: Annotated[bool, typer.Option("--rotate", help="Replace NAME's token.")] = False,
) -> None:
    """Make an API token and print it (once: only its hash is kept)."""
    store = _store(ctx)
    token = store.issue(name, proposer=proposer, reporter=reporter, rotate=rotate)
    kinds = [f"proposer {proposer}"] if proposer is not None else []
    kinds += ["reporter"] if reporter else []
    typer.echo(f"token {name} ({', '.join(kinds)}) saved in {store.path}; shown once:", err=True)
    typer.echo(token)


@tokens_app.command("revoke")
@reports_errors
def revoke_token(ctx: typer.Context, name: str) -> None:
    """Revoke NAME's token (a running server refuses it from its next request)."""
    store = _store(ctx)
    if not store.revoke(name):
        raise ConfigError(f"no token named {name!r} in {store.path}")
    cli_context(ctx).console.print(f"token {name} revoked")


@tokens_app.command("list")
@reports_errors
def list_tokens(ctx: typer.Context, output: OutputOption = OutputFormat.TABLE) -> None:
    """The tokens: name, kinds, when made (never the secret)."""
    store = _store(ctx)
    rows = []
    for caller, created in store.listing():
        kinds = [f"proposer {caller.proposer}"] if caller.proposer is not None else []
        kinds += ["reporter"] if caller.reporter else []
        rows.append({"name": caller.name, "kinds": ", ".join(kinds), "created": created})
    emit(
        rows,
        (Column("name", "name", 24), Column("kinds", "kinds", 32), Column("created", "made", 20)),
        output=output,
        title=f"{len(rows)} token(s) in {store.path}",
        empty=f"no tokens in {store.path}",
    )
