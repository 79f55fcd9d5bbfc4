"""Kafka credentials: the principal a client connects as, and the files that hold them.

Rules:

* A client authenticates when the settings' security protocol is ``SASL_*``: with
  ``kafka_username`` and ``kafka_password`` when they are set, else with the file ``<role>.json``
  of the credentials directory (``kafka_role``, default ``admin``). A SASL protocol with neither is
  a :class:`CredentialsError` saying what to set. A password is never printed, logged or put in a
  ``repr``.
* A credential file is JSON ``{"username": ..., "password": ...}``, mode 0600 in a directory of
  mode 0700, written atomically and never overwritten (:func:`ensure_credentials`).
* Generated passwords are 64 hex characters, so they can stand unquoted in the broker's JAAS lines
  and in the storage tool's ``--add-scram`` argument.
* :func:`connection_settings` and :func:`connection_env` give the settings (or the ``FLYWHEEL_*``
  variables) that reach the same cluster as the same principal, or as another role of the same
  credentials directory: how the governance stack and the tests start processes of their own.
  Variables that would choose another principal are blanked, so nothing inherited wins over them.
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignment_flywheel.config import ENV_PREFIX, Settings
from alignment_flywheel.errors import CredentialsError

PASSWORD_BYTES = 32


@dataclass(frozen=True)
class KafkaCredentials:
    """A SASL user and password."""

    username: str
    password: str = field(repr=False)


def credentials_file(directory: Path, role: str) -> Path:
    return directory / f"{role}.json"


def read_credentials(path: Path) -> KafkaCredentials:
    """The credentials in ``path``; :class:`CredentialsError` if it is missing or malformed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CredentialsError(f"no Kafka credentials file {path}") from exc
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"cannot read the Kafka credentials file {path}: {exc}") from exc
    if not isinstance(data, dict) or not all(
        isinstance(data.get(key), str) and data[key] for key in ("username", "password")
    ):
        raise CredentialsError(f"{path} must hold a JSON object with a username and a password")
    return KafkaCredentials(data["username"], data["password"])


def ensure_credentials(directory: Path, role: str, username: str) -> KafkaCredentials:
    """The credentials of ``role`` in ``directory``, created with a fresh password if missing."""
    path = credentials_file(directory, role)
    if path.exists():
        return read_credentials(path)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    created = KafkaCredentials(username, secrets.token_hex(PASSWORD_BYTES))
    write_private(path, json.dumps({"username": username, "password": created.password}))
    return created


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by its owner only (0600)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text + "\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def kafka_credentials(settings: Settings) -> KafkaCredentials | None:
    """Who the settings' clients authenticate as; None when the protocol is not SASL."""
    if not settings.uses_sasl:
        return None
    if settings.kafka_username is not None and settings.kafka_password is not None:
        return KafkaCredentials(settings.kafka_username, settings.kafka_password.get_secret_value())
    directory = settings.effective_kafka_credentials_dir
    if directory is None:
        raise CredentialsError(
            f"{settings.effective_kafka_security_protocol} needs credentials: set "
            "FLYWHEEL_KAFKA_USERNAME and FLYWHEEL_KAFKA_PASSWORD, or "
            "FLYWHEEL_KAFKA_CREDENTIALS_DIR (and FLYWHEEL_KAFKA_ROLE)"
        )
    path = credentials_file(directory, settings.effective_kafka_role)
    if settings.uses_local_broker and not path.exists():
        raise CredentialsError(
            f"no Kafka credentials for role {settings.effective_kafka_role} in {directory}: the "
            "local broker writes them when it starts (`flywheel infra up`)"
        )
    return read_credentials(path)


def security_config(settings: Settings) -> dict[str, Any]:
    """The librdkafka keys for TLS and SASL; empty for PLAINTEXT."""
    protocol = settings.effective_kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    config: dict[str, Any] = {"security.protocol": protocol}
    if settings.kafka_ssl_ca_location is not None:
        config["ssl.ca.location"] = str(settings.kafka_ssl_ca_location)
    credentials = kafka_credentials(settings)
    if credentials is not None:
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        config["sasl.username"] = credentials.username
        config["sasl.password"] = credentials.password
    return config


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """A TLS context for the Python (aiokafka) clients when the protocol uses TLS."""
    if not settings.effective_kafka_security_protocol.endswith("SSL"):
        return None
    cafile = settings.kafka_ssl_ca_location
    return ssl.create_default_context(cafile=str(cafile) if cafile is not None else None)


def connection_settings(settings: Settings, role: str | None = None) -> dict[str, Any]:
    """Settings values that reach the same cluster as the same principal, or as ``role`` of the
    same credentials directory (explicit credentials without a directory stay as they are)."""
    values: dict[str, Any] = {
        "bootstrap_servers": settings.effective_bootstrap_servers,
        "kafka_security_protocol": settings.effective_kafka_security_protocol,
        "kafka_sasl_mechanism": settings.kafka_sasl_mechanism,
        "kafka_ssl_ca_location": settings.kafka_ssl_ca_location,
        "kafka_username": None,
        "kafka_password": None,
        "kafka_credentials_dir": None,
        "kafka_role": None,
    }
    directory = settings.effective_kafka_credentials_dir
    explicit = settings.kafka_username is not None
    if explicit and (role is None or directory is None):
        values["kafka_username"] = settings.kafka_username
        values["kafka_password"] = settings.kafka_password
    elif directory is not None:
        values["kafka_credentials_dir"] = directory
        values["kafka_role"] = role or settings.effective_kafka_role
    return values


def as_role(settings: Settings, role: str) -> Settings:
    """``settings`` connecting as ``role`` of their credentials directory."""
    return settings.model_copy(update=connection_settings(settings, role))


def connection_env(settings: Settings, role: str | None = None) -> dict[str, str]:
    """:func:`connection_settings` as ``FLYWHEEL_*`` variables for a child process (unset values
    are empty, which unsets them)."""
    env = {}
    for name, value in connection_settings(settings, role).items():
        if value is None:
            text = ""
        elif hasattr(value, "get_secret_value"):
            text = value.get_secret_value()
        else:
            text = str(value)
        env[f"{ENV_PREFIX}{name.upper()}"] = text
    return env
