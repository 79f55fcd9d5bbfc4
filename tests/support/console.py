"""The review console in a browser, for tests: Debian's Chromium under selenium, the HTTP app
served on a free port, the operator's log-in, and the console's topics and settings on the test
broker."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.connectors.http import create_http_app
from alignment_flywheel.console.auth import Operators
from alignment_flywheel.console.desk import ConsoleTopics
from alignment_flywheel.console.routes import ConsoleOptions
from alignment_flywheel.kafka.credentials import connection_settings
from alignment_flywheel.stack.processes import free_ports
from tests.support.oracles import artifact_doc, rule
from tests.unit.test_sdk_fakes import ToolEnforcer

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
OPERATOR = "alice"
PASSWORD = "operator password 1"
WAIT_S = 60
GENESIS_DOC = artifact_doc(rule("base", "false"))


def console_topics(
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    *,
    reviews: int = 1,
    patches: int = 1,
) -> ConsoleTopics:
    """Fresh topics for the console (``reviews`` and ``patches``: their partition counts)."""
    return ConsoleTopics(
        reviews=make_topic(unique_name("reviews"), partitions=reviews),
        verdicts=make_topic(unique_name("verdicts")),
        patches=make_topic(unique_name("patches"), partitions=patches),
        releases=make_topic(unique_name("releases")),
    )


def console_settings(kafka_settings: Settings, tmp_path: Path, **options: Any) -> Settings:
    """Settings of a console on the test broker, its state under ``tmp_path``."""
    return load_settings(
        **connection_settings(kafka_settings), state_dir=tmp_path / "server", **options
    )


def console_operators(tmp_path: Path) -> Operators:
    """The console's operators: :data:`OPERATOR` with :data:`PASSWORD`."""
    found = Operators(tmp_path / "operators.json")
    found.add(OPERATOR, PASSWORD)
    return found


@dataclass
class Served:
    """The HTTP app with the console, served on a thread."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread


def serve(settings: Settings, options: ConsoleOptions) -> Served:
    """The HTTP app with the console on a free port, once it accepts connections."""
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
    """Headless Chromium under selenium, its profile under ``tmp_path``."""
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


def wait(browser: webdriver.Chrome) -> WebDriverWait:  # type: ignore[type-arg]
    """A wait of :data:`WAIT_S` on ``browser``."""
    return WebDriverWait(browser, WAIT_S)


def log_in(browser: webdriver.Chrome, url: str) -> None:
    """Open the console at ``url``; a wrong password is refused, then :data:`OPERATOR` logs in."""
    browser.get(f"{url}/console")
    wait(browser).until(expected_conditions.presence_of_element_located((By.ID, "password")))
    assert browser.current_url.endswith("/console/login")
    browser.find_element(By.ID, "name").send_keys(OPERATOR)
    browser.find_element(By.ID, "password").send_keys("not the password")
    browser.find_element(By.ID, "login").click()
    error = wait(browser).until(
        expected_conditions.presence_of_element_located((By.ID, "login-error"))
    )
    assert "wrong password" in error.text
    browser.find_element(By.ID, "name").send_keys(OPERATOR)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    operator = wait(browser).until(
        expected_conditions.presence_of_element_located((By.ID, "operator"))
    )
    assert operator.text == OPERATOR


def status(browser: webdriver.Chrome, expected: str) -> str:
    """The page's status line, once it holds ``expected``."""
    wait(browser).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "status"), expected)
    )
    return str(browser.find_element(By.ID, "status").text)
