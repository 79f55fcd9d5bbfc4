"""The Java example (examples/java-producer) produces an Avro ProposalSubmitted straight to the
proposals topic, and the gate's side reads it: EventCodec decodes it (single-object encoding, a
kept writer schema) and no ``flywheel-decided-by`` header tells the gate to skip it. It lands on
the partition of its session as the Java client's murmur2 computes it, the one Python computes.

The example is built with Maven into the settings' cache directory, never into the repository.
Java or Maven missing, or the build failing, fails this test: it never skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.codec.framing import SINGLE_OBJECT_MARKER
from alignment_flywheel.config import Settings
from alignment_flywheel.events import BlastRadius, Origin, ProposalSubmitted
from alignment_flywheel.kafka.credentials import kafka_credentials
from alignment_flywheel.kafka.headers import decided_elsewhere
from alignment_flywheel.kafka.placement import partition_for, session_key
from tests.support.kafka import read_records

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "java-producer"
BUILD_TIMEOUT_S = 900


def test_the_java_example_produces_a_proposal_the_gate_decodes(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    topic = make_topic(unique_name("java-proposals"), partitions=6)
    arguments = {"cmd": "ls -la", "dry_run": True}
    build_dir = kafka_settings.cache_dir / "examples" / "java-producer"
    admin = kafka_credentials(kafka_settings)  # the test topic is not in the catalog: as admin
    assert admin is not None
    run = subprocess.run(
        [
            "bash",
            str(EXAMPLE / "run.sh"),
            *("--bootstrap", kafka_settings.effective_bootstrap_servers, "--topic", topic),
            *("--username", admin.username),
            *("--tool", "shell.exec", "--arguments", json.dumps(arguments)),
            *("--proposer", "java-agent", "--session", "j-1", "--reasoning", "list files"),
            *("--origin", "HUMAN", "--confidence", "0.8", "--blast-radius", "LOW"),
            *("--environment", "staging"),
        ],
        env={
            **os.environ,
            "FLYWHEEL_EXAMPLE_BUILD_DIR": str(build_dir),
            "KAFKA_PASSWORD": admin.password,
        },
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert run.returncode == 0, f"the Java example failed:\n{run.stdout}\n{run.stderr}"
    proposal_id = uuid.UUID(run.stdout.strip().splitlines()[-1])

    ((record,),) = [read_records(kafka_settings, topic, 1)]
    assert record.value[:2] == SINGLE_OBJECT_MARKER
    assert record.key == str(proposal_id).encode()
    assert record.partition == partition_for(session_key("java-agent", "j-1"), 6)
    assert decided_elsewhere(record.headers) is None
    event = EventCodec.from_settings(kafka_settings).decode(record.value)
    assert isinstance(event, ProposalSubmitted)
    proposal = event.proposal
    assert proposal.proposal_id == proposal_id
    assert event.envelope.key == str(proposal_id)
    assert event.envelope.producer.startswith("java-example@")
    assert (proposal.proposer_id, proposal.session_id) == ("java-agent", "j-1")
    assert (proposal.tool, proposal.arguments_object()) == ("shell.exec", arguments)
    assert proposal.reasoning == "list files"
    assert proposal.parent_proposal_id is None
    risk = proposal.risk
    assert (risk.origin, risk.blast_radius) == (Origin.HUMAN, BlastRadius.LOW)
    assert (risk.proposer_confidence, risk.environment) == (0.8, "staging")
    assert not (EXAMPLE / "target").exists()
