"""The review console in Debian's Chromium, on the real broker: log in, approve an escalation with
a reason, sign a patch with the approver's key file in the browser (the events land on the topics
and the approval's signature verifies); roll back a canary release through the page."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions

from alignment_flywheel.codec import EventCodec
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
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.kafka.reader import read_topic
from alignment_flywheel.oracle.artifact import build_artifact
from alignment_flywheel.patches.trust import save_root
from alignment_flywheel.patches.verify import OracleHead, PatchVerifier
from tests.support.console import (
    GENESIS_DOC,
    browser,
    console_operators,
    console_settings,
    console_topics,
    log_in,
    serve,
    status,
    wait,
)
from tests.support.releases import patch_chain, staged
from tests.support.signing import Keyring, make_patch

pytestmark = pytest.mark.integration
__all__ = ["browser"]  # the fixture, used by name


def test_operator_approves_an_escalation_and_signs_a_patch_in_the_browser(
    kafka_settings, make_topic, unique_name, tmp_path: Path, browser: webdriver.Chrome
) -> None:
    topics = console_topics(make_topic, unique_name, reviews=2, patches=2)
    settings = console_settings(kafka_settings, tmp_path, identity="console-test")
    ring = Keyring()
    signed_root = ring.root(thresholds={"root": 2, "approver": 2})
    save_root(settings.effective_trust_root_path, signed_root)
    key_file = tmp_path / "alice.key"
    key_file.write_bytes(
        ring["alice"].private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    operators = console_operators(tmp_path)
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
        log_in(browser, served.url)
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
    topics = console_topics(make_topic, unique_name)
    oracle = tmp_path / "oracle.json"
    oracle.write_text(json.dumps(GENESIS_DOC))
    settings = console_settings(kafka_settings, tmp_path, oracle_path=oracle)
    operators = console_operators(tmp_path)
    codec = EventCodec.from_settings(settings)
    ((patch, _),) = patch_chain(build_artifact(GENESIS_DOC), 1)
    with EventProducer(settings, codec) as producer:
        producer.send(topics.patches, patch.to_event("refinement"))
        producer.send(topics.releases, staged(patch, ReleaseStage.CANARY, 0.1))

    served = serve(settings, ConsoleOptions(operators=operators.path, topics=topics))
    try:
        log_in(browser, served.url)
        assert browser.find_element(By.ID, "candidate").text.startswith("v2 at CANARY (10%)")
        browser.find_element(By.ID, "rollback-reason").send_keys("canary error rate")
        browser.find_element(By.ID, "rollback").click()
        wait(browser).until(expected_conditions.alert_is_present())
        browser.switch_to.alert.accept()
        assert "rolled back v2 by alice; v1 restored" in status(browser, "rolled back")
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


def _approve_review(browser: webdriver.Chrome, review_id: str) -> None:
    wait(browser).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    browser.find_element(By.ID, f"approve-{review_id}").click()
    assert "needs a reason" in status(browser, "reason")
    browser.find_element(By.ID, f"reason-{review_id}").send_keys("checked with the customer")
    browser.find_element(By.ID, f"approve-{review_id}").click()
    text = status(browser, f"review {review_id} APPROVE by alice")
    assert "APPROVE" in text
    assert not browser.find_elements(By.ID, f"approve-{review_id}")


def _sign_patch(browser: webdriver.Chrome, patch_id: str, key_file: Path) -> None:
    wait(browser).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    article = browser.find_element(By.CSS_SELECTOR, f"article[data-patch='{patch_id}']")
    assert "+ rule b" in article.text and "regression evidence" in article.text.lower()
    browser.find_element(By.ID, f"key-{patch_id}").send_keys(str(key_file))
    browser.find_element(By.ID, f"sign-{patch_id}").click()
    text = status(browser, "approved with key")
    assert f"patch {patch_id} approved" in text and "by alice" in text
    article = browser.find_element(By.CSS_SELECTOR, f"article[data-patch='{patch_id}']")
    assert "as approver by alice" in article.text and "approvers 1 of 2" in article.text
