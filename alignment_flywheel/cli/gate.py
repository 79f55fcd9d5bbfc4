"""`flywheel gate run`: one gate worker in the foreground.

The worker decides every proposal on the proposals topic with the enforcer built from the settings
(``oracle_path``, ``risk_policy_path``) and stops on SIGTERM or Ctrl-C. Workers are separate
processes: to scale, start more with the same ``--app-id`` (the consumer group); they split the
partitions of the proposals topic between them. A failure stops the worker with an error;
nothing restarts it silently. The partition count of the gate's state topics is read from the
proposals topic on the cluster, so they stay co-partitioned with it. Unless ``--no-follow``, the
worker first folds the patch and release topics (so a restarted worker starts on the same digests
as every other) and then follows them, swapping in each new deployment (stable, and a candidate
in shadow or canary) as its release event arrives.

``--decider module:callable`` (hidden; a test hook, see :mod:`alignment_flywheel.cli.hooks`) is
called with the enforcer built from the settings and the worker decides with what it returns,
e.g. ``--decider tests.support.doubles:scripted``; releases are still deployed into the enforcer.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.following import following_enforcer
from alignment_flywheel.cli.hooks import hook_option, hooked
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import KafkaTransportError
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.consumer import partitions_of
from alignment_flywheel.processors.gate import DEFAULT_APP_ID, GateTopics, build_gate
from alignment_flywheel.release.follower import ReleaseTopics

app = typer.Typer(help="The gate: decides proposals on Kafka.", no_args_is_help=True)
_DEFAULTS = GateTopics()
_RELEASES = ReleaseTopics()


@app.command("run")
@reports_errors
def run(
    ctx: typer.Context,
    *,
    app_id: Annotated[
        str, typer.Option("--app-id", help="Consumer group; workers sharing it share the load.")
    ] = DEFAULT_APP_ID,
    proposals: Annotated[str, typer.Option("--proposals-topic")] = _DEFAULTS.proposals,
    verdicts: Annotated[str, typer.Option("--verdicts-topic")] = _DEFAULTS.verdicts,
    reviews: Annotated[str, typer.Option("--reviews-topic")] = _DEFAULTS.reviews,
    dead_letters: Annotated[str, typer.Option("--dead-letter-topic")] = _DEFAULTS.dead_letters,
    follow: Annotated[
        bool, typer.Option("--follow/--no-follow", help="Follow oracle releases on Kafka.")
    ] = True,
    patches: Annotated[str, typer.Option("--patches-topic")] = _RELEASES.patches,
    releases: Annotated[str, typer.Option("--releases-topic")] = _RELEASES.releases,
    loglevel: Annotated[str, typer.Option("--loglevel")] = "warning",
    decider: Annotated[str | None, hook_option("--decider", "enforcer")] = None,
) -> None:
    """Run one gate worker until SIGTERM/Ctrl-C (or until an agent fails)."""
    settings = cli_context(ctx).settings
    topics = GateTopics(
        proposals=proposals,
        verdicts=verdicts,
        reviews=reviews,
        dead_letters=dead_letters,
        partitions=partition_count(settings, proposals),
    )
    enforcer, follower = following_enforcer(
        settings, follow=follow, patches=patches, releases=releases
    )
    gate = build_gate(settings, hooked(settings, decider, enforcer), app_id=app_id, topics=topics)
    logging.getLogger("alignment_flywheel").setLevel(loglevel.upper())
    try:
        gate.run(stop_on_signals())
    finally:
        if follower is not None:
            follower.stop()


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM and SIGINT (the worker finishes its batch, then stops)."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def partition_count(settings: Settings, topic: str) -> int:
    """The partition count of a topic on the cluster; raises if the topic does not exist."""
    try:
        return len(partitions_of(admin_client(settings), topic, 30))
    except KafkaTransportError as exc:
        where = settings.effective_bootstrap_servers
        if _unreachable(str(exc)):
            raise KafkaTransportError(
                f"cannot reach Kafka at {where}: start the broker (flywheel infra up) or set "
                "bootstrap_servers, then run the gate again"
            ) from None
        raise KafkaTransportError(
            f"{exc} on {where}; create it first (flywheel topics apply)"
        ) from None


def _unreachable(text: str) -> bool:
    """True when a metadata failure says the broker did not answer (not a missing topic)."""
    return any(mark in text for mark in ("_TRANSPORT", "transport failure", "_TIMED_OUT"))
