"""The verification processor: findings in, norms verdicts out (``governance.verification``).

Two agents in one app:

* **findings**: for each ``FindingRaised``, one ``VerificationRecorded`` to the verifications
  topic (keyed by the finding id) and, when the norms are inconclusive, a ``ReviewRequested`` to
  the reviews topic. A record that does not decode (oversized ones included), or is not a
  finding, is dead-lettered (its catalog topic carries nothing else).
* **reviews**: a ``ReviewDecided`` that answers a verification review becomes that finding's
  ``VerificationRecorded`` (:func:`~alignment_flywheel.governance.verification.review_verification`,
  with this worker's norms version), published like the first. A record that does not decode, or
  is an event the reviews topic does not carry, is dead-lettered; every other event on the
  reviews topic (requests, answers to the gate's reviews, automatic decisions) is passed over.

Any other failure stops the worker. Every output is confirmed by the broker before the next record
is read, and all ids (event ids too) follow from the finding id or the review id, so a restart
re-emits the same events and loses none: a record is acknowledged, and its offset committed, only
after its outputs or its dead letter are confirmed (:func:`~.streams.handled`). The processor
keeps no state.

The per-record logic is a pure core (:mod:`~alignment_flywheel.governance.verification_core`,
where its restart rules are tested without a broker); the agents decode, step, and send what the
step emitted, each event to its topic, in order.
"""

from __future__ import annotations

from typing import Any

from alignment_flywheel.config import Settings
from alignment_flywheel.events import Event, FindingRaised, ReviewDecided
from alignment_flywheel.governance.norms import Norms
from alignment_flywheel.governance.verification_core import VerificationCore
from alignment_flywheel.processors.shell import Shell
from alignment_flywheel.roles import RoleTopics


class Verification:
    """The verification app. Build with :func:`build_verification`."""

    def __init__(
        self,
        settings: Settings,
        norms: Norms,
        *,
        topics: RoleTopics | None = None,
        app_id: str | None = None,
        **app_overrides: Any,
    ) -> None:
        self.norms = norms
        self._core = VerificationCore(norms, settings.identity)
        self.shell = Shell(settings, topics or RoleTopics("verify"), app_id=app_id, **app_overrides)
        self.app = self.shell.app
        self.shell.consume("FindingRaised", "verification", self.handle)
        self.shell.consume("ReviewDecided", "reviews", self.handle)

    async def handle(self, event: Event) -> None:
        """Verify a finding, or apply a review's answer; publish the events, each confirmed."""
        if isinstance(event, FindingRaised | ReviewDecided):
            await self.shell.emit(self._core({}, event).emitted)


def build_verification(settings: Settings, norms: Norms, **options: Any) -> Verification:
    """A verification worker's app; ``options`` as :class:`Verification` takes them."""
    return Verification(settings, norms, **options)
