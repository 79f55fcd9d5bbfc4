"""The patches topic as state: each patch with its approvals and rejections; publishing to it.

Rules:

* The topic is read from the beginning up to its end as of now with
  :func:`alignment_flywheel.kafka.reader.read_topic` (no consumer group is left behind).
* Folding keeps, per patch id, the first ``PatchProposed`` and every ``PatchApproved`` and
  ``PatchRejected`` in topic order. Approvals are kept as they are: verifying them is
  :class:`~.verify.PatchVerifier`'s job. Records that do not decode are passed over by the reader.
* A topic that is missing, or a broker that does not answer, is a ``KafkaTransportError``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import InvalidInputError
from alignment_flywheel.events import Event, PatchApproved, PatchProposed, PatchRejected
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.kafka.reader import read_topic
from alignment_flywheel.roles import topic_for

PATCHES_TOPIC = topic_for("PatchProposed")


@dataclass
class PatchRecord:
    """One patch as the topic tells it."""

    proposed: PatchProposed
    approvals: list[PatchApproved] = field(default_factory=list)
    rejections: list[PatchRejected] = field(default_factory=list)


def fold_patches(events: Iterable[Event]) -> dict[uuid.UUID, PatchRecord]:
    """Patch records by id; approvals or rejections of an unknown patch are dropped."""
    records: dict[uuid.UUID, PatchRecord] = {}
    early: list[PatchApproved | PatchRejected] = []
    for event in events:
        if isinstance(event, PatchProposed):
            records.setdefault(event.patch_id, PatchRecord(event))
        elif isinstance(event, PatchApproved | PatchRejected):
            early.append(event)
    for event in early:
        record = records.get(event.patch_id)
        if record is None:
            continue
        if isinstance(event, PatchApproved):
            record.approvals.append(event)
        else:
            record.rejections.append(event)
    return records


class PatchLedger:
    """Reads the patches topic and publishes to it."""

    def __init__(
        self, settings: Settings, codec: EventCodec | None = None, *, topic: str = PATCHES_TOPIC
    ) -> None:
        self._settings = settings
        self._codec = codec or EventCodec.from_settings(settings)
        self.topic = topic

    def records(self) -> dict[uuid.UUID, PatchRecord]:
        return fold_patches(read_topic(self._settings, self._codec, self.topic))

    def record(self, patch_id: uuid.UUID) -> PatchRecord:
        """The record of one patch; InvalidInputError if the topic has no such patch."""
        found = self.records().get(patch_id)
        if found is None:
            raise InvalidInputError(f"no patch {patch_id} on {self.topic}")
        return found

    def publish(self, event: Event) -> None:
        with EventProducer(self._settings, self._codec) as producer:
            producer.send(self.topic, event)
