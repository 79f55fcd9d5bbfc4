"""Screenshots of the console and the report at the end of the demo, next to the report.

Rules:

* The pictures are taken by the same tooling the console's browser test uses: Debian's Chromium,
  headless, driven through ChromeDriver by selenium (``/usr/bin/chromium``,
  ``/usr/bin/chromedriver``; ``./dev`` installs them when it runs as root with apt-get).
* ``report.png`` is the report page (``report.html``) as a browser shows it. ``console.png`` is
  the console's dashboard after a login: the console runs in this process on a free loopback port
  for the moment of the picture, reading the demo's topics and ClickHouse, with a one-off
  operator (``demo``) whose password file lives in a temporary directory removed afterwards.
* Without Chromium, ChromeDriver or selenium nothing is faked: :func:`take_screenshots` returns
  why there are no pictures and the demo prints it with the command that installs them.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignment_flywheel.config import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = "apt-get install chromium chromium-driver (as root; ./dev does it when it can)"
WAIT_S = 60.0
OPERATOR = "demo"
SIZE = (1280, 2600)


@dataclass(frozen=True)
class Screenshots:
    """The pictures written, or why there are none."""

    files: tuple[Path, ...] = ()
    missing: str = ""


def browser_missing() -> str:
    """Why no browser can be driven here ("" when one can)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is not installed ({INSTALL})"
    try:
        import selenium  # noqa: F401, PLC0415  (a dev dependency, imported only when used)
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return ""


def take_screenshots(settings: Settings, report: Path) -> Screenshots:
    """``console.png`` and ``report.png`` next to ``report`` (an HTML file)."""
    missing = browser_missing()
    if missing:
        return Screenshots(missing=missing)
    out = report.parent
    with _browser() as driver:
        driver.get(report.resolve().as_uri())
        _settle(driver)
        driver.save_screenshot(str(out / "report.png"))
        with _console(settings) as (url, password):
            _log_in(driver, url, password)
            _settle(driver)
            driver.save_screenshot(str(out / "console.png"))
    return Screenshots(files=(out / "console.png", out / "report.png"))


@contextmanager
def _browser() -> Iterator[Any]:
    from selenium import webdriver  # noqa: PLC0415  (dev dependency)
    from selenium.webdriver.chrome.options import Options  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    profile = Path(tempfile.mkdtemp(prefix="flywheel-shots-"))
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        f"--window-size={SIZE[0]},{SIZE[1]}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@contextmanager
def _console(settings: Settings) -> Iterator[tuple[str, str]]:
    """The console on a free loopback port with a one-off operator; its URL and password."""
    import uvicorn  # noqa: PLC0415  (only for the picture)
    from fastapi import FastAPI  # noqa: PLC0415

    from alignment_flywheel.console.auth import Operators  # noqa: PLC0415
    from alignment_flywheel.console.routes import ConsoleOptions, console_router  # noqa: PLC0415
    from alignment_flywheel.stack.processes import free_ports  # noqa: PLC0415

    folder = Path(tempfile.mkdtemp(prefix="flywheel-console-"))
    password = secrets.token_urlsafe(16)
    operators = Operators(folder / "operators.json")
    operators.add(OPERATOR, password)
    app = FastAPI()
    app.include_router(console_router(settings, ConsoleOptions(operators=operators.path)))
    (port,) = free_ports(1)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="demo-console", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + WAIT_S
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            thread.join(0.05)
        yield f"http://127.0.0.1:{port}", password
    finally:
        server.should_exit = True
        thread.join(WAIT_S)
        shutil.rmtree(folder, ignore_errors=True)


def _log_in(driver: Any, url: str, password: str) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.support import expected_conditions  # noqa: PLC0415
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    driver.get(f"{url}/console/login")
    wait = WebDriverWait(driver, WAIT_S)
    wait.until(expected_conditions.presence_of_element_located((By.ID, "password")))
    driver.find_element(By.ID, "name").send_keys(OPERATOR)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login").click()
    wait.until(expected_conditions.presence_of_element_located((By.ID, "operator")))


SETTLED = (
    'return document.readyState === "complete" && '
    "Array.from(document.images).every((img) => img.complete);"
)


def _settle(driver: Any) -> None:
    """Wait until the page and its images (the charts, or their reasons) have loaded."""
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    WebDriverWait(driver, WAIT_S).until(lambda d: d.execute_script(SETTLED))
    time.sleep(0.5)  # the chart placeholders are filled by a fetch after the image error
