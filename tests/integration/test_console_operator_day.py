"""Issue 17, an operator's day in the console (Debian's Chromium, the real broker, embedded chDB).

Alice logs in; the charts first say why there is nothing to draw (no ClickHouse data yet), and
draw once two minutes of verdicts are stored. The queue shows an expired and a live escalation:
the expired one has no buttons and a late decision is refused with the deadline named; she
approves the live one. She promotes the candidate release (SHADOW -> CANARY) and rolls it back.
Every event carries her name (the login), never a host or pid, and the page shows it. The server
restarts and she is still logged in (the session key is kept on disk).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.console.desk import ConsoleTopics
from alignment_flywheel.console.routes import ConsoleOptions
from alignment_flywheel.events import (
    ReleasePromoted,
    ReleaseRolledBack,
    ReleaseStage,
    ReviewDecided,
    ReviewRequested,
)
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.kafka.reader import read_topic
from alignment_flywheel.oracle.artifact import build_artifact
from alignment_flywheel.stack.clickhouse import apply_migrations, clickhouse_client
from tests.support.console import (
    GENESIS_DOC,
    Served,
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
from tests.support.samples import review_request
from tests.unit.test_analytics_report import _insert, _verdicts

pytestmark = pytest.mark.integration
__all__ = ["browser"]  # the fixture, used by name

READY = (By.TAG_NAME, "body")


def _two_minutes_of_verdicts(settings: Settings) -> None:
    """What the sink would have stored after a two-minute run: 25 verdicts, 5 s apart."""
    codec = EventCodec.from_settings(settings)
    start = datetime.now(UTC) - timedelta(minutes=2)
    rows = _verdicts(codec, 25)
    for index, (_name, record) in enumerate(rows):
        record["envelope"] = {
            **record["envelope"],
            "event_id": str(uuid.uuid4()),
            "occurred_at": start + timedelta(seconds=5 * index),
        }
    with clickhouse_client(settings) as client:
        apply_migrations(client)
        _insert(client, rows)


def _ready(driver: webdriver.Chrome) -> None:
    wait(driver).until(lambda b: b.find_element(*READY).get_attribute("data-ready"))


def _charts(driver: webdriver.Chrome) -> list[str]:
    """Each chart's state once settled: "drawn", or the reason shown in its place."""

    def settled(d: Any) -> Any:
        """Every chart is drawn or replaced by its reason (an image that failed stays until
        the page has asked the server why)."""
        return (
            d.execute_script(
                "return Array.from(document.querySelectorAll('img.chart'))"
                ".filter((i) => !(i.complete && i.naturalWidth > 0)).length"
            )
            == 0
        )

    wait(driver).until(settled)
    drawn = driver.execute_script(
        "return Array.from(document.querySelectorAll('img.chart'))"
        ".filter((i) => i.complete && i.naturalWidth > 0).length"
    )
    notes = [n.text for n in driver.find_elements(By.CSS_SELECTOR, "p.chart-unavailable")]
    return ["drawn"] * int(drawn) + notes


