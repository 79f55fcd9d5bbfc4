"""The encoded ``VerdictIssued`` of a gate decision, with the judged part remembered.

A verdict record is three runs of fields (:mod:`~alignment_flywheel.codec.spans`): the front
names the proposal (:func:`~alignment_flywheel.processors.gate_events.verdict_front`), the judged
part is what the judgement gives (decision to error:
:func:`~alignment_flywheel.processors.gate_events.verdict_judged`), the back is ``latency_us``.
Rules:

* The bytes equal ``codec.encode_record("VerdictIssued", verdict_record(...))`` (tests).
* The judged part depends on the verdict's signal (its scores and evidence) and the verdict's
  own fields. The oracle returns the same signal object for proposals that match the same rules,
  so the encoded judged part is remembered by the signal's identity (the signal is kept with it,
  so an id is never reused for another object) and the verdict's other judged fields. A verdict
  without a signal, with an amendment or an error is encoded whole each time.
* At most :data:`MAX_REMEMBERED` judged parts are kept; the table is emptied when full.
"""

from __future__ import annotations

from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.oracle.contract import OracleSignal
from alignment_flywheel.processors.gate_events import verdict_judged

MAX_REMEMBERED = 4096
EVENT = "VerdictIssued"
JUDGED_FROM, BACK_FROM = "decision", "latency_us"


class VerdictBytes:
    """Encodes verdict records of one codec (see the module rules)."""

    def __init__(self, codec: EventCodec) -> None:
        self._spans = codec.spans(EVENT, (JUDGED_FROM, BACK_FROM))
        self._judged: dict[tuple[Any, ...], tuple[OracleSignal, bytes]] = {}

    def encode(self, front: dict[str, Any], verdict: Verdict) -> bytes:
        """The framed ``VerdictIssued`` of ``verdict`` with the front fields ``front``."""
        spans = self._spans
        return spans.join(
            (
                spans.encode(0, front),
                self._judged_part(verdict),
                spans.encode(2, {BACK_FROM: verdict.latency_us}),
            )
        )

    def _judged_part(self, verdict: Verdict) -> bytes:
        signal = verdict.signal
        if signal is None or verdict.amendment is not None or verdict.error is not None:
            return self._spans.encode(1, verdict_judged(verdict))
        key = (
            id(signal),
            verdict.decision,
            verdict.enforced,
            verdict.stage,
            verdict.oracle_version,
            verdict.oracle_digest,
            verdict.policy_version,
            verdict.tier,
            verdict.reasons,
        )
        found = self._judged.get(key)
        if found is not None and found[0] is signal:
            return found[1]
        encoded = self._spans.encode(1, verdict_judged(verdict))
        if len(self._judged) >= MAX_REMEMBERED:
            self._judged.clear()
        self._judged[key] = (signal, encoded)
        return encoded
