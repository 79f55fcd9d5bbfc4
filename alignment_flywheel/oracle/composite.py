"""Several oracles as one: e.g. the rule oracle plus a vendor classifier.

Combination rule (the most cautious member wins):

* ``safety_score`` = the minimum of the members' scores.
* ``uncertainty`` = the maximum of the members' uncertainties.
* ``evidence`` = every member's evidence, in member order.
* The session context is passed to every member that takes one
  (:func:`~alignment_flywheel.oracle.contract.evaluate_oracle`).
* A member that raises :class:`~alignment_flywheel.oracle.contract.OracleError` does not make the
  composite fail: its place in the result is one ``ORACLE_ERROR`` evidence naming it, and the
  uncertainty becomes 1.0, so every risk tier escalates (never a silent allow). An
  :class:`~alignment_flywheel.errors.InvalidInputError` from a member (unknown tool) propagates:
  the input is wrong for all of them.
* ``version`` is the first member's version (the one patches move); ``digest`` is the SHA-256 of
  the RFC 8785 canonical JSON list of every member's ``[version, digest]``, so a change in any
  member changes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import rfc8785

from alignment_flywheel.events import EvidenceKind, Proposal
from alignment_flywheel.oracle.contract import (
    Oracle,
    OracleError,
    OracleSignal,
    Signal,
    evaluate_oracle,
)
from alignment_flywheel.oracle.provenance import SessionContext


class CompositeOracle:
    """Combines member oracles by the rule above. Immutable; thread-safe if its members are."""

    def __init__(self, members: Sequence[Oracle], names: Sequence[str] | None = None) -> None:
        if not members:
            raise ValueError("a composite oracle needs at least one member")
        if names is not None and len(names) != len(members):
            raise ValueError("one name per member")
        self.members = tuple(members)
        self.names = tuple(names or (f"member-{i}" for i in range(len(members))))

    @property
    def version(self) -> int:
        return self.members[0].version

    @property
    def digest(self) -> str:
        listed: list[list[int | str]] = [[m.version, m.digest] for m in self.members]
        return hashlib.sha256(rfc8785.dumps(listed)).hexdigest()

    def evaluate(self, proposal: Proposal, session: SessionContext | None = None) -> OracleSignal:
        score, uncertainty = 1.0, 0.0
        evidence: list[Signal] = []
        for name, member in zip(self.names, self.members, strict=True):
            try:
                signal = evaluate_oracle(member, proposal, session)
            except OracleError as exc:
                uncertainty = 1.0
                message = f"oracle {name} failed: {exc}"
                evidence.append(Signal(EvidenceKind.ORACLE_ERROR, message))
                continue
            score = min(score, signal.safety_score)
            uncertainty = max(uncertainty, signal.uncertainty)
            evidence.extend(signal.evidence)
        return OracleSignal(score, uncertainty, tuple(evidence), self.version, self.digest)
