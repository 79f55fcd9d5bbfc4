"""The auto-approver worker (see :mod:`alignment_flywheel.governance.autoapprove`).

It consumes the patches topic and answers each ``PatchProposed`` whose regression evidence passed
with the automatic approvals of its keys, on the same topic (keyed by patch id). Signatures are
deterministic (Ed25519), so an approval re-sent after a restart is the same signature by the same
key, which the verifier counts once. Records that do not decode, and valid events of a type the
patches topic does not carry, are dead-lettered; approvals and rejections are passed over. A
record is acknowledged, and its offset committed, only after its approvals are confirmed.

The per-record logic is a pure core (:mod:`~alignment_flywheel.governance.autoapprove_core`,
where its restart rules are tested without a broker); the agent decodes, steps and sends what the
step emitted, in order.
"""

from __future__ import annotations

from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.governance.autoapprove import AutoApprover
from alignment_flywheel.governance.autoapprove_core import AutoApproveCore
from alignment_flywheel.processors.app import agent, create_app
from alignment_flywheel.processors.streams import (
    DeadLetterWriter,
    decoded,
    event_topic,
    expected_on,
    raw_topic,
    send_confirmed,
)
from alignment_flywheel.roles import group_for, topic_for

DEFAULT_APP_ID = group_for("autoapprove")


class AutoApproval:
    def __init__(
        self,
        settings: Settings,
        approver: AutoApprover,
        *,
        patches: str = topic_for("PatchProposed"),
        dead_letters: str = topic_for("DeadLettered"),
        app_id: str = DEFAULT_APP_ID,
        **app_overrides: Any,
    ) -> None:
        self.approver = approver
        self.approved = 0
        self._core = AutoApproveCore(approver)
        self._codec = EventCodec.from_settings(settings)
        self.app = create_app(settings, app_id, **app_overrides)
        self._out = event_topic(self.app, patches, self._codec)
        source = raw_topic(self.app, patches)
        dead = raw_topic(self.app, dead_letters)
        self._dead = DeadLetterWriter(dead, self._codec, producer=approver.producer, group=app_id)
        agent(self.app, source, name="auto-approve")(self._run)

    async def _run(self, stream: Any) -> None:
        patches = expected_on(topic_for("PatchProposed"))
        async for event in decoded(stream, self._codec, self._dead, patches):
            for approval in self._core({}, event).emitted:
                await send_confirmed(self._out, approval)
                self.approved += 1
