"""The Safety Oracle contract: what any oracle returns, whoever implements it.

An oracle is a versioned policy artifact behind one call, ``evaluate(proposal, session=None) ->
OracleSignal``. It returns raw signals only; it never decides. The enforcement layer turns signals
into verdicts. ``session`` is the proposal's session context
(:class:`~alignment_flywheel.oracle.provenance.SessionContext`: the user's request and the tool
outputs seen), or None when the caller keeps none.

Rules every implementation honours (``tests/unit/test_oracle_contract.py`` checks them for each):

* ``safety_score`` and ``uncertainty`` are in [0, 1]; a higher score is safer.
* ``version`` and ``digest`` name the exact artifact that produced the signal (the digest is the
  SHA-256 of the artifact's RFC 8785 canonical JSON, as 64 lowercase hex digits).
* An error while evaluating part of the input (a rule that fails on a missing key) is reported as
  evidence of kind ``RULE_ERROR`` and raises the uncertainty; it never turns into a silent allow.
* An oracle that cannot evaluate at all raises :class:`OracleError`; the enforcement layer then
  fails closed.
* ``evaluate`` is pure with respect to the proposal and the session context: the same artifact,
  proposal and context give the same signal.
* An oracle written before session contexts (``evaluate(proposal)`` only) still honours the
  contract: :func:`evaluate_oracle` passes the context only to an ``evaluate`` that takes a
  ``session`` parameter, so such an oracle simply does not read it.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from alignment_flywheel.errors import FlywheelError, InvalidInputError
from alignment_flywheel.events import EvidenceKind, Proposal
from alignment_flywheel.oracle.provenance import SessionContext


class OracleError(FlywheelError):
    """The oracle could not evaluate the proposal at all (crash, timeout, unreachable service)."""


class OracleTimeoutError(OracleError):
    """The oracle did not answer within the deadline."""


class UnknownToolError(InvalidInputError):
    """The oracle's artifact declares a tool catalog and the proposal's tool is not in it."""

    def __init__(self, tool: str) -> None:
        super().__init__(f"tool: unknown tool {tool!r} (not in the oracle's tool catalog)")
        self.tool = tool


@dataclass(frozen=True, slots=True)
class Amendment:
    """A structured revision a rule proposes instead of blocking.

    ``set_arguments`` replaces (or adds) top-level argument keys; ``remove_arguments`` drops keys;
    ``constraints`` are extra conditions the proposer must honour, as short machine-readable
    strings (e.g. ``"dry_run"``, ``"max_rows<=1000"``).
    """

    set_arguments: Mapping[str, Any] = field(default_factory=dict)
    remove_arguments: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()

    def apply(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments after this amendment."""
        revised = {k: v for k, v in arguments.items() if k not in self.remove_arguments}
        revised.update(self.set_arguments)
        return revised

    def to_json(self) -> str:
        """JSON object text, as carried by ``VerdictIssued.amendment``."""
        return json.dumps(
            {
                "set_arguments": dict(self.set_arguments),
                "remove_arguments": list(self.remove_arguments),
                "constraints": list(self.constraints),
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Amendment:
        raw = json.loads(text)
        return cls(
            set_arguments=dict(raw.get("set_arguments", {})),
            remove_arguments=tuple(raw.get("remove_arguments", ())),
            constraints=tuple(raw.get("constraints", ())),
        )


@dataclass(frozen=True, slots=True)
class Signal:
    """One piece of evidence from an oracle: a rule that matched or failed, a classifier output."""

    kind: EvidenceKind
    message: str
    rule_id: str | None = None
    norm_refs: tuple[str, ...] = ()
    requires_review: bool = False
    amendment: Amendment | None = None


@dataclass(frozen=True, slots=True)
class OracleSignal:
    """The raw output of an oracle for one proposal."""

    safety_score: float
    uncertainty: float
    evidence: tuple[Signal, ...]
    version: int
    digest: str

    @property
    def requires_review(self) -> bool:
        """True when any evidence demands human review."""
        return any(item.requires_review for item in self.evidence)

    @property
    def amendments(self) -> tuple[Amendment, ...]:
        """The amendments proposed by the evidence, in evidence order."""
        return tuple(item.amendment for item in self.evidence if item.amendment is not None)

    @property
    def errors(self) -> tuple[Signal, ...]:
        """Evidence of evaluation errors (rules that failed on this input)."""
        return tuple(
            item
            for item in self.evidence
            if item.kind in (EvidenceKind.RULE_ERROR, EvidenceKind.ORACLE_ERROR)
        )


@runtime_checkable
class Oracle(Protocol):
    """Anything that honours the contract: the rule oracle, a classifier, a remote service."""

    @property
    def version(self) -> int: ...

    @property
    def digest(self) -> str: ...

    def evaluate(self, proposal: Proposal, session: SessionContext | None = None) -> OracleSignal:
        """Signals for one proposal in its session context (None: none kept); raises OracleError
        when it cannot evaluate at all."""
        ...


_TAKES_SESSION: dict[type, bool] = {}


def takes_session(oracle: Oracle) -> bool:
    """True when the oracle's ``evaluate`` has a ``session`` parameter (cached per class)."""
    kind = type(oracle)
    known = _TAKES_SESSION.get(kind)
    if known is None:
        try:
            known = "session" in inspect.signature(oracle.evaluate).parameters
        except (TypeError, ValueError):
            known = False
        _TAKES_SESSION[kind] = known
    return known


def evaluate_oracle(
    oracle: Oracle, proposal: Proposal, session: SessionContext | None = None
) -> OracleSignal:
    """``oracle.evaluate`` with the session context when there is one and the oracle takes it."""
    if session is None or not takes_session(oracle):
        return oracle.evaluate(proposal)
    return oracle.evaluate(proposal, session=session)
