"""The guard for asyncio agents.

Rules: :class:`AsyncGuard` wraps a :class:`~alignment_flywheel.connectors.sdk.guard.Guard` and never
blocks the event loop on Kafka. ``check`` is a plain method: the in-process decision does no
network I/O and publishing is handed to the background publisher thread (it touches the local
disk only when the buffer is full). ``enforce`` settles ALLOW and BLOCK on the loop and runs
anything that may wait for a reviewer in a worker thread; ``close`` runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.sdk import validation
from alignment_flywheel.connectors.sdk.decision import GuardDecision
from alignment_flywheel.connectors.sdk.decorate import decide_async, guarded
from alignment_flywheel.connectors.sdk.guard import Guard
from alignment_flywheel.events import RiskContext
from alignment_flywheel.oracle import Oracle

F = TypeVar("F", bound=Callable[..., Any])


class AsyncGuard:
    """Guards one proposer's tool calls in an asyncio program. Arguments as for :class:`Guard`."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        self.guard = Guard(settings, **options)

    def check(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        **options: Any,
    ) -> GuardDecision:
        """Decide on one tool call (see :meth:`Guard.check`); does not wait on Kafka."""
        return self.guard.check(tool, arguments, **options)

    def check_tool_call(self, call: object, **options: Any) -> GuardDecision:
        return self.guard.check_tool_call(call, **options)

    def check_tool_calls(self, calls: Iterable[object], **options: Any) -> list[GuardDecision]:
        return self.guard.check_tool_calls(calls, **options)

    async def enforce(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        *,
        reasoning: str | None = None,
        risk: RiskContext | Mapping[str, Any] | None = None,
        review_timeout_s: float | None = None,
        auto_apply_revisions: bool | None = None,
    ) -> dict[str, Any]:
        """The arguments the call may run with, or ActionDenied (see :meth:`Guard.enforce`)."""
        return await decide_async(
            self.guard,
            tool,
            arguments,
            {"reasoning": reasoning, "risk": risk},
            {"review_timeout_s": review_timeout_s, "auto_apply_revisions": auto_apply_revisions},
        )

    async def resolve(self, result: GuardDecision, **options: Any) -> dict[str, Any]:
        """See :meth:`Guard.resolve`; runs in a worker thread."""
        return await asyncio.to_thread(self.guard.resolve, result, **options)

    def tool(self, name: str, **options: Any) -> Callable[[F], F]:
        """Decorate an async tool function (see :meth:`Guard.tool`)."""
        validation.check_tool(name)

        def decorate(function: F) -> F:
            if not asyncio.iscoroutinefunction(function):
                raise TypeError(f"AsyncGuard.tool needs an async function, got {function!r}")
            return guarded(self.guard, name, function, options)

        return decorate

    def swap_oracle(self, oracle: Oracle) -> None:
        self.guard.swap_oracle(oracle)

    async def close(self, timeout: float = 30.0) -> bool:
        """Publish what is left (see :meth:`Guard.close`) without blocking the loop."""
        return await asyncio.to_thread(self.guard.close, timeout)

    async def __aenter__(self) -> AsyncGuard:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
