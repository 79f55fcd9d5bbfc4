"""The revise chains of tests/conformance/revise/ get the same depths from the SDK (in process), the
gate worker (its replicated table of what each chain spent) and replay (from the recorded
verdicts on the topics)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import Proposal, ProposalSubmitted, VerdictIssued, new_envelope
from alignment_flywheel.replay.source import History, RangeReader
from tests.integration import test_gate
from tests.support.kafka import collect_events, publish
from tests.support.revise_cases import (
    CHAIN_TOOL,
    Chain,
    chains,
    depth_of,
    sdk_depths,
    step_arguments,
)
from tests.support.session_cases import RISK

pytestmark = pytest.mark.integration
gate_topics, run_gate = test_gate.gate_topics, test_gate.run_gate
CHAINS = chains()


def _submitted(chain: Chain, ids: dict[str, uuid.UUID | None], index: int) -> ProposalSubmitted:
    step = chain.steps[index]
    proposal = Proposal(
        proposal_id=ids[step.name],
        proposer_id="agent-chain",
        session_id=f"s-{chain.name}",
        tool=CHAIN_TOOL,
        arguments=step_arguments(chain, step),
        risk=RISK,
        parent_proposal_id=ids[step.parent or ""],
    )
    return ProposalSubmitted(
        envelope=new_envelope("test", str(proposal.proposal_id)), proposal=proposal
    )


def _gate_depths(
    settings: Settings,
    topics: dict[str, Any],
    ids: list[dict[str, uuid.UUID | None]],
    name: Callable[[str], str],
) -> dict[uuid.UUID, int]:
    """Each round sends the next proposal of every chain once the previous round is decided."""
    codec = EventCodec.from_settings(settings)
    sent = 0
    depths: dict[uuid.UUID, int] = {}
    for index in range(max(len(c.steps) for c in CHAINS)):
        round_ = [
            _submitted(chain, ids[n], index)
            for n, chain in enumerate(CHAINS)
            if index < len(chain.steps)
        ]
        publish(settings, topics["proposals"], round_)
        sent += len(round_)
        seen = collect_events(
            settings,
            codec,
            topics["verdicts"],
            group=name("c"),
            count=sent,
            dead_letter_topic=name("x"),
        )
        assert len(seen) == sent
        depths.update(
            {v.proposal_id: depth_of(v.reasons[0]) for v in seen if isinstance(v, VerdictIssued)}
        )
    return depths


def _replay_depths(settings: Settings, topics: dict[str, Any]) -> dict[uuid.UUID, int]:
    reader = RangeReader(settings, EventCodec.from_settings(settings))
    history = History(reader, topics["proposals"], topics["verdicts"])
    history.load_verdicts()
    return {case.proposal.proposal_id: case.depth for case in history.cases()}


def test_the_sdk_the_gate_and_replay_count_every_chain_alike(
    kafka_settings,
    gate_topics,
    run_gate,
    unique_name,
):
    topics = gate_topics(3)
    log = run_gate(topics, decider="chains")
    ids = [chain.parents() for chain in CHAINS]
    gate = _gate_depths(kafka_settings, topics, ids, unique_name)
    replay = _replay_depths(kafka_settings, topics)
    for chain, chain_ids in zip(CHAINS, ids, strict=True):
        expected = [step.depth for step in chain.steps]
        at_gate = [gate.get(chain_ids[s.name]) for s in chain.steps]
        assert at_gate == expected, (chain.name, log.read_text()[-3000:])
        assert [replay[chain_ids[s.name]] for s in chain.steps] == expected, chain.name
        assert sdk_depths(kafka_settings, chain) == expected, chain.name
