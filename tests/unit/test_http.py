"""The HTTP ingest endpoint without Kafka (``publish=False``): every endpoint and its answers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError
from fastapi.testclient import TestClient

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.connectors.http import ProposalIngest, create_http_app
from alignment_flywheel.connectors.http.service import HttpService
from alignment_flywheel.connectors.sdk import DECIDED_BY_HEADER, SdkTopics
from alignment_flywheel.events import ProposalSubmitted
from alignment_flywheel.kafka.placement import partition_for, session_key
from tests.unit.test_sdk_fakes import DIGEST, ToolEnforcer

TOPICS = SdkTopics(proposals="t.proposals", verdicts="t.verdicts", reviews="t.reviews")


@pytest.fixture
def enforcer() -> ToolEnforcer:
    return ToolEnforcer()


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory()


@pytest.fixture
def client(settings: Settings, enforcer: ToolEnforcer) -> Iterator[TestClient]:
    app = create_http_app(settings, enforcer=enforcer, publish=False, topics=TOPICS)
    with TestClient(app) as client:
        yield client


def body(**fields: Any) -> dict[str, Any]:
    return {"proposer_id": "agent-h", "tool": "fs.read", "arguments": {"path": "/a"}, **fields}


def test_allow_answers_the_whole_verdict(client: TestClient, enforcer: ToolEnforcer) -> None:
    answer = client.post("/v1/decisions", json=body(session_id="s-1", reasoning="look"))
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["decision"] == "ALLOW"
    assert data["tier"] == "test"
    assert data["reasons"] == ["allow by tool rule"]
    assert (data["safety_score"], data["uncertainty"]) == (1.0, 0.0)
    assert (data["oracle_version"], data["oracle_digest"]) == (1, DIGEST)
    assert data["policy_version"] == "test-1"
    assert data["amendment"] is None
    assert data["revised_arguments"] is None
    assert data["review_id"] is None
    assert data["latency_us"] == 1
    assert data["evidence"] == [
        {"kind": "NOTE", "message": "fixed oracle v1", "rule_id": None, "norm_refs": []}
    ]
    uuid.UUID(data["decision_id"])
    ((proposal, depth),) = enforcer.calls
    assert str(proposal.proposal_id) == data["proposal_id"]
    assert (proposal.proposer_id, proposal.session_id, depth) == ("agent-h", "s-1", 0)
    assert (proposal.reasoning, proposal.arguments_object()) == ("look", {"path": "/a"})


def test_block_and_escalate(client: TestClient) -> None:
    blocked = client.post("/v1/decisions", json=body(tool="danger.rm")).json()
    escalated = client.post("/v1/decisions", json=body(tool="review.deploy")).json()
    assert blocked["decision"] == "BLOCK"
    assert blocked["review_id"] is None
    assert escalated["decision"] == "ESCALATE"
    uuid.UUID(escalated["review_id"])


def test_revise_answers_the_amendment_and_the_revised_arguments(client: TestClient) -> None:
    data = client.post("/v1/decisions", json=body(tool="sql.query", arguments={"q": 1})).json()
    assert data["decision"] == "REVISE"
    assert data["amendment"] == {
        "set_arguments": {"limit": 100},
        "remove_arguments": [],
        "constraints": ["max_rows<=100"],
    }
    assert data["revised_arguments"] == {"q": 1, "limit": 100}


def test_a_resubmission_is_linked_to_its_parent(client: TestClient, enforcer: ToolEnforcer) -> None:
    first = client.post("/v1/decisions", json=body(tool="sql.query", arguments={})).json()
    second = client.post(
        "/v1/decisions",
        json=body(
            tool="sql.query", arguments={"limit": 100}, parent_proposal_id=first["proposal_id"]
        ),
    ).json()
    assert second["decision"] == "ALLOW"
    (_, first_depth), (child, depth) = enforcer.calls
    assert (first_depth, depth) == (0, 1)
    assert str(child.parent_proposal_id) == first["proposal_id"]


def test_risk_fields_are_merged_over_the_defaults(
    client: TestClient, enforcer: ToolEnforcer
) -> None:
    risk = {"blast_radius": "LOW", "environment": "prod"}
    assert client.post("/v1/decisions", json=body(risk=risk)).status_code == 200
    ((proposal, _),) = enforcer.calls
    assert proposal.risk.blast_radius.value == "LOW"
    assert proposal.risk.environment == "prod"
    assert proposal.risk.proposer_confidence == 0.5
    assert proposal.risk.origin.value == "AUTOMATED"
    assert proposal.session_id.startswith("http-")


def test_fire_and_forget_accepts_without_deciding(
    client: TestClient, enforcer: ToolEnforcer
) -> None:
    answer = client.post("/v1/proposals", json=body())
    assert answer.status_code == 202, answer.text
    uuid.UUID(answer.json()["proposal_id"])
    assert answer.json()["topic"] == TOPICS.proposals
    assert enforcer.calls == []


class RecordingProducer:
    """Accepts ``capacity`` records, then raises BufferError like a full librdkafka queue."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[dict[str, Any]] = []

    def produce(self, topic: str, **kwargs: Any) -> None:
        if len(self.records) >= self.capacity:
            raise BufferError("Local: Queue full")
        self.records.append({"topic": topic, **kwargs})

    def poll(self, timeout: float = 0.0) -> int:
        return 0

    def list_topics(self, topic: str, timeout: float = 0.0) -> Any:
        found = SimpleNamespace(error=None, partitions=dict.fromkeys(range(6)))
        return SimpleNamespace(topics={topic: found})

    def flush(self, timeout: float = 0.0) -> int:
        return len(self.records)

    def __len__(self) -> int:
        return len(self.records)


