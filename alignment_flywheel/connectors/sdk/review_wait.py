"""Waiting for a human's review of an escalated call, for :meth:`Guard.enforce`/``resolve``.

Rules: the waiter is positioned before the ``ReviewRequested`` is published (so no decision can
slip past it), or, resolving a decision made earlier, from the decision's time. APPROVE returns the
arguments; DENY raises :class:`~.errors.ActionEscalated`; no answer within the timeout (or a broker
that cannot be read) records an automatic ``ReviewDecided`` and, when
``settings.deny_on_review_timeout`` (the default), raises :class:`~.errors.ReviewTimeout`;
otherwise it logs a warning and returns the arguments.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.sdk.decision import GuardDecision
from alignment_flywheel.connectors.sdk.errors import ActionEscalated, ReviewTimeout
from alignment_flywheel.connectors.sdk.journal import JournalRecord
from alignment_flywheel.connectors.sdk.records import RecordBuilder
from alignment_flywheel.connectors.sdk.reviews import ReviewWaiter
from alignment_flywheel.errors import KafkaTransportError
from alignment_flywheel.events import ReviewOutcome

log = logging.getLogger(__name__)
Waiter = ReviewWaiter | KafkaTransportError | None


def describe(result: GuardDecision, what: str) -> str:
    reasons = "; ".join(result.verdict.reasons) or result.verdict.error or "no reason given"
    return f"{result.proposal.tool} ({result.proposal_id}) {what}: {reasons}"


class ReviewAwait:
    """The review-waiting part of a guard."""

    def __init__(
        self,
        settings: Settings,
        codec: EventCodec,
        builder: RecordBuilder,
        publish: Callable[[list[JournalRecord]], None],
    ) -> None:
        self._settings = settings
        self._codec = codec
        self._builder = builder
        self._publish = publish

    def waiter_at_end(self, timeout_s: float | None) -> ReviewWaiter | KafkaTransportError:
        timeout = self._settings.review_timeout_s if timeout_s is None else timeout_s
        topic = self._builder.topics.reviews
        try:
            return ReviewWaiter.at_end(self._settings, self._codec, topic, timeout)
        except KafkaTransportError as exc:
            return exc

    def await_review(
        self, result: GuardDecision, timeout_s: float, waiter: Waiter
    ) -> dict[str, Any]:
        if waiter is None:
            topic = self._builder.topics.reviews
            try:
                waiter = ReviewWaiter.since(
                    self._settings, self._codec, topic, timeout_s, result.decided_at
                )
            except KafkaTransportError as exc:
                waiter = exc
        if isinstance(waiter, KafkaTransportError):
            return self._on_timeout(result, timeout_s, str(waiter))
        try:
            decided = waiter.wait(result.proposal_id, timeout_s)
        finally:
            waiter.close()
        if decided is None:
            return self._on_timeout(result, timeout_s, None)
        if decided.outcome is ReviewOutcome.APPROVE:
            return dict(result.arguments)
        what = f"denied by reviewer {decided.reviewer} ({decided.reason})"
        raise ActionEscalated(describe(result, what), result)

    def _on_timeout(
        self, result: GuardDecision, timeout_s: float, problem: str | None
    ) -> dict[str, Any]:
        reason = f"no review decision within {timeout_s:g} s" + (f": {problem}" if problem else "")
        deny = self._settings.deny_on_review_timeout
        outcome = ReviewOutcome.DENY if deny else ReviewOutcome.APPROVE
        review_id = result.review_id or uuid.uuid4()
        self._publish([self._builder.automatic_review(result.proposal, review_id, outcome, reason)])
        if deny:
            raise ReviewTimeout(describe(result, f"escalated, {reason}"), result)
        log.warning("%s; proceeding because deny_on_review_timeout is off", reason)
        return dict(result.arguments)
