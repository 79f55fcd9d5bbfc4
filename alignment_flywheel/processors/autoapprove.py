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

from alignment_flywheel.config import Settings
from alignment_flywheel.events import Event
from alignment_flywheel.governance.autoapprove import AutoApprover
from alignment_flywheel.governance.autoapprove_core import AutoApproveCore
from alignment_flywheel.processors.shell import Shell
from alignment_flywheel.roles import RoleTopics


class AutoApproval:
    def __init__(
        self,
        settings: Settings,
        approver: AutoApprover,
        *,
        topics: RoleTopics | None = None,
        app_id: str | None = None,
        **app_overrides: Any,
    ) -> None:
        self.approver = approver
        self._core = AutoApproveCore(approver)
        topics = topics or RoleTopics("autoapprove")
        self.shell = Shell(settings, topics, app_id=app_id, **app_overrides)
        self.app = self.shell.app
        self.shell.consume("PatchProposed", "auto-approve", self.handle)

    async def handle(self, event: Event) -> None:
        """Answer one patch with the approvals its evidence earns."""
        await self.shell.emit(self._core({}, event).emitted)
