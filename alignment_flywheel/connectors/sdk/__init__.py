"""The in-process SDK for proposers: guard an agent's tool calls before they run.

``Guard`` (threads) and ``AsyncGuard`` (asyncio) decide with a local enforcer, publish every
decision to Kafka in the background (journaling it locally while Kafka is unreachable), and turn
decisions into exceptions for the agent. See ``docs/sdk.md``.
"""

from alignment_flywheel.connectors.sdk.async_guard import AsyncGuard
from alignment_flywheel.connectors.sdk.decision import GuardDecision, OracleSource, SwappableDecider
from alignment_flywheel.connectors.sdk.errors import (
    ActionBlocked,
    ActionDenied,
    ActionEscalated,
    ActionNeedsRevision,
    InvalidProposalError,
    InvalidToolCallError,
    JournalError,
    OversizedProposalError,
    ReviewTimeout,
)
from alignment_flywheel.connectors.sdk.guard import DEFAULT_RISK, Guard
from alignment_flywheel.connectors.sdk.journal import Journal, JournalRecord
from alignment_flywheel.connectors.sdk.openai import (
    ToolCall,
    catalog_from_openai_tools,
    parse_tool_call,
)
from alignment_flywheel.connectors.sdk.records import (
    DECIDED_BY_HTTP,
    DECIDED_BY_SDK,
    SdkTopics,
)
from alignment_flywheel.kafka.headers import DECIDED_BY_HEADER

__all__ = [
    "DECIDED_BY_HEADER",
    "DECIDED_BY_HTTP",
    "DECIDED_BY_SDK",
    "DEFAULT_RISK",
    "ActionBlocked",
    "ActionDenied",
    "ActionEscalated",
    "ActionNeedsRevision",
    "AsyncGuard",
    "Guard",
    "GuardDecision",
    "InvalidProposalError",
    "InvalidToolCallError",
    "Journal",
    "JournalError",
    "JournalRecord",
    "OracleSource",
    "OversizedProposalError",
    "ReviewTimeout",
    "SdkTopics",
    "SwappableDecider",
    "ToolCall",
    "catalog_from_openai_tools",
    "parse_tool_call",
]
