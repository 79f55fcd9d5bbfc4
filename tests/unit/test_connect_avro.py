"""Issue 17: docs/connect.md's workaround for the Apache `avro` package's fingerprint is real:
its block runs, and the platform decodes the record; `avro`'s own fingerprint is unknown."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.errors import UnknownSchemaError
from alignment_flywheel.events import ProposalSubmitted

REPO = Path(__file__).parents[2]


def _block() -> str:
    text = (REPO / "docs" / "connect.md").read_text()
    found = re.search(r"<!-- avro-package -->\s*```python\n(.*?)```", text, re.S)
    assert found is not None, "docs/connect.md keeps the avro-package block"
    return found.group(1)


def _event() -> dict[str, Any]:
    proposal_id = str(uuid.uuid4())
    return {
        "envelope": {
            "event_id": str(uuid.uuid4()),
            "occurred_at": datetime.now(UTC),
            "producer": "avro-package-agent",
            "trace_id": uuid.uuid4().hex,
            "correlation_id": None,
            "key": proposal_id,
        },
        "proposal": {
            "proposal_id": proposal_id,
            "proposer_id": "avro-agent",
            "session_id": "s-1",
            "tool": "shell.exec",
            "arguments": json.dumps({"cmd": "ls -la"}),
            "reasoning": None,
            "parent_proposal_id": None,
            "risk": {
                "origin": "AUTOMATED",
                "proposer_confidence": 0.9,
                "blast_radius": "LOW",
                "environment": "staging",
            },
        },
    }


def test_the_documented_avro_package_workaround_decodes(settings_factory, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    scope: dict[str, Any] = {"event": _event()}
    exec(compile(_block(), "docs/connect.md", "exec"), scope)
    codec = EventCodec.from_settings(settings_factory())
    decoded = codec.decode(scope["value"])
    assert isinstance(decoded, ProposalSubmitted)
    assert decoded.proposal.tool == "shell.exec"

    own = scope["schema"].fingerprint("CRC-64-AVRO")
    assert bytes(own) != scope["wire_fingerprint"], "the pitfall the docs describe"
    framed = b"\xc3\x01" + bytes(own) + scope["body"].getvalue()
    with pytest.raises(UnknownSchemaError, match="unknown writer schema fingerprint"):
        codec.decode(framed)
