"""API tokens on the real broker: what an authenticated caller submits reaches Kafka in its name:
proposals carry the token's proposer id, incidents carry the token's name as their reporter."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.connectors.http import create_http_app
from alignment_flywheel.connectors.http.auth import ApiAuth
from alignment_flywheel.connectors.http.tokens import TokenStore
from alignment_flywheel.connectors.sdk import SdkTopics
from alignment_flywheel.events import IncidentReported, ProposalSubmitted
from alignment_flywheel.kafka.credentials import connection_settings
from tests.support.kafka import read_records
from tests.unit.test_sdk_fakes import ToolEnforcer

pytestmark = pytest.mark.integration


def test_events_carry_the_identity_of_the_token(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings(**connection_settings(kafka_settings), state_dir=tmp_path)
    topics = SdkTopics(
        proposals=make_topic(unique_name("id-proposals")),
        verdicts=make_topic(unique_name("id-verdicts")),
        reviews=make_topic(unique_name("id-reviews")),
    )
    incidents = make_topic(unique_name("id-incidents"))
    monkeypatch.setattr("alignment_flywheel.connectors.http.service.INCIDENTS_TOPIC", incidents)
    store = TokenStore(tmp_path / "tokens.json")
    agent = store.issue("billing-token", proposer="billing-agent")
    oncall = store.issue("oncall-alice", reporter=True)
    auth = ApiAuth(store, rate_per_s=100, burst=100)
    app = create_http_app(settings, enforcer=ToolEnforcer(), topics=topics, auth=auth)
    call = {"tool": "fs.read", "arguments": {"path": "/srv/a"}}
    with TestClient(app) as client:
        decided = client.post(
            "/v1/decisions", json=call, headers={"Authorization": f"Bearer {agent}"}
        ).json()
        accepted = client.post(
            "/v1/proposals", json=call, headers={"Authorization": f"Bearer {agent}"}
        )
        assert accepted.status_code == 202, accepted.text
        reported = client.post(
            "/v1/incidents",
            json={
                "proposal_id": decided["proposal_id"],
                "kind": "HARM",
                "severity": "HIGH",
                "description": "read the wrong customer's file",
            },
            headers={"Authorization": f"Bearer {oncall}"},
        )
        assert reported.status_code == 202, reported.text

    codec = EventCodec.from_settings(settings)
    proposals = [codec.decode(r.value) for r in read_records(settings, topics.proposals, 2)]
    assert all(isinstance(p, ProposalSubmitted) for p in proposals)
    assert {p.proposal.proposer_id for p in proposals if isinstance(p, ProposalSubmitted)} == {
        "billing-agent"
    }
    ((incident,),) = [[codec.decode(r.value) for r in read_records(settings, incidents, 1)]]
    assert isinstance(incident, IncidentReported)
    assert (incident.reporter, str(incident.proposal_id)) == (
        "oncall-alice",
        decided["proposal_id"],
    )
    assert incident.proposal.proposer_id == "billing-agent"
