"""`flywheel demo`: the main job. The local stack and the flywheel turning, live, in a few minutes.

Steps: start the broker unless a cluster is configured; provision the topic catalog; start the
governance workers (see :mod:`alignment_flywheel.cli.demo_runtime`); run the scenario of
:mod:`alignment_flywheel.demo.scenario` (three proposers, a new unsafe behaviour reported as
incidents, a patch released through shadow, canary and stable, then drift) with a live view;
verify the audit ledger; store the events in ClickHouse and render the HTML report, with
screenshots of the console and the report next to it (:mod:`.demo_shots`); print the summary
(and write it as JSON with ``--json-summary``). ClickHouse is the base settings' one (by default
``<state_dir>/clickhouse``, where ``flywheel serve`` and ``flywheel report`` look), not the run
directory, and is kept; the demo prints the exact commands that show it again. Unless
``--no-hotfix``, the run ends with a hasty over-broad patch that the staged release rolls back
by itself
(:mod:`alignment_flywheel.demo.hasty`).

Patches are approved by the *demo approver (automatic)*, a key marked as such in every approval,
unless ``--approve-by-hand``: patches then wait for a person (``flywheel patch approve``, shown
live, or the review console) until the release or ``--release-timeout``. Everything started is
stopped at the end, after Ctrl-C or SIGTERM too, unless ``--keep``. Exit code 0 when a patch
reached stable (or, by hand, was proposed), no unsafe call was allowed after the release and the
ledger verified; 1 otherwise; 130 after Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.cli.demo_runtime import DemoStack, store_and_report
from alignment_flywheel.cli.demo_shots import take_screenshots
from alignment_flywheel.demo.ledger import LedgerOutcome, verify_demo_ledger
from alignment_flywheel.demo.progress import DEMO_APPROVER, GovernanceWatch, Progress
from alignment_flywheel.demo.proposers import MIXES
from alignment_flywheel.demo.scenario import FAST, Scenario, ScenarioPlan
from alignment_flywheel.demo.summary import live_panel, summary_document, summary_tables
from alignment_flywheel.errors import FlywheelError
from alignment_flywheel.stack.clickhouse import redact
from alignment_flywheel.stack.fleet import APPROVER_KEY, LEDGER_KEY

SETTLE_S = 4.0
INTERRUPTED = 130


@reports_errors
def demo(
    ctx: typer.Context,
    *,
    keep: Annotated[bool, typer.Option("--keep", help="Leave the stack running.")] = False,
    fast: Annotated[bool, typer.Option("--fast", help="Less traffic, shorter waits.")] = False,
    approve_by_hand: Annotated[
        bool, typer.Option("--approve-by-hand", help="Patches wait for a person's approval.")
    ] = False,
    report_dir: Annotated[
        Path, typer.Option("--report-dir", help="Where the HTML report is written.")
    ] = Path("flywheel-report"),
    json_summary: Annotated[
        Path | None, typer.Option("--json-summary", help="Also write the summary as JSON.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated traffic.")] = 7,
    hotfix: Annotated[
        bool, typer.Option("--hotfix/--no-hotfix", help="End with a hasty patch to roll back.")
    ] = True,
    release_timeout: Annotated[
        float | None,
        typer.Option("--release-timeout", min=1, help="Seconds to wait for a release [240]."),
    ] = None,
) -> None:
    """Run the flywheel on the local stack: proposers, unsafe behaviour, patch, release, report."""
    cli = cli_context(ctx)
    console = cli.console
    plan = replace(
        FAST if fast else ScenarioPlan(), seed=seed, hotfix=hotfix and not approve_by_hand
    )
    if release_timeout is not None:
        plan = replace(plan, timeout_s=release_timeout)
    stack = DemoStack(cli.settings, console, approve_by_hand=approve_by_hand, keep=keep)
    progress = Progress()
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        stack.up()
        _introduce(console, approve_by_hand)
        _run_live(stack, progress, plan, console)
        document = _finish(stack, progress, report_dir, console)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: stopping everything the demo started")
        raise typer.Exit(INTERRUPTED) from None
    finally:
        stack.down()
    for table in summary_tables(document):
        console.print(table)
    if json_summary is not None:
        json_summary.write_text(json.dumps(document, indent=2))
    if not _succeeded(document, approve_by_hand):
        raise typer.Exit(1)


def _interrupted(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the demo like Ctrl-C: everything it started stops


def _introduce(console: Console, by_hand: bool) -> None:
    for mix in MIXES:
        console.print(f"proposer [bold]{mix.proposer}[/]: {', '.join(mix.tools)}")
    if by_hand:
        console.print("approvals: [yellow]by hand[/] (flywheel patch approve, or the console)")
    else:
        console.print(f"approvals: [bold]{DEMO_APPROVER}[/], a demo key; never in production")


def _run_live(stack: DemoStack, progress: Progress, plan: ScenarioPlan, console: Console) -> None:
    assert stack.follower is not None and stack.genesis is not None
    watch = GovernanceWatch(stack.settings, progress, _started(progress)).start()
    scenario = Scenario(stack.settings, progress, stack.follower, stack.genesis, plan)
    worker = threading.Thread(target=scenario.run, name="demo-scenario", daemon=True)
    try:
        with Live(live_panel(progress), console=console, refresh_per_second=4) as live:
            worker.start()
            while worker.is_alive():
                worker.join(0.25)
                live.update(live_panel(progress, _note(stack, progress)))
            scenario.stop.wait(SETTLE_S)
            live.update(live_panel(progress, _note(stack, progress)))
        if scenario.error is not None:
            raise scenario.error
    except KeyboardInterrupt:
        scenario.stop.set()
        worker.join(30)
        raise
    finally:
        scenario.close()
        watch.close()


def _started(progress: Progress) -> datetime:
    return datetime.fromtimestamp(progress.started, UTC)


def _note(stack: DemoStack, progress: Progress) -> str:
    """Workers that exited; by hand, how to approve the newest patch waiting for approval."""
    failed = stack.workers.failed() if stack.workers is not None else {}
    if failed:
        return f"[red]workers exited: {failed}[/]"
    with progress.lock:
        waiting = [t for t in progress.patches.values() if not t.approved_by]
    if not stack.approve_by_hand or not waiting:
        return ""
    return (
        f"[yellow]waiting for approval[/]: FLYWHEEL_STATE_DIR={stack.run_dir} flywheel patch "
        f"approve {waiting[-1].patch_id} --key {APPROVER_KEY} (or in the console)"
    )


def _finish(
    stack: DemoStack, progress: Progress, report_dir: Path, console: Console
) -> dict[str, Any]:
    with progress.lock:
        progress.phase = "verifying"
    stack.stop_workers()
    ledger: LedgerOutcome | None = None
    try:
        with console.status("verifying the audit ledger"):
            ledger = verify_demo_ledger(stack.settings, LEDGER_KEY)
    except FlywheelError as exc:
        console.print(f"[red]ledger not verified[/]: {exc}")
    report = None
    try:
        report = store_and_report(stack.settings, report_dir, console)
        console.print(f"report: {report}")
    except FlywheelError as exc:
        console.print(f"[red]no report[/]: {exc}")
    if report is not None:
        _screenshots(stack, report, console)
    _where_to_look(stack, report_dir, console)
    return summary_document(progress, ledger, report)


def _screenshots(stack: DemoStack, report: Path, console: Console) -> None:
    try:
        with console.status("taking screenshots of the console and the report"):
            shots = take_screenshots(stack.settings, report)
    except Exception as exc:  # a browser that crashes must not cost the demo its summary
        console.print(f"[yellow]no screenshots[/]: the browser failed: {exc}")
        return
    if shots.missing:
        console.print(f"[yellow]no screenshots[/]: {shots.missing}", soft_wrap=True)
        return
    for path in shots.files:
        console.print(f"screenshot: {path}", soft_wrap=True)


def _where_to_look(stack: DemoStack, report_dir: Path, console: Console) -> None:
    """The exact commands that show this run's ClickHouse data again."""
    state = f"FLYWHEEL_STATE_DIR={stack.base.state_dir} "
    url = stack.settings.effective_clickhouse_url
    console.print(f"ClickHouse data kept at {redact(url)}; to look at it again:", soft_wrap=True)
    console.print(f"  {state}flywheel report --out {report_dir}", soft_wrap=True, markup=False)
    console.print(
        f"  {state}flywheel serve   (the console's charts, /console)", soft_wrap=True, markup=False
    )


def _succeeded(document: dict[str, Any], by_hand: bool) -> bool:
    released = document["patches_proposed"] > 0 if by_hand else document["patches_stable"] > 0
    return (
        released
        and document["post_release_unsafe_allowed"] == 0
        and bool(document["ledger_verified"])
    )
