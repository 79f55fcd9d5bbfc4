"""The ClickHouse client and the ordered schema migrations in ``infra/clickhouse/``.

Rules:

* One code path for both back ends: ``clickhouse_connect.get_client(dsn=...)`` with the effective
  URL, ``chdb:///abs/path`` (embedded chDB, in this process) or ``http(s)://host:port``.
* chDB opens one data directory per process: clients on the same path share it, and a client on
  another path cannot open until every client of the first is closed. Close clients when done
  (they are context managers).
* A migration is a file ``NNN_name.sql`` holding statements separated by ``;``. Files run in
  ``NNN`` order; each applied file is recorded in ``flywheel.schema_migrations`` (created by
  ``001``) with its SHA-256, so a second run applies nothing. Editing an applied file is an error:
  add a new file instead.
* Every failure is a :class:`ClickHouseError` naming the URL or the migration file.
* The server must be at least :data:`MIN_SERVER_VERSION` (docs/operations.md says why); the
  client checks it when it connects and names the version found. A server too old for the
  client's own start-up query (18.16 has no ``readonly`` column in ``system.settings``) is named
  as too old too, not as a raw SQL error.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import ClickHouseError
from alignment_flywheel.resources import INFRA_DIR

MIN_SERVER_VERSION = (21, 12)
"""The oldest ClickHouse server the tables can live on: the DDL uses the ``Bool`` type (21.12)."""
MIGRATIONS_DIR = INFRA_DIR / "clickhouse"
MIGRATIONS_TABLE = "flywheel.schema_migrations"
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def statements(self) -> list[str]:
        return split_statements(self.path.read_text(encoding="utf-8"))


def clickhouse_client(settings: Settings) -> Client:
    """A connected client on ``settings.effective_clickhouse_url``; close it when done."""
    url = settings.effective_clickhouse_url
    if url.startswith("chdb:"):
        _ensure_chdb_dir(url)
    try:
        client = clickhouse_connect.get_client(dsn=url)
    except (DriverError, OSError) as exc:
        if "readonly" in str(exc) and "Unknown identifier" in str(exc):
            raise ClickHouseError(_too_old(url, "older than 19")) from exc
        if "Connection refused" in str(exc) or "Failed to establish" in str(exc):
            raise ClickHouseError(
                f"cannot reach ClickHouse at {redact(url)} (connection refused): start the "
                "server, or fix FLYWHEEL_CLICKHOUSE_URL (empty: embedded chDB)"
            ) from exc
        hint = ""
        if "different path" in str(exc):
            hint = " (chDB opens one data directory per process: close the other clients first)"
        raise ClickHouseError(f"cannot open ClickHouse at {redact(url)}: {exc}{hint}") from exc
    found = server_version(client.server_version)
    if found is not None and found < MIN_SERVER_VERSION:
        client.close()
        raise ClickHouseError(_too_old(url, str(client.server_version)))
    return client


def server_version(text: str | None) -> tuple[int, int] | None:
    """``(major, minor)`` of a version string such as ``"24.8.4.13"``; None if it is not one."""
    parts = (text or "").split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        return None


def _too_old(url: str, found: str) -> str:
    need = ".".join(str(n) for n in MIN_SERVER_VERSION)
    return (
        f"ClickHouse at {redact(url)} is version {found}; Alignment Flywheel needs {need} or "
        "newer: upgrade the server, or leave FLYWHEEL_CLICKHOUSE_URL empty for embedded chDB"
    )


def redact(url: str) -> str:
    """The URL without its password."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
    return urlunparse(parsed._replace(netloc=netloc))


def _ensure_chdb_dir(url: str) -> None:
    parsed = urlparse(url)
    if parsed.netloc or not parsed.path:
        return
    try:
        Path(parsed.path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ClickHouseError(f"cannot create the chDB directory {parsed.path}: {exc}") from exc


def discover_migrations(ddl_dir: Path | None = None) -> list[Migration]:
    """The ``NNN_name.sql`` files of ``ddl_dir``, in order; other names are an error."""
    ddl_dir = ddl_dir or MIGRATIONS_DIR
    if not ddl_dir.is_dir():
        raise ClickHouseError(f"no migrations folder at {ddl_dir}")
    migrations: dict[int, Migration] = {}
    for path in sorted(ddl_dir.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if match is None:
            raise ClickHouseError(f"{path} is not named NNN_lower_case_name.sql")
        version = int(match.group(1))
        if version in migrations:
            raise ClickHouseError(
                f"{path.name} and {migrations[version].name} share version {version:03d}"
            )
        migrations[version] = Migration(version, path)
    return [migrations[v] for v in sorted(migrations)]


def applied_migrations(client: Client) -> dict[int, tuple[str, str]]:
    """``{version: (name, checksum)}`` of the migrations recorded as applied."""
    try:
        exists = client.query(f"EXISTS TABLE {MIGRATIONS_TABLE}").result_rows
        if not exists or not exists[0][0]:
            return {}
        rows = client.query(
            f"SELECT version, name, checksum FROM {MIGRATIONS_TABLE} ORDER BY version"
        ).result_rows
    except DriverError as exc:
        raise ClickHouseError(f"cannot read {MIGRATIONS_TABLE}: {exc}") from exc
    return {int(version): (str(name), str(checksum)) for version, name, checksum in rows}


def apply_migrations(client: Client, ddl_dir: Path | None = None) -> list[str]:
    """Apply the migrations not yet recorded; returns the names of the files applied."""
    migrations = discover_migrations(ddl_dir)
    applied = applied_migrations(client)
    _check_unchanged(migrations, applied)
    done = []
    for migration in migrations:
        if migration.version in applied:
            continue
        _run(client, migration)
        done.append(migration.name)
    return done


def _check_unchanged(migrations: list[Migration], applied: dict[int, tuple[str, str]]) -> None:
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded[1] != migration.checksum:
            raise ClickHouseError(
                f"migration {migration.name} was changed after it was applied "
                f"(recorded as {recorded[0]}); add a new migration instead"
            )


def _run(client: Client, migration: Migration) -> None:
    checksum = migration.checksum
    for number, statement in enumerate(migration.statements(), start=1):
        try:
            client.command(statement)
        except DriverError as exc:
            raise ClickHouseError(
                f"migration {migration.name}, statement {number}, failed: {exc}"
            ) from exc
    try:
        client.insert(
            MIGRATIONS_TABLE,
            [[migration.version, migration.name, checksum]],
            column_names=["version", "name", "checksum"],
        )
    except DriverError as exc:
        raise ClickHouseError(f"cannot record migration {migration.name}: {exc}") from exc


def split_statements(sql: str) -> list[str]:
    """Split SQL text on ``;`` outside quotes; ``--`` comments and empty statements are dropped."""
    statements: list[str] = []
    current: list[str] = []
    quote: str | None = None
    index = 0
    while index < len(sql):
        char = sql[index]
        if quote is None and sql.startswith("--", index):
            end = sql.find("\n", index)
            index = len(sql) if end < 0 else end
            continue
        if quote is None and char == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(char)
            quote = _next_quote(quote, char, sql[index - 1] if index else "")
        index += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def _next_quote(quote: str | None, char: str, previous: str) -> str | None:
    if quote is None:
        return char if char in "'\"`" else None
    if char == quote and previous != "\\":
        return None
    return quote
