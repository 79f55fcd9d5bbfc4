"""The runtime step of `flywheel demo`: an agent's tool calls decided by the default oracle.

A guard (the in-process SDK) decides a handful of tool calls with the shipped oracle artifact and
risk policy, follows one revise chain to its end, and publishes every ProposalSubmitted and
VerdictIssued to Kafka; the step then reads the verdicts back from the verdicts topic.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from rich.console import Console
from rich.table import Table

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.consumer import EventConsumer
from alignment_flywheel.connectors.sdk import Guard, GuardDecision
from alignment_flywheel.events import Decision, Event, VerdictIssued

DEMO_GROUP = "flywheel-demo-verdicts"
DEAD_LETTER_TOPIC = "flywheel.deadletter"
EMAIL = {"to": "cfo@partner.org", "attachments": ["q3.pdf"]}
CALLS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("shell.exec", {"cmd": "ls -la /workspace"}, {}),
    ("shell.exec", {"cmd": "rm -rf / --no-preserve-root"}, {}),
    ("sql.query", {"sql": "select * from orders"}, {}),
    ("payments.transfer", {"amount": 25000, "payee_verified": True}, {}),
    ("email.send", EMAIL, {}),
    ("email.send", EMAIL, {"environment": "production"}),
    ("file.write", {"content": "x"}, {}),
]


def decide_sample_calls(settings: Settings, console: Console) -> None:
    """Decide the sample calls, show the verdicts, and read them back from Kafka."""
    with Guard(settings, proposer_id="demo-agent") as guard:
        results = [guard.check(tool, args, risk=risk or None) for tool, args, risk in CALLS]
        first = results[0].verdict
        console.print(
            f"oracle v{first.oracle_version} ({first.oracle_digest[:12]}), "
            f"risk policy {first.policy_version}"
        )
        results += _revise_chain(guard, results[2])
        delivered = guard.close()
    _print_decisions(console, results)
    console.print("every decision published to Kafka" if delivered else "[red]records journaled[/]")
    _read_back(settings, console, {r.proposal_id for r in results})


def _revise_chain(guard: Guard, first: GuardDecision) -> list[GuardDecision]:
    chain, current = [], first
    while current.decision is Decision.REVISE and current.revised_arguments is not None:
        current = guard.check(
            current.proposal.tool, current.revised_arguments, parent_proposal_id=current.proposal_id
        )
        chain.append(current)
    return chain


def _print_decisions(console: Console, results: list[GuardDecision]) -> None:
    table = Table(title="tool calls decided by the oracle and the risk policy")
    for column in ("tool", "arguments", "decision", "tier", "why", "µs"):
        table.add_column(column)
    for result in results:
        verdict = result.verdict
        shown = (
            result.proposal.arguments
            if len(result.proposal.arguments) < 48
            else (result.proposal.arguments[:45] + "...")
        )
        if result.proposal.parent_proposal_id is not None:
            shown = f"(revised) {shown}"
        table.add_row(
            result.proposal.tool,
            shown,
            verdict.decision.value,
            verdict.tier,
            verdict.reasons[0] if verdict.reasons else "",
            str(verdict.latency_us),
        )
    console.print(table)


def _read_back(settings: Settings, console: Console, wanted: set[uuid.UUID]) -> None:
    seen: set[uuid.UUID] = set()
    done = threading.Event()

    def handler(event: Event, _msg: object) -> None:
        if isinstance(event, VerdictIssued) and event.proposal_id in wanted:
            seen.add(event.proposal_id)
            if seen == wanted:
                done.set()

    codec = EventCodec.from_settings(settings)
    with EventConsumer(
        settings,
        codec,
        group_id=DEMO_GROUP,
        topics=["flywheel.verdicts"],
        handler=handler,
        dead_letter_topic=DEAD_LETTER_TOPIC,
    ) as consumer:
        consumer.run(stop=done, idle_timeout=30)
    console.print(f"verdicts read back from flywheel.verdicts: {len(seen)} of {len(wanted)}")
