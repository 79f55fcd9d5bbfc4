"""Stand-ins shared by the SDK tests: a rule-of-thumb enforcer and a scriptable Kafka producer."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from alignment_flywheel.enforcement.verdict import Verdict
from alignment_flywheel.events import Decision, EvidenceKind, Proposal
from alignment_flywheel.oracle import Amendment, OracleSignal, Signal

DIGEST = "ab" * 32


class FixedOracle:
    """An oracle that always returns the same signal, for swap tests."""

    def __init__(self, version: int) -> None:
        self._version = version

    @property
    def version(self) -> int:
        return self._version

    @property
    def digest(self) -> str:
        return DIGEST

    def evaluate(self, proposal: Proposal) -> OracleSignal:
        note = Signal(EvidenceKind.NOTE, f"fixed oracle v{self._version}")
        return OracleSignal(1.0, 0.0, (note,), self._version, DIGEST)


class FixedPolicy:
    """A risk policy stand-in: only its version."""

    version = "test-1"


class ToolEnforcer:
    """Decides by tool name: ``danger.*`` BLOCK, ``review.*`` ESCALATE, ``sql.query`` without
    ``limit`` REVISE (adds ``limit=100``), anything else ALLOW. Records every call."""

    def __init__(self) -> None:
        self._oracle: Any = FixedOracle(1)
        self.policy = FixedPolicy()
        self.calls: list[tuple[Proposal, int]] = []
        self.lock = threading.Lock()

    @property
    def oracle(self) -> Any:
        return self._oracle

    def swap_oracle(self, oracle: Any) -> None:
        self._oracle = oracle

    def decide(self, proposal: Proposal, *, revision_depth: int = 0) -> Verdict:
        with self.lock:
            self.calls.append((proposal, revision_depth))
        tool = proposal.tool
        amendment = None
        if tool.startswith("danger."):
            decision = Decision.BLOCK
        elif tool.startswith("review."):
            decision = Decision.ESCALATE
        elif tool == "sql.query" and proposal.arguments_object().get("limit") is None:
            decision = Decision.REVISE
            amendment = Amendment(set_arguments={"limit": 100}, constraints=("max_rows<=100",))
        else:
            decision = Decision.ALLOW
        signal = self._oracle.evaluate(proposal)
        return Verdict(
            decision=decision,
            tier="test",
            reasons=(f"{decision.value.lower()} by tool rule",),
            policy_version="test-1",
            latency_us=1,
            signal=signal,
            amendment=amendment,
            oracle_version=signal.version,
            oracle_digest=signal.digest,
        )


class ScriptedProducer:
    """A confluent-kafka Producer stand-in: acknowledges on flush unless ``down`` is set; every
    topic has ``partitions`` partitions (``list_topics`` fails while ``down``)."""

    def __init__(self, partitions: int = 6) -> None:
        self.down = False
        self.partitions = partitions
        self.delivered: list[tuple[str, bytes | None, bytes]] = []
        self.placed: list[int] = []
        self._queued: list[tuple[str, bytes | None, bytes, Any]] = []

    def list_topics(self, topic: str, timeout: float = 0.0) -> Any:
        if self.down:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))
        found = SimpleNamespace(error=None, partitions=dict.fromkeys(range(self.partitions)))
        return SimpleNamespace(topics={topic: found})

    def produce(
        self,
        topic: str,
        *,
        value: bytes,
        key: bytes | None,
        headers: Any,
        on_delivery: Any,
        partition: int = -1,
    ) -> None:
        self.placed.append(partition)
        self._queued.append((topic, key, value, on_delivery))

    def flush(self, timeout: float = 0.0) -> int:
        queued, self._queued = self._queued, []
        for topic, key, value, callback in queued:
            if self.down:
                callback(KafkaError(KafkaError._MSG_TIMED_OUT), None)
            else:
                self.delivered.append((topic, key, value))
                callback(None, None)
        return 0

    def purge(self) -> None:
        self._queued.clear()

    def poll(self, timeout: float = 0.0) -> int:
        return 0
