"""What a replay compares: cases, their replayed decisions, and the diff against the record.

Rules:

* A :class:`Case` is a historical proposal, the decision recorded for it (None: none found), its
  revise depth and the session context it is decided in (None: none).
* :func:`flip_of` names a change: ``->escalate`` (any decision that becomes ESCALATE),
  ``allow->block``, ``block->allow``, or ``<before>-><after>`` for other changes; equal decisions
  are no flip.
* :class:`Tally` counts (baseline, replayed) decision pairs; :class:`Diff` adds flips by kind, by
  tool and by proposer, and a few examples of each kind (:data:`EXAMPLES_PER_FLIP`; the ids of
  the first :data:`MAX_IDS` unrecorded proposals). Both merge.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from alignment_flywheel.events import Decision, Proposal
from alignment_flywheel.oracle.provenance import SessionContext

EXAMPLES_PER_FLIP = 5
MAX_IDS = 100


@dataclass(frozen=True, slots=True)
class Case:
    """A historical proposal, the decision recorded for it (None: none found), its revise depth
    and the session context it is decided in (None: none)."""

    proposal: Proposal
    recorded: Decision | None
    depth: int = 0
    session: SessionContext | None = None


@dataclass(frozen=True, slots=True)
class Replayed:
    """The replayed decision of a case (None: the input was refused, ``refusal`` says why)."""

    case: Case
    decision: Decision | None
    refusal: str | None = None


def flip_of(before: Decision, after: Decision) -> str | None:
    """The name of a change of decision, or None when there is none."""
    if before is after:
        return None
    if after is Decision.ESCALATE:
        return "->escalate"
    return f"{before.value.lower()}->{after.value.lower()}"


@dataclass
class Tally:
    """Counts of (baseline, replayed) decision pairs."""

    pairs: Counter[tuple[Decision, Decision]] = field(default_factory=Counter)

    def add(self, before: Decision, after: Decision) -> None:
        self.pairs[(before, after)] += 1

    def merge(self, other: Tally) -> None:
        self.pairs.update(other.pairs)

    @property
    def total(self) -> int:
        return sum(self.pairs.values())

    @property
    def changed(self) -> int:
        return sum(n for (before, after), n in self.pairs.items() if before is not after)

    def before(self, decision: Decision) -> int:
        return sum(n for (b, _), n in self.pairs.items() if b is decision)

    def after(self, decision: Decision) -> int:
        return sum(n for (_, a), n in self.pairs.items() if a is decision)


@dataclass(frozen=True, slots=True)
class Example:
    proposal_id: str
    tool: str
    proposer: str
    before: str
    after: str


@dataclass
class Diff:
    """The verdict diff of a replay: the tally, flips by kind, tool and proposer, examples."""

    tally: Tally = field(default_factory=Tally)
    unrecorded: int = 0
    unrecorded_ids: list[str] = field(default_factory=list)
    """The ids of the first :data:`MAX_IDS` proposals without a recorded verdict."""
    refused: list[tuple[str, str]] = field(default_factory=list)
    flips: Counter[str] = field(default_factory=Counter)
    by_tool: dict[str, Counter[str]] = field(default_factory=dict)
    by_proposer: dict[str, Counter[str]] = field(default_factory=dict)
    examples: dict[str, list[Example]] = field(default_factory=dict)

    @property
    def replayed(self) -> int:
        return self.tally.total + self.unrecorded + len(self.refused)

    def add(self, item: Replayed) -> None:
        before, after, proposal = item.case.recorded, item.decision, item.case.proposal
        if after is None:
            self.refused.append((str(proposal.proposal_id), item.refusal or "refused"))
            return
        if before is None:
            self.unrecorded += 1
            if len(self.unrecorded_ids) < MAX_IDS:
                self.unrecorded_ids.append(str(proposal.proposal_id))
            return
        self.tally.add(before, after)
        kind = flip_of(before, after)
        if kind is None:
            return
        self.flips[kind] += 1
        self.by_tool.setdefault(proposal.tool, Counter())[kind] += 1
        self.by_proposer.setdefault(proposal.proposer_id, Counter())[kind] += 1
        found = self.examples.setdefault(kind, [])
        if len(found) < EXAMPLES_PER_FLIP:
            pid = str(proposal.proposal_id)
            found.append(Example(pid, proposal.tool, proposal.proposer_id, before, after))

    def merge(self, other: Diff) -> None:
        self.tally.merge(other.tally)
        self.unrecorded += other.unrecorded
        self.unrecorded_ids += other.unrecorded_ids[: max(0, MAX_IDS - len(self.unrecorded_ids))]
        self.refused += other.refused
        self.flips.update(other.flips)
        for mine, theirs in ((self.by_tool, other.by_tool), (self.by_proposer, other.by_proposer)):
            for name, counts in theirs.items():
                mine.setdefault(name, Counter()).update(counts)
        for kind, examples in other.examples.items():
            found = self.examples.setdefault(kind, [])
            found += examples[: max(0, EXAMPLES_PER_FLIP - len(found))]
