"""The verdict-diff report of a replay: JSON for machines, markdown or rich tables for people.

Rules:

* :class:`Report` holds the replay's facts: the oracle replayed (label, version, digest), the
  range read, the :class:`~alignment_flywheel.replay.engine.Diff`, the records passed over
  (partition, offset, reason: undecodable bytes, events that are not proposals) and the memo
  statistics (the share of proposals that repeated an input already evaluated).
* :meth:`Report.to_json` is stable: keys sorted, flips by kind, tool and proposer sorted by name,
  the decision matrix as ``{"ALLOW->BLOCK": n}``. Refusals and passed-over records are listed in
  full up to :data:`MAX_LISTED` each, with their counts always exact.
* :func:`markdown` and :func:`tables` render the same content; zero flips says so in words.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from alignment_flywheel.replay.engine import Diff

MAX_LISTED = 100
TOP = 20


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record of the range that was not replayed, and why."""

    topic: str
    partition: int
    offset: int
    reason: str


@dataclass
class Report:
    """Everything a replay found (see the module rules)."""

    oracle: str
    oracle_version: int
    oracle_digest: str
    diff: Diff
    range: dict[str, Any] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    hits: int = 0
    misses: int = 0
    elapsed_s: float = 0.0

    @property
    def duplicate_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def to_json(self) -> dict[str, Any]:
        diff = self.diff
        return {
            "oracle": {
                "label": self.oracle,
                "version": self.oracle_version,
                "digest": self.oracle_digest,
            },
            "range": self.range,
            "replayed": diff.replayed,
            "compared": diff.tally.total,
            "unchanged": diff.tally.total - diff.tally.changed,
            "flipped": diff.tally.changed,
            "unrecorded": diff.unrecorded,
            "unrecorded_ids": diff.unrecorded_ids,
            "flips": dict(sorted(diff.flips.items())),
            "matrix": {
                f"{b.value}->{a.value}": n for (b, a), n in sorted(diff.tally.pairs.items())
            },
            "by_tool": _nested(diff.by_tool),
            "by_proposer": _nested(diff.by_proposer),
            "examples": {
                kind: [vars_of(e) for e in examples]
                for kind, examples in sorted(diff.examples.items())
            },
            "refused": {
                "count": len(diff.refused),
                "items": [{"proposal_id": p, "reason": r} for p, r in diff.refused[:MAX_LISTED]],
            },
            "skipped": {
                "count": len(self.skipped),
                "reasons": dict(sorted(Counter(_kind(s.reason) for s in self.skipped).items())),
                "items": [vars_of(s) for s in self.skipped[:MAX_LISTED]],
            },
            "memo": {
                "distinct_inputs": self.misses,
                "duplicate_ratio": round(self.duplicate_ratio, 4),
            },
            "elapsed_s": round(self.elapsed_s, 3),
        }


def vars_of(item: Any) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__slots__}


def _nested(groups: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    return {name: dict(sorted(counts.items())) for name, counts in sorted(groups.items())}


def _kind(reason: str) -> str:
    return reason.split(":", 1)[0]


def _top(groups: dict[str, Counter[str]]) -> list[tuple[str, Counter[str]]]:
    return sorted(groups.items(), key=lambda item: (-sum(item[1].values()), item[0]))[:TOP]


def markdown(report: Report) -> str:
    """The report as markdown."""
    data = report.to_json()
    lines = [
        f"# Replay under {report.oracle} (v{report.oracle_version}, {report.oracle_digest[:12]})",
        "",
        f"{data['replayed']} proposals replayed, {data['compared']} compared with their recorded "
        f"verdict: {data['flipped']} flipped, {data['unchanged']} unchanged; "
        f"{data['unrecorded']} without a recorded verdict, {data['refused']['count']} refused, "
        f"{data['skipped']['count']} records passed over.",
        "",
    ]
    if not report.diff.flips:
        lines += ["No verdict flips.", ""]
    else:
        lines += ["## Flips", "", "| flip | count |", "|---|---|"]
        lines += [f"| {k} | {n} |" for k, n in data["flips"].items()]
        for title, groups in (("tool", report.diff.by_tool), ("proposer", report.diff.by_proposer)):
            lines += ["", f"## Flips by {title}", "", f"| {title} | flips |", "|---|---|"]
            lines += [f"| {name} | {_counts(c)} |" for name, c in _top(groups)]
        lines += ["", "## Examples", ""]
        for kind, examples in data["examples"].items():
            lines += [
                f"- {kind}: " + ", ".join(f"{e['proposal_id']} ({e['tool']})" for e in examples)
            ]
    if report.skipped or report.diff.refused:
        lines += ["", "## Not replayed", "", "| where | reason |", "|---|---|"]
        lines += [
            f"| {s.topic}[{s.partition}]@{s.offset} | {s.reason} |"
            for s in report.skipped[:MAX_LISTED]
        ]
        lines += [f"| proposal {p} | refused: {r} |" for p, r in report.diff.refused[:MAX_LISTED]]
    return "\n".join(lines) + "\n"


def tables(report: Report) -> list[Table]:
    """The report as rich tables: flips, flips by tool and by proposer, records not replayed."""
    data = report.to_json()
    summary = Table(title=f"replay under {report.oracle} (v{report.oracle_version})")
    for column in (
        "replayed",
        "compared",
        "flipped",
        "unrecorded",
        "refused",
        "passed over",
        "duplicates",
    ):
        summary.add_column(column, justify="right")
    summary.add_row(
        *(str(data[k]) for k in ("replayed", "compared", "flipped", "unrecorded")),
        str(data["refused"]["count"]),
        str(data["skipped"]["count"]),
        f"{report.duplicate_ratio:.1%}",
    )
    result = [summary]
    if report.diff.flips:
        flips = Table(title="flips")
        flips.add_column("flip")
        flips.add_column("count", justify="right")
        flips.add_column("examples")
        for kind, count in data["flips"].items():
            shown = ", ".join(e["proposal_id"][:8] for e in data["examples"].get(kind, []))
            flips.add_row(kind, str(count), shown)
        result.append(flips)
        for title, groups in (("tool", report.diff.by_tool), ("proposer", report.diff.by_proposer)):
            table = Table(title=f"flips by {title}")
            table.add_column(title)
            table.add_column("flips")
            for name, counts in _top(groups):
                table.add_row(name, _counts(counts))
            result.append(table)
    if report.skipped:
        skipped = Table(title="records passed over")
        for column in ("topic", "partition", "offset", "reason"):
            skipped.add_column(column)
        for s in report.skipped[:MAX_LISTED]:
            skipped.add_row(s.topic, str(s.partition), str(s.offset), s.reason)
        result.append(skipped)
    return result


def _counts(counts: Counter[str]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
