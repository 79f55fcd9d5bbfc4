"""The revise chains of tests/conformance/revise/ get the same depths in process (the SDK's guard)
and from the topic (replay's history, which counts as the gate does); the integration test
tests/integration/test_revise_conformance.py runs them through the gate worker as well."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import Proposal, ProposalSubmitted, new_envelope
from alignment_flywheel.replay.source import History, RangeReader
from tests.support.revise_cases import CHAIN_TOOL, Chain, chains, sdk_depths, step_arguments
from tests.support.session_cases import RISK
from tests.unit.test_replay_sessions import Topic

CHAINS = chains()


def replay_depths(settings: Settings, chain: Chain) -> list[int]:
    codec = EventCodec.from_settings(settings)
    history, topic = History(RangeReader(settings, codec), "proposals", "verdicts"), Topic(codec)
    ids = chain.parents()
    depths = []
    for step in chain.steps:
        proposal = Proposal(
            proposal_id=ids[step.name],
            proposer_id="agent-chain",
            session_id="s-chain",
            tool=CHAIN_TOOL,
            arguments=step_arguments(chain, step),
            risk=RISK,
            parent_proposal_id=ids[step.parent or ""],
        )
        history.verdicts[str(proposal.proposal_id)] = step.verdict
        submitted = ProposalSubmitted(
            envelope=new_envelope("test", str(proposal.proposal_id)), proposal=proposal
        )
        case = history.case_of(topic.fetched(submitted))
        assert case is not None
        depths.append(case.depth)
    return depths


@pytest.mark.parametrize("chain", CHAINS, ids=[c.name for c in CHAINS])
def test_the_sdk_and_replay_count_a_chain_alike(
    settings_factory: Callable[..., Settings], chain: Chain
) -> None:
    expected = [step.depth for step in chain.steps]
    settings = settings_factory()
    assert sdk_depths(settings, chain) == expected
    assert replay_depths(settings, chain) == expected
