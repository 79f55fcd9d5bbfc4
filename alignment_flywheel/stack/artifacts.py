"""The local broker's jars, fetched with Maven into ``<cache_dir>/kafka/<version>/libs``.

Rules:

* ``infra/kafka/pom.xml`` is the only place that names versions; :func:`kafka_version` reads the
  ``kafka.version`` property from it.
* Maven runs on a copy of that POM inside the cache, so nothing is ever written into the
  repository; its local repository stays the default (``~/.m2``).
* A fetch copies into a temporary directory next to ``libs`` and renames it once Maven succeeded,
  then writes a marker listing every jar. A directory without a complete marker is fetched again,
  so an interrupted fetch never leaves a half directory in use.
* Concurrent fetches of the same version are serialised by a lock file.
* A missing ``mvn`` or ``java``, or a failing Maven, raises :class:`BrokerError` with the tail of
  Maven's output.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import BrokerError
from alignment_flywheel.resources import INFRA_DIR
from alignment_flywheel.stack.processes import file_lock

KAFKA_POM = INFRA_DIR / "kafka" / "pom.xml"
MARKER_NAME = "libs.complete"
MIN_JAVA_MAJOR = 17
MAVEN_TIMEOUT_S = 900
_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def kafka_version(pom: Path = KAFKA_POM) -> str:
    """The Kafka version pinned by the ``kafka.version`` property of the POM."""
    try:
        root = ET.parse(pom).getroot()
    except (OSError, ET.ParseError) as exc:
        raise BrokerError(f"cannot read the Kafka POM {pom}: {exc}") from exc
    node = root.find("m:properties/m:kafka.version", _POM_NS)
    if node is None or not (node.text or "").strip():
        raise BrokerError(f"{pom} has no <kafka.version> property")
    return (node.text or "").strip()


def kafka_home(settings: Settings, version: str | None = None) -> Path:
    """``<cache_dir>/kafka/<version>``: the POM copy, the marker and ``libs/``."""
    return settings.cache_dir / "kafka" / (version or kafka_version())


def libs_dir(settings: Settings, version: str | None = None) -> Path:
    return kafka_home(settings, version) / "libs"


def artifacts_ready(settings: Settings, version: str | None = None) -> bool:
    """True when ``libs/`` holds every jar listed by the marker of a completed fetch."""
    home = kafka_home(settings, version)
    marker = home / MARKER_NAME
    if not marker.is_file():
        return False
    names = [line for line in marker.read_text(encoding="utf-8").splitlines() if line]
    return bool(names) and all((home / "libs" / name).is_file() for name in names)


def ensure_kafka_artifacts(settings: Settings) -> Path:
    """Return the libs directory, fetching it with Maven only when missing or incomplete."""
    version = kafka_version()
    home = kafka_home(settings, version)
    if artifacts_ready(settings, version):
        return home / "libs"
    java_executable()
    mvn = _require_tool("mvn", "Maven (mvn) is needed once to fetch the Kafka broker jars")
    home.mkdir(parents=True, exist_ok=True)
    with file_lock(home / ".fetch.lock"):
        if not artifacts_ready(settings, version):
            _fetch(mvn, home, version)
    return home / "libs"


def java_executable() -> str:
    """The ``java`` on PATH, checked to be Java 17 or newer (Kafka 4 needs it)."""
    java = _require_tool("java", f"Java {MIN_JAVA_MAJOR}+ is needed to run the Kafka broker")
    try:
        probe = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BrokerError(f"cannot run {java} -version: {exc}") from exc
    major = java_major_version(probe.stderr + probe.stdout)
    if major is None or major < MIN_JAVA_MAJOR:
        found = (probe.stderr or probe.stdout).strip().splitlines()[:1]
        raise BrokerError(
            f"Kafka {kafka_version()} needs Java {MIN_JAVA_MAJOR}+; {java} reports {found}"
        )
    return java


def java_major_version(version_output: str) -> int | None:
    """The major version from ``java -version`` output (``"1.8.0_392"`` → 8, ``"17.0.2"`` → 17)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    first = int(match.group(1))
    return int(match.group(2) or 0) if first == 1 else first


def _require_tool(name: str, why: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BrokerError(f"`{name}` was not found on PATH. {why}; install it and retry.")
    return path


def _fetch(mvn: str, home: Path, version: str) -> None:
    shutil.copyfile(KAFKA_POM, home / "pom.xml")
    staging = Path(tempfile.mkdtemp(prefix="libs.fetching-", dir=home))
    try:
        _run_maven(mvn, home / "pom.xml", staging)
        jars = sorted(p.name for p in staging.glob("*.jar"))
        _check_jars(jars, version, staging)
        (home / MARKER_NAME).unlink(missing_ok=True)
        shutil.rmtree(home / "libs", ignore_errors=True)
        staging.rename(home / "libs")
        (home / MARKER_NAME).write_text("\n".join(jars) + "\n", encoding="utf-8")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _run_maven(mvn: str, pom: Path, output_dir: Path) -> None:
    command = [
        mvn,
        "-B",
        "-q",
        "-Dstyle.color=never",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={output_dir}",
        "-DincludeScope=runtime",
    ]
    try:
        result = subprocess.run(
            command,
            cwd=pom.parent,
            capture_output=True,
            text=True,
            timeout=MAVEN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BrokerError(f"Maven did not fetch the Kafka jars within {exc.timeout} s") from exc
    except OSError as exc:
        raise BrokerError(f"cannot run Maven ({mvn}): {exc}") from exc
    if result.returncode != 0:
        raise BrokerError(
            f"Maven failed (exit {result.returncode}) fetching the Kafka jars with {pom}:\n"
            + tail(result.stdout + result.stderr)
        )


def _check_jars(jars: list[str], version: str, where: Path) -> None:
    wanted = {
        f"kafka_<scala>-{version}.jar": rf"kafka_[\d.]+-{re.escape(version)}\.jar",
        "log4j-slf4j-impl": r"log4j-slf4j-impl-.*\.jar",
        "log4j-core": r"log4j-core-.*\.jar",
        "kafka-clients": rf"kafka-clients-{re.escape(version)}\.jar",
    }
    missing = [w for w, rx in wanted.items() if not any(re.fullmatch(rx, j) for j in jars)]
    if missing:
        raise BrokerError(f"Maven succeeded but {where} lacks {', '.join(missing)}")


def tail(text: str, lines: int = 40) -> str:
    """The last ``lines`` non-empty lines of ``text``, for error messages."""
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:]) or "(no output)"
