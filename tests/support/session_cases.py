"""The session conformance cases (tests/conformance/sessions/cases.yaml), read for the tests."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from alignment_flywheel.events import (
    Decision,
    Proposal,
    RiskContext,
    SessionStarted,
    ToolResultObserved,
    new_envelope,
)
from alignment_flywheel.oracle.provenance import SessionEvent

CASES = Path(__file__).parents[1] / "conformance" / "sessions" / "cases.yaml"
RISK = RiskContext(
    origin="AUTOMATED", proposer_confidence=0.9, blast_radius="LOW", environment="staging"
)


@dataclass(frozen=True)
class Call:
    """One call of a session and what every enforcement point must decide for it."""

    tool: str
    arguments: dict[str, Any]
    provenance: dict[str, list[str]]
    decision: Decision
    reason: str

    def proposal(self, proposer_id: str, session_id: str) -> Proposal:
        return Proposal(
            proposal_id=uuid.uuid4(),
            proposer_id=proposer_id,
            session_id=session_id,
            tool=self.tool,
            arguments=json.dumps(self.arguments),
            risk=RISK,
        )


@dataclass(frozen=True)
class SessionCase:
    """A session: its events in order (``{request}`` or ``{tool, output}``) and its calls."""

    name: str
    events: list[dict[str, str]]
    calls: list[Call]

    def session_events(self, proposer_id: str, session_id: str) -> list[SessionEvent]:
        common = {"session_id": session_id, "proposer_id": proposer_id}
        found: list[SessionEvent] = []
        for step in self.events:
            envelope = new_envelope("conformance", session_id)
            if "request" in step:
                found.append(SessionStarted(envelope=envelope, request=step["request"], **common))
            else:
                found.append(
                    ToolResultObserved(
                        envelope=envelope, tool=step["tool"], output=step["output"], **common
                    )
                )
        return found


def _document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CASES.read_text())
    return loaded


def artifact_document() -> dict[str, Any]:
    """The oracle artifact of the cases' rules."""
    return {"name": "sessions", "version": 1, "rules": _document()["rules"]}


def session_cases() -> list[SessionCase]:
    cases = []
    for raw in _document()["sessions"]:
        calls = [
            Call(c["tool"], c["arguments"], c["provenance"], Decision(c["decision"]), c["reason"])
            for c in raw["calls"]
        ]
        cases.append(SessionCase(raw["name"], raw["events"], calls))
    return cases
