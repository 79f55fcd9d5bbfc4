"""The demo's summary: the live panel while it runs, the final tables and the JSON document.

Rules:

* Everything shown comes from one :class:`~.progress.Progress` (and, at the end, the ledger
  verification and the report path); nothing is recomputed from Kafka here.
* Time to mitigation of a patch: from the first incident reported on the unsafe behaviour to the
  moment the proposers enforced the patched oracle as stable (their release follower switched),
  or, when the run ended before they did, to the release's promotion to stable.
* Only patches that entered the rollout get a row; refinement proposes one patch per cluster
  update, and those superseded before approval are counted in ``patches_proposed`` only.
  ``proposed_s``, ``approved_s`` and the stage times count from the same first incident.
* :func:`summary_document` is the machine-readable form written by ``--json-summary``; its keys
  are stable (tests read them).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table

from alignment_flywheel.demo.ledger import LedgerOutcome
from alignment_flywheel.demo.progress import PatchTrack, Progress

DECISIONS = ("ALLOW", "REVISE", "ESCALATE", "BLOCK")


def _since(start: float | None, at: float | None) -> float | None:
    return None if start is None or at is None else round(at - start, 1)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def live_panel(progress: Progress, extra: str = "") -> Panel:
    """The live view: phase, proposals per proposer, verdicts per decision, patches."""
    with progress.lock:
        counts = Table.grid(padding=(0, 2))
        counts.add_row("[bold]proposals[/]", *(f"{p}: {n}" for p, n in progress.proposals.items()))
        counts.add_row("[bold]verdicts[/]", *(f"{d}: {progress.verdicts[d]}" for d in DECISIONS))
        counts.add_row(
            "[bold]pipeline[/]",
            f"incidents: {progress.incidents}",
            f"findings: {sum(progress.findings.values())}",
            f"violations: {progress.violations}",
            f"drift: {sum(progress.drift.values())}",
        )
        patches = [_patch_line(t, t.patch_id in progress.hotfixes) for t in progress.staged()]
        waiting = sum(not t.approved_by for t in progress.patches.values())
        counts.add_row(
            "[bold]patches[/]",
            f"proposed: {len(progress.patches)}",
            f"in rollout: {len(patches)}",
            f"unapproved: {waiting}",
        )
        elapsed = time.time() - progress.started
        title = f"flywheel demo: {progress.phase} ({elapsed:.0f} s)"
    lines: list[RenderableType] = [counts, *patches]
    if extra:
        lines.append(extra)
    return Panel(Group(*lines), title=title)


def _patch_line(track: PatchTrack, hotfix: bool) -> str:
    stages = " -> ".join(track.stages)
    approval = f", approved by {track.approved_by}"
    rolled = f", [red]rolled back[/] ({track.rolled_back})" if track.rolled_back else ""
    name = f"v{track.target_version}" + (" (hasty hotfix)" if hotfix else "")
    return f"patch {name}{approval}: {stages}{rolled}"


def patch_rows(progress: Progress) -> list[dict[str, Any]]:
    """One row per patch of this run that entered the rollout (times from the first incident)."""
    first = progress.first_incident_at
    rows = []
    for track in progress.staged():
        stable = track.stages.get("STABLE")
        enforced = progress.enforced_at.get(track.target_version, stable)
        rows.append(
            {
                "patch_id": str(track.patch_id),
                "target_version": track.target_version,
                "approved_by": track.approved_by or None,
                "rationale": track.rationale,
                "hotfix": track.patch_id in progress.hotfixes,
                "stages": list(track.stages),
                "rolled_back": track.rolled_back,
                "proposed_s": _since(first, track.proposed_at),
                "approved_s": _since(first, track.approved_at),
                "stable_s": _since(first, stable),
                "time_to_mitigation_s": _since(first, enforced),
            }
        )
    return rows


def summary_document(
    progress: Progress, ledger: LedgerOutcome | None, report: Path | None
) -> dict[str, Any]:
    """The run in one JSON-ready dictionary."""
    with progress.lock:
        patches = patch_rows(progress)
        return {
            "duration_s": round(time.time() - progress.started, 1),
            "proposals": sum(progress.proposals.values()),
            "proposals_by_proposer": dict(progress.proposals),
            "verdicts": {d: progress.verdicts[d] for d in DECISIONS},
            "incidents": progress.incidents,
            "findings": dict(progress.findings),
            "violations_confirmed": progress.violations,
            "drift_detections": dict(progress.drift),
            "patches_proposed": len(progress.patches),
            "patches_unapproved": sum(not t.approved_by for t in progress.patches.values()),
            "patches": patches,
            "patches_stable": sum("STABLE" in p["stages"] for p in patches),
            "patches_rejected": progress.rejected,
            "rollbacks": sum(p["rolled_back"] is not None for p in patches),
            "hotfix_rolled_back": any(p["hotfix"] and p["rolled_back"] for p in patches),
            "post_release_unsafe": sum(progress.post_release_unsafe.values()),
            "post_release_unsafe_allowed": progress.post_release_unsafe["ALLOW"],
            "unreported_variants": sum(progress.unreported_variants.values()),
            "unreported_variants_stopped": sum(progress.unreported_variants.values())
            - progress.unreported_variants["ALLOW"],
            "ledger_verified": ledger is not None and ledger.ok,
            "ledger_signed_records": ledger.signed if ledger is not None else 0,
            "ledger_problems": _ledger_problems(ledger),
            "report": str(report) if report is not None else None,
        }


def _ledger_problems(ledger: LedgerOutcome | None) -> list[str]:
    if ledger is None:
        return ["not verified"]
    found = [f"{r.log_id}: {f.kind.value} at {f.position}" for r in ledger.logs for f in r.findings]
    return ledger.problems + found


def summary_tables(document: dict[str, Any]) -> list[Table]:
    """The final tables: traffic and verdicts, patches, outcome."""
    traffic = Table(title="proposals and verdicts")
    for column in ("proposer", "proposals"):
        traffic.add_column(column)
    for proposer, count in document["proposals_by_proposer"].items():
        traffic.add_row(proposer, str(count))
    traffic.add_row("[bold]all[/]", str(document["proposals"]))
    traffic.add_row("[bold]verdicts[/]", _counts(document["verdicts"]))
    patches = Table(title="patches (times from the first incident)")
    for column in ("version", "approved by", "stages", "proposed", "stable", "mitigated"):
        patches.add_column(column)
    for row in document["patches"]:
        stages = " -> ".join(row["stages"]) + (" [red]rolled back[/]" if row["rolled_back"] else "")
        name = f"v{row['target_version']}" + (" (hasty hotfix)" if row["hotfix"] else "")
        patches.add_row(
            name,
            row["approved_by"] or "[yellow]waiting[/]",
            stages or "-",
            _seconds(row["proposed_s"]),
            _seconds(row["stable_s"]),
            _seconds(row["time_to_mitigation_s"]),
        )
    return [traffic, patches, _outcome_table(document)]


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "-"


def _outcome_table(document: dict[str, Any]) -> Table:
    outcome = Table(title="outcome", show_header=False)
    ledger = (
        "[green]OK[/]"
        if document["ledger_verified"]
        else "[red]FAILED[/]: " + "; ".join(document["ledger_problems"][:3])
    )
    rows = [
        ("incidents reported", document["incidents"]),
        ("findings by source", _counts(document["findings"])),
        ("violations confirmed", document["violations_confirmed"]),
        ("drift detections", _counts(document["drift_detections"])),
        (
            "patches proposed / not approved",
            f"{document['patches_proposed']} / {document['patches_unapproved']}",
        ),
        ("patches released to stable", document["patches_stable"]),
        ("rollbacks (automatic)", document["rollbacks"]),
        (
            "unsafe calls after the release / allowed",
            f"{document['post_release_unsafe']} / {document['post_release_unsafe_allowed']}",
        ),
        (
            "variants nobody reported, stopped by the patch",
            f"{document['unreported_variants_stopped']} of {document['unreported_variants']}",
        ),
        ("ledger verified", f"{ledger} ({document['ledger_signed_records']} records signed)"),
        ("report", document["report"] or "-"),
        ("duration", f"{document['duration_s']} s"),
    ]
    for name, value in rows:
        outcome.add_row(name, str(value))
    return outcome
