"""The HTTP ingest endpoint on the real broker: a decision's records arrive with
``flywheel-decided-by: http``; a fire-and-forget proposal arrives without it, for the gate."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.connectors.http import create_http_app
from alignment_flywheel.connectors.sdk import DECIDED_BY_HEADER, SdkTopics
from alignment_flywheel.events import ProposalSubmitted, ReviewRequested, VerdictIssued
from alignment_flywheel.kafka.credentials import connection_settings
from alignment_flywheel.kafka.headers import decided_elsewhere
from tests.support.kafka import read_records
from tests.unit.test_sdk_fakes import ToolEnforcer


def _settings(kafka_settings: Settings, state_dir: Path) -> Settings:
    return load_settings(**connection_settings(kafka_settings), state_dir=state_dir)


def _topics(make_topic: Callable[..., str], unique_name: Callable[[str], str]) -> SdkTopics:
    return SdkTopics(
        proposals=make_topic(unique_name("http-proposals")),
        verdicts=make_topic(unique_name("http-verdicts")),
        reviews=make_topic(unique_name("http-reviews")),
    )


def _request(tool: str) -> dict[str, object]:
    return {"proposer_id": "agent-x", "session_id": "s-x", "tool": tool, "arguments": {"n": 1}}


def test_decisions_and_proposals_reach_kafka(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    settings = _settings(kafka_settings, tmp_path)
    topics = _topics(make_topic, unique_name)
    app = create_http_app(settings, enforcer=ToolEnforcer(), topics=topics)
    with TestClient(app) as client:
        allowed = client.post("/v1/decisions", json=_request("fs.read")).json()
        escalated = client.post("/v1/decisions", json=_request("review.deploy")).json()
        accepted = client.post("/v1/proposals", json=_request("fs.write"))
        assert accepted.status_code == 202, accepted.text
        health = client.get("/v1/health").json()
    assert health["broker"]["reachable"] is True

    codec = EventCodec.from_settings(settings)
    proposals = read_records(settings, topics.proposals, 3)
    verdicts = read_records(settings, topics.verdicts, 2)
    reviews = read_records(settings, topics.reviews, 1)
    decided = {allowed["proposal_id"], escalated["proposal_id"]}

    by_id = {}
    for record in proposals:
        submitted = codec.decode(record.value)
        assert isinstance(submitted, ProposalSubmitted)
        by_id[str(submitted.proposal.proposal_id)] = record
    assert set(by_id) == decided | {accepted.json()["proposal_id"]}
    for proposal_id in decided:
        assert by_id[proposal_id].header_map[DECIDED_BY_HEADER] == b"http"
        assert decided_elsewhere(by_id[proposal_id].headers) == "http"
    undecided = by_id[accepted.json()["proposal_id"]]
    assert decided_elsewhere(undecided.headers) is None
    assert undecided.key == accepted.json()["proposal_id"].encode()
    event = codec.decode(undecided.value)
    assert isinstance(event, ProposalSubmitted)
    assert (event.proposal.tool, event.proposal.proposer_id) == ("fs.write", "agent-x")

    issued = set()
    for record in verdicts:
        verdict = codec.decode(record.value)
        assert isinstance(verdict, VerdictIssued)
        issued.add((str(verdict.proposal_id), verdict.decision.value, str(verdict.decision_id)))
    assert issued == {
        (allowed["proposal_id"], "ALLOW", allowed["decision_id"]),
        (escalated["proposal_id"], "ESCALATE", escalated["decision_id"]),
    }
    assert all(r.header_map[DECIDED_BY_HEADER] == b"http" for r in verdicts + reviews)
    ((review,),) = [[codec.decode(r.value) for r in reviews]]
    assert isinstance(review, ReviewRequested)
    assert str(review.review_id) == escalated["review_id"]