def _use_producer(client: TestClient, settings: Settings, producer: RecordingProducer) -> None:
    service: HttpService = client.app.state.service  # type: ignore[attr-defined]
    service.ingest = ProposalIngest(settings, producer=producer, max_block_s=0.01)


def test_fire_and_forget_produces_an_undecided_proposal(
    client: TestClient, settings: Settings
) -> None:
    producer = RecordingProducer(capacity=10)
    _use_producer(client, settings, producer)
    proposal_id = client.post("/v1/proposals", json=body(session_id="s-9")).json()["proposal_id"]
    ((record,),) = [producer.records]
    assert record["topic"] == TOPICS.proposals
    assert record["key"] == proposal_id.encode()
    assert DECIDED_BY_HEADER not in dict(record["headers"])
    event = EventCodec.from_settings(settings).decode(record["value"])
    assert isinstance(event, ProposalSubmitted)
    assert str(event.proposal.proposal_id) == proposal_id
    assert (event.proposal.tool, event.proposal.session_id) == ("fs.read", "s-9")
    assert record["partition"] == partition_for(session_key("agent-h", "s-9"), 6)


def test_fire_and_forget_answers_503_when_the_buffer_is_full(
    client: TestClient, settings: Settings
) -> None:
    _use_producer(client, settings, RecordingProducer(capacity=1))
    assert client.post("/v1/proposals", json=body()).status_code == 202
    answer = client.post("/v1/proposals", json=body())
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["type"] == "buffer_full"
    assert "buffer is full (1 proposals waiting" in error["message"]


def test_health_without_publishing(client: TestClient, settings: Settings) -> None:
    data = client.get("/v1/health").json()
    assert data["status"] == "ok"
    assert data["broker"] == {
        "checked": False,
        "reachable": None,
        "bootstrap_servers": settings.effective_bootstrap_servers,
        "error": None,
    }
    assert data["publisher"]["enabled"] is False
    assert (data["publisher"]["backlog"], data["publisher"]["journal_bytes"]) == (0, 0)


def test_oracle_reports_versions(client: TestClient) -> None:
    assert client.get("/v1/oracle").json() == {
        "oracle_version": 1,
        "oracle_digest": DIGEST,
        "policy_version": "test-1",
    }


def test_unknown_path_has_the_error_body(client: TestClient) -> None:
    answer = client.get("/v1/nothing")
    assert answer.status_code == 404
    assert answer.json() == {"error": {"type": "http_error", "field": None, "message": "Not Found"}}


def test_refused_deliveries_are_counted_for_health(settings: Settings) -> None:
    ingest = ProposalIngest(settings, producer=RecordingProducer(capacity=5))
    ingest._on_delivery(None, None)  # type: ignore[arg-type]
    ingest._on_delivery(KafkaError(KafkaError._MSG_TIMED_OUT), None)  # type: ignore[arg-type]
    assert (ingest.delivered, ingest.failed) == (1, 1)


def test_an_incident_about_a_decision_made_here_is_accepted(client: TestClient) -> None:
    decided = client.post("/v1/decisions", json=body()).json()
    answer = client.post(
        "/v1/incidents",
        json={
            "proposal_id": decided["proposal_id"],
            "kind": "HARM",
            "severity": "HIGH",
            "description": "it deleted the wrong file",
        },
    )
    assert answer.status_code == 202
    assert answer.json()["proposal_id"] == decided["proposal_id"]
    unknown = client.post(
        "/v1/incidents",
        json={
            "proposal_id": str(uuid.uuid4()),
            "kind": "FALSE_POSITIVE",
            "severity": "LOW",
            "description": "x",
        },
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "unknown_proposal"
    assert unknown.json()["error"]["field"] == "proposal_id"
