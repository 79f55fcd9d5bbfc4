"""`flywheel replay`: re-evaluate historical proposals under any oracle and diff the verdicts.

``flywheel replay --from 2026-11-23T10:00Z --to 2026-11-23T11:00Z --oracle 7`` reads the
proposals of the range, the verdicts recorded for them, rebuilds oracle v7 from the log and prints
the verdict diff (flips allow->block, block->allow, ->escalate, by tool and by proposer, with
examples). ``--oracle`` takes ``stable``, ``candidate``, a version, a digest, ``patch:<id>`` (an
unreleased patch on the patches topic) or a signed patch file (see
:mod:`alignment_flywheel.release.oracle_log`); ``--from``/``--to`` take offsets or times (see
:mod:`alignment_flywheel.replay.source`). ``--json`` and ``--markdown`` write the report to files;
``--format`` chooses what goes to stdout. Records that cannot be replayed are listed, never fatal.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Literal

import typer

from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.enforcement import Enforcer, load_policy
from alignment_flywheel.kafka.catalog import load_catalog
from alignment_flywheel.oracle.loader import risk_policy_path
from alignment_flywheel.oracle.rules import RuleOracle
from alignment_flywheel.release.follower import ReleaseTopics
from alignment_flywheel.release.oracle_log import OracleLog
from alignment_flywheel.replay.engine import Evaluator, replay_diff, settle_heap
from alignment_flywheel.replay.report import Report, markdown, tables
from alignment_flywheel.replay.source import History, RangeReader, parse_bound

WORKERS_HELP = "Processes evaluating distinct inputs (2 helps only with an idle second core)."


@reports_errors
def replay(
    ctx: typer.Context,
    *,
    start: Annotated[str | None, typer.Option("--from", help="Offset or ISO time.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Offset or ISO time.")] = None,
    oracle: Annotated[str, typer.Option("--oracle", help="Version, digest, patch or file.")] = (
        "stable"
    ),
    output: Annotated[Literal["table", "json", "markdown"], typer.Option("--format")] = "table",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the JSON here.")] = None,
    md_path: Annotated[Path | None, typer.Option("--markdown", help="Write markdown here.")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help=WORKERS_HELP)] = 1,
    proposals_topic: Annotated[str | None, typer.Option("--proposals-topic")] = None,
    verdicts_topic: Annotated[str | None, typer.Option("--verdicts-topic")] = None,
    patches_topic: Annotated[str | None, typer.Option("--patches-topic")] = None,
    releases_topic: Annotated[str | None, typer.Option("--releases-topic")] = None,
) -> None:
    """Replay the proposals of a range under an oracle; report the verdict flips."""
    cli = cli_context(ctx)
    settings, catalog = cli.settings, load_catalog()
    codec = EventCodec.from_settings(settings)
    topics = ReleaseTopics(
        patches_topic or catalog.topic_for("PatchProposed"),
        releases_topic or catalog.topic_for("ReleaseStaged"),
    )
    resolved = OracleLog.read(settings, codec, topics).resolve(oracle, settings)
    history = History(
        RangeReader(settings, codec),
        proposals_topic or catalog.topic_for("ProposalSubmitted"),
        verdicts_topic or catalog.topic_for("VerdictIssued"),
        parse_bound(start),
        parse_bound(end),
    )
    started = time.perf_counter()
    history.load_verdicts()
    policy = load_policy(risk_policy_path(settings))
    settle_heap()
    with Evaluator(Enforcer(RuleOracle(resolved.artifact), policy), workers=workers) as evaluator:
        diff = replay_diff(history.cases(), evaluator)
    report = Report(
        resolved.label,
        resolved.artifact.version,
        resolved.artifact.digest,
        diff,
        range={"proposals_topic": history.proposals_topic, "from": start, "to": end},
        skipped=history.skipped,
        hits=evaluator.hits,
        misses=evaluator.misses,
        elapsed_s=time.perf_counter() - started,
    )
    text = json.dumps(report.to_json(), indent=2, sort_keys=True)
    if json_path is not None:
        json_path.write_text(text + "\n")
    if md_path is not None:
        md_path.write_text(markdown(report))
    if output == "json":
        typer.echo(text)
    elif output == "markdown":
        typer.echo(markdown(report))
    else:
        for table in tables(report):
            cli.console.print(table)
