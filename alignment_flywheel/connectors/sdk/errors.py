"""The exceptions of the SDK.

* :class:`InvalidProposalError` (an :class:`~alignment_flywheel.errors.InvalidInputError`): the
  proposal itself is wrong (tool name, arguments, risk context); ``field`` names what.
  :class:`InvalidToolCallError` is its variant for OpenAI-style tool calls and names the call id;
  :class:`OversizedProposalError` the one for a proposal larger than ``settings.max_event_bytes``.
* :class:`ActionDenied` and its subclasses: the action must not run. Each carries the
  :class:`~alignment_flywheel.connectors.sdk.guard.GuardDecision` that led to it as ``result``.
  :class:`ActionBlocked` (BLOCK), :class:`ActionNeedsRevision` (REVISE not applied, with the
  amendment and the revised arguments), :class:`ActionEscalated` (a reviewer denied it) and
  :class:`ReviewTimeout` (no reviewer answered in time; fail closed).
* :class:`JournalError` (a :class:`~alignment_flywheel.errors.TransportError`): the local journal
  could not be written or read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alignment_flywheel.errors import FlywheelError, InvalidInputError, TransportError

if TYPE_CHECKING:
    from alignment_flywheel.connectors.sdk.decision import GuardDecision
    from alignment_flywheel.oracle import Amendment


class InvalidProposalError(InvalidInputError):
    """A proposal was refused at the edge, before any decision; ``field`` names the bad part."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class InvalidToolCallError(InvalidProposalError):
    """An OpenAI-style tool call could not be read; ``call_id`` names it."""

    def __init__(self, call_id: str, field: str, problem: str) -> None:
        super().__init__(field, f"tool call {call_id!r}: {problem}")
        self.call_id = call_id


class OversizedProposalError(InvalidProposalError):
    """The proposal (its arguments) is larger than ``settings.max_event_bytes``."""


class ActionDenied(FlywheelError):
    """The guarded action must not run; ``result`` is the decision behind it."""

    def __init__(self, message: str, result: GuardDecision) -> None:
        super().__init__(message)
        self.result = result


class ActionBlocked(ActionDenied):
    """The enforcement layer blocked the action."""


class ActionNeedsRevision(ActionDenied):
    """The action may only run revised; ``amendment`` and ``revised_arguments`` say how."""

    @property
    def amendment(self) -> Amendment | None:
        return self.result.amendment

    @property
    def revised_arguments(self) -> dict[str, Any] | None:
        return self.result.revised_arguments


class ActionEscalated(ActionDenied):
    """The action was escalated to a human, who denied it."""


class ReviewTimeout(ActionEscalated):
    """The action was escalated and no human decided in time; it is denied (fail closed)."""


class JournalError(TransportError):
    """The local journal of unpublished records could not be written or read."""
