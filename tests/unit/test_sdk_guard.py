"""The guard's decisions without Kafka: enforcement outcomes, revise chains, the decorators."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.sdk import (
    ActionBlocked,
    ActionNeedsRevision,
    AsyncGuard,
    Guard,
    InvalidProposalError,
    ReviewTimeout,
)
from alignment_flywheel.enforcement import Enforcer, build_policy
from alignment_flywheel.events import Decision
from alignment_flywheel.oracle import UnknownToolError
from tests.support.oracles import policy_doc, rule, rule_oracle
from tests.unit.test_sdk_fakes import FixedOracle, ToolEnforcer


@pytest.fixture
def enforcer() -> ToolEnforcer:
    return ToolEnforcer()


@pytest.fixture
def guard(settings_factory: Callable[..., Settings], enforcer: ToolEnforcer) -> Guard:
    return Guard(settings_factory(), enforcer=enforcer, publish=False, proposer_id="agent-1")


def test_check_returns_the_verdict_and_the_proposal(guard: Guard) -> None:
    result = guard.check("fs.read", {"path": "/etc/hosts"}, reasoning="look up a host")
    assert result.decision is Decision.ALLOW
    assert result.allowed
    assert result.proposal.proposer_id == "agent-1"
    assert result.proposal.session_id == guard.session_id
    assert result.proposal.reasoning == "look up a host"
    assert result.proposal_id == result.proposal.proposal_id


def test_revise_carries_the_amendment_and_the_revised_arguments(guard: Guard) -> None:
    result = guard.check("sql.query", {"sql": "select 1"})
    assert result.decision is Decision.REVISE
    assert result.amendment is not None
    assert result.amendment.constraints == ("max_rows<=100",)
    assert result.revised_arguments == {"sql": "select 1", "limit": 100}


def test_revise_depth_follows_the_chain(guard: Guard, enforcer: ToolEnforcer) -> None:
    first = guard.check("sql.query", {"sql": "x"})
    second = guard.check("sql.query", {"sql": "y"}, parent_proposal_id=first.proposal_id)
    third = guard.check("sql.query", {"sql": "z"}, parent_proposal_id=second.proposal_id)
    other = guard.check("sql.query", {"sql": "w"}, parent_proposal_id=first.proposal_id)
    assert [depth for _, depth in enforcer.calls] == [0, 1, 2, 1]
    assert third.revision_depth == 2
    assert other.revision_depth == 1
    assert third.proposal.parent_proposal_id == second.proposal_id


def test_unknown_parent_counts_as_depth_one(guard: Guard) -> None:
    result = guard.check("fs.read", {}, parent_proposal_id=uuid.uuid4())
    assert result.revision_depth == 1


def test_enforce_allow_returns_the_arguments(guard: Guard) -> None:
    assert guard.enforce("fs.read", {"path": "a"}) == {"path": "a"}


def test_enforce_block_raises(guard: Guard) -> None:
    with pytest.raises(ActionBlocked, match=r"danger\.rm") as caught:
        guard.enforce("danger.rm", {"path": "/"})
    assert caught.value.result.decision is Decision.BLOCK


def test_enforce_revise_resubmits_as_a_child(guard: Guard, enforcer: ToolEnforcer) -> None:
    allowed = guard.enforce("sql.query", {"sql": "select 1"})
    assert allowed == {"sql": "select 1", "limit": 100}
    (first, first_depth), (second, second_depth) = enforcer.calls
    assert second.parent_proposal_id == first.proposal_id
    assert (first_depth, second_depth) == (0, 1)


def test_enforce_revise_without_auto_apply_raises(guard: Guard) -> None:
    with pytest.raises(ActionNeedsRevision) as caught:
        guard.enforce("sql.query", {"sql": "s"}, auto_apply_revisions=False)
    assert caught.value.revised_arguments == {"sql": "s", "limit": 100}
    assert caught.value.amendment is not None


def test_enforce_escalate_without_a_broker_is_denied(
    settings_factory: Callable[..., Settings], enforcer: ToolEnforcer
) -> None:
    settings = settings_factory(bootstrap_servers="127.0.0.1:1")
    guard = Guard(settings, enforcer=enforcer, publish=False, proposer_id="a")
    started = time.monotonic()
    with pytest.raises(ReviewTimeout, match=r"no review decision within 0\.5 s"):
        guard.enforce("review.deploy", {}, review_timeout_s=0.5)
    assert time.monotonic() - started < 5


def test_swap_oracle_changes_later_decisions(guard: Guard) -> None:
    assert guard.check("fs.read", {}).verdict.oracle_version == 1
    guard.swap_oracle(FixedOracle(7))
    assert guard.check("fs.read", {}).verdict.oracle_version == 7


def test_follow_swaps_in_what_the_source_delivers(guard: Guard) -> None:
    class Source:
        def attach(self, swap: Callable[[Any], None]) -> None:
            swap(FixedOracle(3))

    guard.follow(Source())
    assert guard.enforcer.oracle.version == 3


def test_empty_proposer_is_refused(settings_factory: Callable[..., Settings]) -> None:
    with pytest.raises(InvalidProposalError, match="proposer_id"):
        Guard(settings_factory(), enforcer=ToolEnforcer(), publish=False, proposer_id="")


# --- decorators ----------------------------------------------------------------------------------


def test_decorator_binds_positional_keyword_and_default_arguments(
    guard: Guard, enforcer: ToolEnforcer
) -> None:
    @guard.tool("fs.write")
    def write(path: str, /, data: str, *, mode: str = "w", **extra: Any) -> str:
        return f"{path}|{data}|{mode}|{extra}"

    assert write("/tmp/a", "hi", owner="me") == "/tmp/a|hi|w|{'owner': 'me'}"
    proposal, _ = enforcer.calls[-1]
    assert proposal.tool == "fs.write"
    assert proposal.arguments_object() == {
        "path": "/tmp/a",
        "data": "hi",
        "mode": "w",
        "owner": "me",
    }


def test_decorator_does_not_run_a_blocked_call(guard: Guard) -> None:
    ran: list[str] = []

    @guard.tool("danger.rm")
    def remove(path: str) -> None:
        ran.append(path)

    with pytest.raises(ActionBlocked):
        remove("/")
    assert ran == []


def test_decorator_runs_with_revised_arguments(guard: Guard) -> None:
    @guard.tool("sql.query")
    def query(sql: str, limit: int | None = None) -> tuple[str, int | None]:
        return sql, limit

    assert query("select *") == ("select *", 100)


def test_decorator_can_refuse_revisions(guard: Guard) -> None:
    @guard.tool("sql.query", auto_apply_revisions=False)
    def query(sql: str) -> str:
        return sql

    with pytest.raises(ActionNeedsRevision):
        query("select *")


def test_decorator_refuses_revision_keys_the_function_lacks(guard: Guard) -> None:
    @guard.tool("sql.query")
    def query(sql: str) -> str:
        return sql

    with pytest.raises(InvalidProposalError, match=r"arguments.limit: is not a parameter"):
        query("select *")


def test_decorator_rejects_bad_binding_before_deciding(
    guard: Guard, enforcer: ToolEnforcer
) -> None:
    @guard.tool("fs.read")
    def read(path: str) -> str:
        return path

    with pytest.raises(TypeError):
        read()  # type: ignore[call-arg]
    assert enforcer.calls == []


def test_decorator_rejects_unknown_options(guard: Guard) -> None:
    with pytest.raises(TypeError, match=r"unknown guard\.tool options: colour"):
        guard.tool("fs.read", colour="red")(lambda: None)


def test_async_decorator_and_enforce(
    settings_factory: Callable[..., Settings], enforcer: ToolEnforcer
) -> None:
    guard = AsyncGuard(settings_factory(), enforcer=enforcer, publish=False, proposer_id="a")

    @guard.tool("sql.query")
    async def query(sql: str, limit: int | None = None) -> tuple[str, int | None]:
        await asyncio.sleep(0)
        return sql, limit

    @guard.tool("danger.drop")
    async def drop(table: str) -> None:
        raise AssertionError("must not run")

    async def scenario() -> None:
        assert await query("q") == ("q", 100)
        with pytest.raises(ActionBlocked):
            await drop("users")
        assert await guard.enforce("fs.read", {"p": 1}) == {"p": 1}
        assert await guard.close() is True

    asyncio.run(scenario())


def test_async_guard_refuses_sync_functions(
    settings_factory: Callable[..., Settings], enforcer: ToolEnforcer
) -> None:
    guard = AsyncGuard(settings_factory(), enforcer=enforcer, publish=False, proposer_id="a")
    with pytest.raises(TypeError, match="needs an async function"):
        guard.tool("fs.read")(lambda path: path)


def test_a_tool_outside_the_oracle_catalog_is_refused_before_anything_is_published(
    settings_factory: Callable[..., Settings],
) -> None:
    catalogued = Enforcer(
        rule_oracle(rule("r", "false"), tools=["fs.*"]), build_policy(policy_doc())
    )
    guard = Guard(settings_factory(), enforcer=catalogued, publish=False, proposer_id="a")
    assert guard.check("fs.read", {"path": "/a"}).allowed
    records: list[object] = []
    guard._publish = records.extend  # type: ignore[method-assign]
    with pytest.raises(UnknownToolError, match=r"unknown tool 'rocket\.launch'"):
        guard.check("rocket.launch", {"target": "moon"})
    assert records == []
