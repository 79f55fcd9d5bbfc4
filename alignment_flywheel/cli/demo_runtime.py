"""The local stack of `flywheel demo`: broker, topics, governance workers, release follower.

Rules:

* The broker: the local one is started (and stopped at the end unless ``keep``) only when the
  settings name no cluster; with ``FLYWHEEL_BOOTSTRAP_SERVERS`` set the demo uses that cluster
  and starts no broker.
* Each run has its own directory ``<state_dir>/demo/<stamp>``: keys, trust root, worker state and
  logs, the leaf store of the ledger, and (unless a ClickHouse URL is configured) the embedded
  chDB data. It is removed at the end unless ``keep``.
* Topics and ACLs: the catalog is provisioned (a cluster without an authorizer gets the topics
  only). Workers: intake, verification, triage, refinement, release (fast rollout policy), drift,
  red team and the ledger, plus the demo approver unless patches are approved by hand, each as its
  own Kafka principal; see :mod:`alignment_flywheel.stack.fleet`. The demo process itself (the
  simulated agents, the live view, the sink) connects with the settings' principal.
  :meth:`DemoStack.down` stops every one of them (unless ``keep``), also after Ctrl-C or a
  failure.
* ClickHouse is opened only by this process, at the end (:func:`store_and_report`): the sink
  reads the topics up to their current end, then the report is rendered from the same client.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from alignment_flywheel.analytics.report import render_report
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.clickhouse.sink import ClickHouseSink, SinkOptions
from alignment_flywheel.kafka.catalog import load_catalog
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.oracle.artifact import OracleArtifact
from alignment_flywheel.oracle.loader import load_oracle
from alignment_flywheel.release.follower import ReleaseFollower
from alignment_flywheel.release.trusted import follower_check
from alignment_flywheel.stack.access import provision
from alignment_flywheel.stack.broker import LocalBroker
from alignment_flywheel.stack.clickhouse import clickhouse_client, redact
from alignment_flywheel.stack.fleet import GovernanceStack, governance_settings

EXTRAS = ("drift", "redteam", "ledger")
SINK_NAME = "demo"


@dataclass
class DemoStack:
    """Everything the demo starts, in the order it starts it; :meth:`down` undoes it."""

    base: Settings
    console: Console
    approve_by_hand: bool = False
    keep: bool = False
    run_dir: Path = field(init=False)
    settings: Settings = field(init=False)
    broker: LocalBroker | None = None
    workers: GovernanceStack | None = None
    follower: ReleaseFollower | None = None
    genesis: OracleArtifact | None = None

    def __post_init__(self) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self.run_dir = self.base.state_dir / "demo" / stamp

    def up(self) -> None:
        if self.base.uses_local_broker:
            self._start_broker()
        bootstrap = self.base.effective_bootstrap_servers
        with self.console.status("provisioning topics and ACLs"):
            topics, access = provision(
                admin_client(self.base), load_catalog(), require_authorizer=False
            )
        self.console.print(f"topics on {bootstrap}: {topics.summary()}; {access.summary()}")
        run = governance_settings(
            self.base, self.run_dir, approve_automatically=not self.approve_by_hand
        )
        # ClickHouse outlives the run directory: where `flywheel serve` and `report` look
        self.settings = run.model_copy(
            update={"clickhouse_url": self.base.effective_clickhouse_url}
        )
        self.workers = GovernanceStack(self.settings, self.run_dir / "logs", extras=EXTRAS)
        self.workers.start()
        with self.console.status("waiting for the workers to join their consumer groups"):
            ready_s = self.workers.wait_ready()
        self.console.print(
            f"workers ready in {ready_s:.1f} s: {', '.join(self.workers.processes)} "
            f"(logs in {self.run_dir / 'logs'})"
        )
        self.genesis = load_oracle(self.settings).artifact
        with self.console.status("reading the release log"):
            check = follower_check(self.settings)
            self.follower = ReleaseFollower(self.settings, self.genesis, check=check).start()

    def _start_broker(self) -> None:
        self.broker = LocalBroker(self.base)
        with self.console.status("starting the local Kafka broker (first run fetches its jars)"):
            started = time.perf_counter()
            self.broker.start()
        self.console.print(f"broker ready in {time.perf_counter() - started:.1f} s")

    def stop_workers(self) -> None:
        """Stop the follower and (unless ``keep``) the worker processes."""
        if self.follower is not None:
            self.follower.stop()
            self.follower = None
        if self.workers is not None and not self.keep:
            with self.console.status("stopping the governance workers"):
                self.workers.stop()

    def down(self) -> None:
        """Stop everything this run started, unless ``keep``; remove the run directory."""
        self.stop_workers()
        if self.keep:
            self.console.print(f"stack left up (--keep): run directory {self.run_dir}")
            return
        if self.broker is not None:
            with self.console.status("stopping the local broker"):
                self.broker.stop()
            self.console.print("local broker stopped (run with --keep to leave it up)")
        shutil.rmtree(self.run_dir, ignore_errors=True)


def store_and_report(settings: Settings, out_dir: Path, console: Console) -> Path:
    """Sink every event topic into ClickHouse up to its current end, then render the report."""
    options = SinkOptions(name=SINK_NAME)
    with (
        console.status("storing the events in ClickHouse"),
        ClickHouseSink(settings, lambda: clickhouse_client(settings), options) as sink,
    ):
        stats = sink.run(until_end=True, idle_timeout=60)
    console.print(f"ClickHouse: {stats.rows} rows stored in {stats.batches} batches")
    with console.status("rendering the report"), clickhouse_client(settings) as client:
        return render_report(
            client, out_dir.resolve(), source=redact(settings.effective_clickhouse_url)
        )
