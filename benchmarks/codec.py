"""Records per second the event codec encodes and decodes, for ProposalSubmitted, on one core.

Four figures, each the median of several runs over distinct events built beforehand:

* ``encode_record`` / ``decode_record``: the dict level, what connectors and processors use on the
  hot path (target: 150,000 records/s each, per core);
* ``encode`` / ``decode``: the model level, with pydantic validation on decode;
* ``fastavro_*``: fastavro's ``schemaless_writer``/``schemaless_reader`` on the same records and
  bodies, for comparison (the codec compiles its own encoder and decoder; see
  ``alignment_flywheel/codec/compiler.py``).

Single process, no broker. Prints one JSON object to stdout.
"""

from __future__ import annotations

import io
import json
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import fastavro

from alignment_flywheel.codec import EventCodec, SchemaRepository
from alignment_flywheel.events import (
    BlastRadius,
    Envelope,
    Origin,
    Proposal,
    ProposalSubmitted,
    RiskContext,
)

DICT_RECORDS = 50_000
MODEL_RECORDS = 20_000
RUNS = 7
TARGET_PER_CORE = 150_000
T = TypeVar("T")


def proposal_submitted(i: int) -> ProposalSubmitted:
    """A realistic proposal: a shell command from an automated agent in production."""
    proposal_id = uuid.uuid4()
    return ProposalSubmitted(
        envelope=Envelope(
            event_id=uuid.uuid4(),
            occurred_at=datetime(2025, 6, 1, tzinfo=UTC) + timedelta(microseconds=i * 1_337),
            producer=f"agent-gateway@worker-{i % 8}/4242",
            trace_id=uuid.uuid4().hex,
            correlation_id=None,
            key=str(proposal_id),
        ),
        proposal=Proposal(
            proposal_id=proposal_id,
            proposer_id=f"agent-{i % 50}",
            session_id=f"session-{i // 10}",
            tool="shell.exec",
            arguments=json.dumps({"cmd": f"tail -n {i % 500} /var/log/app.log", "timeout_s": 30}),
            reasoning="Inspect the latest application log lines to find the failing request.",
            parent_proposal_id=None,
            risk=RiskContext(
                origin=Origin.AUTOMATED,
                proposer_confidence=0.87,
                blast_radius=BlastRadius.LOW,
                environment="production",
            ),
        ),
    )


def _rate(operation: Callable[[T], object], items: Sequence[T]) -> float:
    start = time.perf_counter()
    for item in items:
        operation(item)
    return len(items) / (time.perf_counter() - start)


def _measure(operation: Callable[[T], object], items: Sequence[T]) -> dict[str, Any]:
    _rate(operation, items[: len(items) // 10])
    runs = [_rate(operation, items) for _ in range(RUNS)]
    return {"median_per_s": round(statistics.median(runs)), "runs_per_s": [round(r) for r in runs]}


def _fastavro_baseline(
    codec: EventCodec, records: list[dict[str, Any]], payloads: list[bytes]
) -> dict[str, Any]:
    schema = fastavro.parse_schema(codec.repository.current("ProposalSubmitted").schema)
    bodies = [payload[10:] for payload in payloads]

    def write(record: dict[str, Any]) -> bytes:
        stream = io.BytesIO()
        fastavro.schemaless_writer(stream, schema, record)
        return stream.getvalue()

    def read(body: bytes) -> object:
        return fastavro.schemaless_reader(io.BytesIO(body), schema, None)

    return {"fastavro_encode": _measure(write, records), "fastavro_decode": _measure(read, bodies)}


def main() -> None:
    codec = EventCodec(SchemaRepository())
    events = [proposal_submitted(i) for i in range(MODEL_RECORDS)]
    sources = [proposal_submitted(i) for i in range(DICT_RECORDS)]
    records = [codec.decode_record(codec.encode(event))[1] for event in sources]
    dict_payloads = [codec.encode_record("ProposalSubmitted", r) for r in records]
    model_payloads = [codec.encode(e) for e in events]
    results = {
        "encode_record": _measure(lambda r: codec.encode_record("ProposalSubmitted", r), records),
        "decode_record": _measure(codec.decode_record, dict_payloads),
        "encode": _measure(codec.encode, events),
        "decode": _measure(codec.decode, model_payloads),
        **_fastavro_baseline(codec, records, dict_payloads),
    }
    encode_rate = results["encode_record"]["median_per_s"]
    decode_rate = results["decode_record"]["median_per_s"]
    output = {
        "benchmark": "codec",
        "event": "ProposalSubmitted",
        "framing": "avro-single-object",
        "payload_bytes": len(dict_payloads[0]),
        "python": platform.python_version(),
        "fastavro": fastavro.__version__,
        "runs": RUNS,
        "records_per_run": {"dict": DICT_RECORDS, "model": MODEL_RECORDS},
        "records_per_s": results,
        "targets": {
            "encode_per_core": TARGET_PER_CORE,
            "decode_per_core": TARGET_PER_CORE,
            "encode_meets_target": encode_rate >= TARGET_PER_CORE,
            "decode_meets_target": decode_rate >= TARGET_PER_CORE,
        },
    }
    json.dump(output, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
