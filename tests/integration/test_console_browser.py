"""The review console in Debian's Chromium, on the real broker: log in, approve an escalation with
a reason, sign a patch with the approver's key file in the browser (the events land on the topics
and the approval's signature verifies); roll back a canary release through the page."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.connectors.http import create_http_app
from alignment_flywheel.console.auth import Operators
from alignment_flywheel.console.desk import ConsoleTopics
from alignment_flywheel.console.routes import ConsoleOptions
from alignment_flywheel.events import (
    PatchApproved,
    ReleaseRolledBack,
    ReleaseStage,
    ReviewDecided,
    ReviewOutcome,
    ReviewRequested,
    new_envelope,
)
from alignment_flywheel.kafka.credentials import connection_settings
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.kafka.reader import read_topic
from alignment_flywheel.oracle.artifact import build_artifact
from alignment_flywheel.patches.trust import save_root
from alignment_flywheel.patches.verify import OracleHead, PatchVerifier
from alignment_flywheel.stack.processes import free_ports
from tests.support.oracles import artifact_doc, rule
from tests.support.releases import patch_chain, staged
from tests.support.signing import Keyring, make_patch
from tests.unit.test_sdk_fakes import ToolEnforcer

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PASSWORD = "operator password 1"
WAIT_S = 60
GENESIS_DOC = artifact_doc(rule("base", "false"))


@dataclass
class Served:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


def serve(settings: Settings, options: ConsoleOptions) -> Served:
    app = create_http_app(settings, enforcer=ToolEnforcer(), publish=False, console=options)
    (port,) = free_ports(1)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
        assert thread.is_alive(), "the HTTP server stopped while starting"
    return Served(f"http://127.0.0.1:{port}", server, thread)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_operator_approves_an_escalation_and_signs_a_patch_in_the_browser(
    kafka_settings, make_topic, unique_name, tmp_path: Path, browser: webdriver.Chrome
) -> None:
    topics = ConsoleTopics(
        reviews=make_topic(unique_name("reviews"), partitions=2),
        verdicts=make_topic(unique_name("verdicts")),
        patches=make_topic(unique_name("patches"), partitions=2),
        releases=make_topic(unique_name("releases")),
    )
    settings = load_settings(
        **connection_settings(kafka_settings),
        state_dir=tmp_path / "server",
        identity="console-test",
    )
    ring = Keyring()
    signed_root = ring.root(thresholds={"root": 2, "approver": 2})
    save_root(settings.effective_trust_root_path, signed_root)
    key_file = tmp_path / "alice.key"
    key_file.write_bytes(
        ring["alice"].private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    operators = Operators(tmp_path / "operators.json")
    operators.add("alice", PASSWORD)

    codec = EventCodec.from_settings(settings)
    patch = make_patch()
    proposal_id = uuid.uuid4()
    request = ReviewRequested(
        envelope=new_envelope("gate", str(proposal_id)),
        review_id=uuid.uuid4(),
        proposal_id=proposal_id,
        decision_id=uuid.uuid4(),
        reason="email to an external domain",
    )
    with EventProducer(settings, codec) as producer:
        producer.send(topics.reviews, request)
        producer.send(topics.patches, patch.to_event("refinement"))

    served = serve(settings, ConsoleOptions(operators=operators.path, topics=topics))
    try:
        _log_in(browser, served.url)
        _approve_review(browser, str(request.review_id))
        _sign_patch(browser, str(patch.patch_id), key_file)
    finally:
        served.server.should_exit = True
        served.thread.join()

    decided = [
        e for e in read_topic(settings, codec, topics.reviews) if isinstance(e, ReviewDecided)
    ]
    assert len(decided) == 1
    assert decided[0].review_id == request.review_id
    assert decided[0].outcome is ReviewOutcome.APPROVE
    assert decided[0].reviewer == "alice"
    assert decided[0].reason == "checked with the customer"

    approvals = [
        e for e in read_topic(settings, codec, topics.patches) if isinstance(e, PatchApproved)
    ]
    assert len(approvals) == 1
    approval = approvals[0]
    assert approval.patch_id == patch.patch_id and approval.role == "approver"
    assert approval.envelope.producer == "console:alice" and approval.operator == "alice"
    verifier = PatchVerifier(signed_root.root, OracleHead(patch.base_version, patch.base_digest))
    signers = verifier.check_signatures(patch, [approval])
    assert signers == {"approver": frozenset({approval.key_id})}
    assert approval.key_id in signed_root.root.roles["approver"].keyids


def test_operator_rolls_back_the_candidate_in_the_browser(
    kafka_settings, make_topic, unique_name, tmp_path: Path, browser: webdriver.Chrome
) -> None:
    topics = ConsoleTopics(
        reviews=make_topic(unique_name("reviews")),
        verdicts=make_topic(unique_name("verdicts")),
        patches=make_topic(unique_name("patches")),
        releases=make_topic(unique_name("releases")),
    )
    oracle = tmp_path / "oracle.json"
    oracle.write_text(json.dumps(GENESIS_DOC))
    settings = load_settings(
        **connection_settings(kafka_settings),
        state_dir=tmp_path / "server",
        oracle_path=oracle,
    )
    operators = Operators(tmp_path / "operators.json")
    operators.add("alice", PASSWORD)
    codec = EventCodec.from_settings(settings)
    ((patch, _),) = patch_chain(build_artifact(GENESIS_DOC), 1)
    with EventProducer(settings, codec) as producer:
        producer.send(topics.patches, patch.to_event("refinement"))
        producer.send(topics.releases, staged(patch, ReleaseStage.CANARY, 0.1))

    served = serve(settings, ConsoleOptions(operators=operators.path, topics=topics))
    try:
        _log_in(browser, served.url)
        assert browser.find_element(By.ID, "candidate").text.startswith("v2 at CANARY (10%)")
        browser.find_element(By.ID, "rollback-reason").send_keys("canary error rate")
        browser.find_element(By.ID, "rollback").click()
        _wait(browser).until(expected_conditions.alert_is_present())
        browser.switch_to.alert.accept()
        assert "rolled back v2 by alice; v1 restored" in _status(browser, "rolled back")
        assert browser.find_element(By.ID, "candidate").text == "none"
    finally:
        served.server.should_exit = True
        served.thread.join()

    rolled = [
        e for e in read_topic(settings, codec, topics.releases) if isinstance(e, ReleaseRolledBack)
    ]
    assert [(r.version, r.reason, r.envelope.producer, r.operator) for r in rolled] == [
        (2, "canary error rate", "console:alice", "alice")
    ]


def _wait(browser: webdriver.Chrome) -> WebDriverWait:  # type: ignore[type-arg]
    return WebDriverWait(browser, WAIT_S)


def _log_in(browser: webdriver.Chrome, url: str) -> None:
    browser.get(f"{url}/console")
    _wait(browser).until(expected_conditions.presence_of_element_located((By.ID, "password")))
    assert browser.current_url.endswith("/console/login")
    browser.find_element(By.ID, "name").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys("not the password")
    browser.find_element(By.ID, "login").click()
    error = _wait(browser).until(
        expected_conditions.presence_of_element_located((By.ID, "login-error"))
    )
    assert "wrong password" in error.text
    browser.find_element(By.ID, "name").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    operator = _wait(browser).until(
        expected_conditions.presence_of_element_located((By.ID, "operator"))
    )
    assert operator.text == "alice"


def _status(browser: webdriver.Chrome, expected: str) -> str:
    _wait(browser).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "status"), expected)
    )
    return str(browser.find_element(By.ID, "status").text)


def _approve_review(browser: webdriver.Chrome, review_id: str) -> None:
    _wait(browser).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    browser.find_element(By.ID, f"approve-{review_id}").click()
    assert "needs a reason" in _status(browser, "reason")
    browser.find_element(By.ID, f"reason-{review_id}").send_keys("checked with the customer")
    browser.find_element(By.ID, f"approve-{review_id}").click()
    text = _status(browser, f"review {review_id} APPROVE by alice")
    assert "APPROVE" in text
    assert not browser.find_elements(By.ID, f"approve-{review_id}")


def _sign_patch(browser: webdriver.Chrome, patch_id: str, key_file: Path) -> None:
    _wait(browser).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    article = browser.find_element(By.CSS_SELECTOR, f"article[data-patch='{patch_id}']")
    assert "+ rule b" in article.text and "regression evidence" in article.text.lower()
    browser.find_element(By.ID, f"key-{patch_id}").send_keys(str(key_file))
    browser.find_element(By.ID, f"sign-{patch_id}").click()
    text = _status(browser, "approved with key")
    assert f"patch {patch_id} approved" in text and "by alice" in text
    article = browser.find_element(By.CSS_SELECTOR, f"article[data-patch='{patch_id}']")
    assert "as approver by alice" in article.text and "approvers 1 of 2" in article.text
