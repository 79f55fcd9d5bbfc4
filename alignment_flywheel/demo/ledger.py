"""Verifying the demo's audit ledger: every audited topic against the demo ledger key's checkpoints.

Rules:

* The same checks as ``flywheel audit verify`` (:func:`alignment_flywheel.audit.verify.verify_log`
  over each partition, with the ledger worker's leaf store), on every audited topic.
* Trusted keys: the demo's ledger key only. A broker kept from earlier runs can hold checkpoints
  by earlier runs' ledger keys on the same ledger topic; they are set aside (counted in
  ``foreign_checkpoints``), not trusted and not failed: each run vouches for its own log.
* A partition without any record and without any checkpoint passes (nothing written, nothing
  signed); a partition with records but no checkpoint of this key is a finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from alignment_flywheel.audit.ledger import LeafStore, log_id_for
from alignment_flywheel.audit.source import (
    is_compacted,
    read_checkpoints,
    read_partition,
    topic_partitions,
)
from alignment_flywheel.audit.verify import LogReport, checked_chain, verify_log
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import FlywheelError
from alignment_flywheel.events import LedgerCheckpoint
from alignment_flywheel.patches.keys import KeyStore
from alignment_flywheel.patches.signing import key_id
from alignment_flywheel.processors.ledger import AUDITED_TOPICS, LedgerTopics


@dataclass
class LedgerOutcome:
    """What the verification found over every audited topic."""

    logs: list[LogReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    foreign_checkpoints: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.ok for r in self.logs)

    @property
    def signed(self) -> int:
        return sum(r.signed_size for r in self.logs)


def verify_demo_ledger(settings: Settings, key_name: str) -> LedgerOutcome:
    """Verify every audited topic of the catalog against this run's ledger key."""
    public = KeyStore(settings.effective_keys_dir).public(key_name)
    trusted = {key_id(public): public}
    codec = EventCodec.from_settings(settings)
    checkpoints, corrupt = read_checkpoints(settings, codec, LedgerTopics().ledger)
    ours = [c for c in checkpoints if c.key_id in trusted]
    outcome = LedgerOutcome(foreign_checkpoints=len(checkpoints) - len(ours))
    outcome.problems += [f"ledger record {c.partition}/{c.offset}: {c.reason}" for c in corrupt]
    store = LeafStore(settings.state_dir / "ledger")
    for topic in AUDITED_TOPICS:
        for part in topic_partitions(settings, topic):
            try:
                _verify(
                    settings,
                    topic,
                    part=part,
                    checkpoints=ours,
                    trusted=trusted,
                    store=store,
                    outcome=outcome,
                )
            except FlywheelError as exc:
                outcome.problems.append(f"{log_id_for(topic, part)}: {exc}")
    return outcome


def _verify(
    settings: Settings,
    topic: str,
    *,
    part: int,
    checkpoints: list[LedgerCheckpoint],
    trusted: dict[str, Ed25519PublicKey],
    store: LeafStore,
    outcome: LedgerOutcome,
) -> None:
    name = log_id_for(topic, part)
    records = read_partition(settings, topic, part)
    if not records and not any(c.log_id == name for c in checkpoints):
        return
    chain = checked_chain(name, checkpoints, trusted)
    stored = store.load(name) if store.path(name).exists() else None
    from_first = not records or records[0][0] <= chain[0].first_offset
    report = verify_log(
        name,
        records,
        chain,
        trusted,
        stored=stored,
        from_first_offset=from_first,
        compacted_topic=is_compacted(settings, topic),
    )
    outcome.logs.append(report)