def _post(driver: webdriver.Chrome, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A POST from the page itself (session cookie and CSRF token), as a late click would send."""
    script = """
    const done = arguments[arguments.length - 1];
    fetch(arguments[0], {method: "POST", credentials: "same-origin", headers: {
        "Content-Type": "application/json",
        "X-CSRF-Token": document.querySelector("meta[name=csrf-token]").content},
      body: JSON.stringify(arguments[1])})
      .then(async (r) => done({status: r.status, body: await r.json()}));
    """
    return dict(driver.execute_async_script(script, path, body))


def test_an_operators_day(
    kafka_settings, make_topic, unique_name, tmp_path: Path, browser: webdriver.Chrome
) -> None:
    topics = console_topics(make_topic, unique_name, reviews=2)
    oracle = tmp_path / "oracle.json"
    oracle.write_text(json.dumps(GENESIS_DOC))
    settings = console_settings(
        kafka_settings,
        tmp_path,
        oracle_path=oracle,
        identity="vm/31615",
        clickhouse_url=f"chdb://{tmp_path / 'clickhouse'}",
    )
    operators = console_operators(tmp_path)
    codec = EventCodec.from_settings(settings)
    now = datetime.now(UTC)
    expired = review_request(now - timedelta(minutes=1), "wire transfer above the limit")
    live = review_request(now + timedelta(minutes=30), "email to an external domain")
    ((patch, _),) = patch_chain(build_artifact(GENESIS_DOC), 1)
    with EventProducer(settings, codec) as producer:
        producer.send(topics.reviews, expired)
        producer.send(topics.reviews, live)
        producer.send(topics.patches, patch.to_event("refinement"))
        producer.send(topics.releases, staged(patch, ReleaseStage.SHADOW))

    options = ConsoleOptions(operators=operators.path, topics=topics)
    served = serve(settings, options)
    try:
        log_in(browser, served.url)
        _ready(browser)
        nothing = _charts(browser)
        assert nothing and all(
            n.startswith("chart unavailable: no ClickHouse data yet at chdb://") for n in nothing
        ), nothing
        _reviews(browser, expired, live)
        _promote_and_roll_back(browser)
        _two_minutes_of_verdicts(settings)
        browser.refresh()
        _ready(browser)
        assert _charts(browser) == ["drawn"] * 6
    finally:
        _stop(served)

    restarted = serve(settings, options)
    try:
        browser.get(f"{restarted.url}/console")
        who = wait(browser).until(
            expected_conditions.presence_of_element_located((By.ID, "operator"))
        )
        assert who.text == "alice", "the session outlives the server"
    finally:
        _stop(restarted)
    _recorded(settings, codec, topics, live)


def _stop(served: Served) -> None:
    served.server.should_exit = True
    served.thread.join()


def _reviews(driver: webdriver.Chrome, expired: ReviewRequested, live: ReviewRequested) -> None:
    late = driver.find_element(By.CSS_SELECTOR, f"tr[data-review='{expired.review_id}']")
    assert late.get_attribute("data-state") == "expired"
    assert "expired" in late.text and "can no longer be approved" in late.text
    assert not driver.find_elements(By.ID, f"approve-{expired.review_id}")
    refused = _post(
        driver,
        f"/console/api/reviews/{expired.review_id}",
        {"outcome": "APPROVE", "reason": "too late"},
    )
    assert refused["status"] == 400
    assert refused["body"]["error"]["message"].startswith(f"review {expired.review_id} expired at")
    row = driver.find_element(By.CSS_SELECTOR, f"tr[data-review='{live.review_id}']")
    assert row.get_attribute("data-state") == "live"
    driver.find_element(By.ID, f"reason-{live.review_id}").send_keys("checked with the customer")
    driver.find_element(By.ID, f"approve-{live.review_id}").click()
    assert f"review {live.review_id} APPROVE by alice" in status(driver, "APPROVE by alice")
    _ready(driver)
    assert driver.find_element(By.ID, f"expired-{expired.review_id}")


def _promote_and_roll_back(driver: webdriver.Chrome) -> None:
    _ready(driver)
    assert driver.find_element(By.ID, "candidate").text.startswith("v2 at SHADOW")
    driver.find_element(By.ID, "promote").click()
    wait(driver).until(expected_conditions.alert_is_present())
    driver.switch_to.alert.accept()
    assert "promoted v2 from SHADOW to CANARY by alice" in status(driver, "promoted")
    _ready(driver)
    assert driver.find_element(By.ID, "candidate").text.startswith("v2 at CANARY")
    actors = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#releases td.actor")]
    assert "alice" in actors and not any("/" in a for a in actors), actors
    driver.find_element(By.ID, "rollback-reason").send_keys("canary error rate")
    driver.find_element(By.ID, "rollback").click()
    wait(driver).until(expected_conditions.alert_is_present())
    driver.switch_to.alert.accept()
    assert "rolled back v2 by alice; v1 restored" in status(driver, "rolled back")
    _ready(driver)
    assert driver.find_element(By.ID, "candidate").text == "none"
    assert driver.find_element(By.ID, "promote-none")


def _recorded(
    settings: Settings, codec: EventCodec, topics: ConsoleTopics, live: ReviewRequested
) -> None:
    """Every human action is in alice's name on the topics, never the server's host/pid."""
    reviews = list(read_topic(settings, codec, topics.reviews))
    decided = [e for e in reviews if isinstance(e, ReviewDecided)]
    assert [(d.review_id, d.reviewer) for d in decided] == [(live.review_id, "alice")]
    releases = list(read_topic(settings, codec, topics.releases))
    promoted = [e for e in releases if isinstance(e, ReleasePromoted)]
    assert [(p.to_stage, p.actor, p.automatic) for p in promoted] == [
        (ReleaseStage.CANARY, "alice", False)
    ]
    rolled = [e for e in releases if isinstance(e, ReleaseRolledBack)]
    assert [(r.operator, r.reason) for r in rolled] == [("alice", "canary error rate")]
    assert all(e.envelope.producer == "console:alice" for e in [*promoted, *rolled])
