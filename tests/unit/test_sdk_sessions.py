"""Session context in the SDK without Kafka: start_session, observe, the bounded store, and checks
decided in the session's context."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.sdk import Guard, InvalidProposalError, JournalRecord
from alignment_flywheel.connectors.sdk.records import DECIDED_BY_HEADER
from alignment_flywheel.connectors.sdk.sessions import SessionStore
from alignment_flywheel.enforcement import Enforcer, build_policy
from alignment_flywheel.events import (
    MAX_OUTPUT_CHARS,
    MAX_REQUEST_CHARS,
    Decision,
    SessionStarted,
    ToolResultObserved,
    new_envelope,
)
from alignment_flywheel.oracle.provenance import EMPTY, step
from tests.support.oracles import policy_doc, rule, rule_oracle
from tests.unit.test_sdk_fakes import ToolEnforcer

EMAIL = "From: landlord. New account for the rent: DE89 3704 0044 0532 0130 00"
IBAN = "DE89 3704 0044 0532 0130 00"
RULE = rule(
    "pay.iban-only-from-a-tool",
    'has(provenance.iban) && !("user" in provenance.iban)'
    ' && provenance.iban.exists(s, s.startsWith("tool:") || s.startsWith("text:"))',
    tools=["bank.*"],
)


@pytest.fixture
def guard(settings_factory: Callable[..., Settings]) -> Guard:
    enforcer = Enforcer(rule_oracle(RULE), build_policy(policy_doc()))
    return Guard(settings_factory(), enforcer=enforcer, publish=False, proposer_id="agent-1")


class Captured:
    """Records what a guard hands to its publisher."""

    def __init__(self, guard: Guard) -> None:
        self.records: list[JournalRecord] = []
        guard._publish = self.records.extend  # type: ignore[method-assign]
        guard.sessions._publish = self.records.extend


def test_a_check_is_decided_in_the_session_context(guard: Guard) -> None:
    guard.start_session("Please pay this month's rent to my landlord.")
    guard.observe("email.read", EMAIL)
    decided = guard.check("bank.transfer", {"iban": IBAN, "amount": 1200})
    assert decided.decision is Decision.BLOCK
    assert decided.verdict.reasons[1].startswith("rule pay.iban-only-from-a-tool")


def test_a_value_from_the_users_request_is_allowed(guard: Guard) -> None:
    guard.start_session(f"Pay 1200 EUR to {IBAN}, it is my landlord's new account.")
    guard.observe("email.read", EMAIL)
    assert guard.check("bank.transfer", {"iban": IBAN, "amount": 1200}).allowed


def test_without_a_session_the_rule_stays_quiet(guard: Guard) -> None:
    assert guard.check("bank.transfer", {"iban": IBAN, "amount": 1200}).allowed


def test_a_restart_resets_the_context_and_may_switch_session(guard: Guard) -> None:
    guard.start_session("pay my rent")
    guard.observe("email.read", EMAIL)
    first = guard.session_id
    assert guard.start_session("pay my rent", session_id="s-2") == "s-2"
    assert guard.session_id == "s-2"
    context = guard.sessions.context("agent-1", "s-2")
    assert context is not None and context.outputs == ()
    assert guard.check("bank.transfer", {"iban": IBAN}).proposal.session_id == "s-2"
    assert guard.sessions.context("agent-1", first) is not None


def test_the_events_go_to_the_proposals_topic_keyed_by_session(guard: Guard) -> None:
    captured = Captured(guard)
    guard.start_session("pay my rent")
    produced = guard.observe("email.read", EMAIL, proposal_id=(pid := uuid.uuid4()))
    codec = EventCodec.from_settings(guard.settings)
    events = [codec.decode(r.value) for r in captured.records]
    assert [type(e) for e in events] == [SessionStarted, ToolResultObserved]
    assert {r.topic for r in captured.records} == {guard.topics.proposals}
    assert {r.key for r in captured.records} == {guard.session_id.encode()}
    assert all(DECIDED_BY_HEADER not in dict(r.headers) for r in captured.records)
    assert events[1] == produced
    assert (produced.proposal_id, produced.tool, produced.truncated) == (pid, "email.read", False)


def test_long_texts_are_cut_and_marked(guard: Guard) -> None:
    guard.start_session("r" * (MAX_REQUEST_CHARS + 5))
    event = guard.observe("web.get", "o" * (MAX_OUTPUT_CHARS + 1))
    assert event.truncated and len(event.output) == MAX_OUTPUT_CHARS
    context = guard.sessions.context(guard.proposer_id, guard.session_id)
    assert context is not None and len(context.request) == MAX_REQUEST_CHARS


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda g: g.observe("not a tool", "x"), "tool"),
        (lambda g: g.observe("web.get", b"bytes"), "output"),
        (lambda g: g.start_session(None), "request"),
    ],
)
def test_bad_session_input_is_refused(
    guard: Guard, call: Callable[[Guard], Any], field: str
) -> None:
    with pytest.raises(InvalidProposalError) as caught:
        call(guard)
    assert caught.value.field == field


def test_a_decider_without_the_session_keyword_still_serves_sessions(
    settings_factory: Callable[..., Settings],
) -> None:
    enforcer = ToolEnforcer()
    guard = Guard(settings_factory(), enforcer=enforcer, publish=False, proposer_id="agent-2")
    guard.start_session("read a file")
    guard.observe("fs.list", "/a /b")
    assert guard.check("fs.read", {"path": "/a"}).allowed
    assert len(enforcer.calls) == 1


def test_sessions_of_different_proposers_are_apart(guard: Guard) -> None:
    guard.sessions.start("agent-x", "shared", f"pay {IBAN}")
    guard.sessions.observe("agent-y", "shared", "email.read", EMAIL)
    decided = guard.check_as("agent-y", "shared", "bank.transfer", {"iban": IBAN})
    assert decided.decision is Decision.BLOCK
    assert guard.check_as("agent-x", "shared", "bank.transfer", {"iban": IBAN}).allowed


# --- the store ------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def started(request: str = "r") -> SessionStarted:
    return SessionStarted(
        envelope=new_envelope("test", "s"), session_id="s", proposer_id="a", request=request
    )


def test_the_store_drops_the_least_recently_used() -> None:
    store = SessionStore(max_sessions=2)
    store.apply(("a", "1"), started())
    store.apply(("a", "2"), started())
    assert store.get(("a", "1")) is not None  # 1 is now the most recent
    store.apply(("a", "3"), started())
    assert store.get(("a", "2")) is None
    assert store.get(("a", "1")) is not None and len(store) == 2


def test_the_store_drops_idle_sessions() -> None:
    clock = Clock()
    store = SessionStore(ttl_s=10, clock=clock)
    store.apply(("a", "1"), started())
    clock.now = 9
    assert store.get(("a", "1")) is not None  # renews
    clock.now = 18
    assert store.get(("a", "1")) is not None
    clock.now = 29
    assert store.get(("a", "1")) is None and len(store) == 0


def test_the_store_is_bounded_by_characters() -> None:
    store = SessionStore(max_chars=250)
    for name in "123":
        store.apply(("a", name), started("x" * 100))
    assert store.chars == 200 and store.get(("a", "1")) is None
    assert store.get(("a", "3")) == step(EMPTY, started("x" * 100))


def test_the_store_refuses_nonsense_bounds() -> None:
    with pytest.raises(ValueError, match="over 0"):
        SessionStore(max_sessions=0)
