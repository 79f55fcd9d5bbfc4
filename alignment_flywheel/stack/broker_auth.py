"""Authentication and authorization of the local broker: its super users and the role users.

Rules:

* The client listener is SASL_PLAINTEXT with SCRAM-SHA-512 only. Clients authenticate there, and
  so does the broker's own inter-broker traffic, as ``flywheel-broker``.
* The controller listener is SASL_PLAINTEXT with PLAIN and one user, ``flywheel-controller``,
  whose password is in that listener's JAAS line. KRaft cannot use SCRAM on it: SCRAM credentials
  are records of the metadata log that the controller itself serves (KIP-900). It is not left
  unauthenticated, because admin clients may talk to KRaft controllers directly (KIP-919). In
  combined mode only the node itself connects to it, on loopback.
* The ``StandardAuthorizer`` with ``allow.everyone.if.no.acl.found=false``: without a matching ACL
  nothing is allowed. The super users are ``flywheel-admin`` (administration: topics, ACLs, users),
  ``flywheel-broker`` and ``flywheel-controller``; the roles get only the catalog's ACLs.
* Passwords are generated once into the credentials directory (``<state_dir>/kafka/credentials``,
  one 0600 file per principal, see :mod:`~alignment_flywheel.kafka.credentials`). The storage is
  formatted with the SCRAM credentials of ``admin`` and ``broker``; every catalog role's user is
  set after each start (:func:`ensure_role_users`), so a role added to the catalog, or a role file
  deleted to change its password, takes effect at the next start.
* A role's user is its catalog principal without ``User:``; a catalog whose principals are not
  ``User:`` ones cannot be served by the local broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._scram import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import BrokerError
from alignment_flywheel.kafka.catalog import Catalog
from alignment_flywheel.kafka.credentials import (
    KafkaCredentials,
    credentials_file,
    ensure_credentials,
)

SCRAM_ITERATIONS = 8192
SUPER_ROLES = ("admin", "broker", "controller")
ADMIN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class LocalSecrets:
    """The credentials of the local broker's super users."""

    admin: KafkaCredentials
    broker: KafkaCredentials
    controller: KafkaCredentials


def credentials_dir(settings: Settings) -> Path:
    directory = settings.effective_kafka_credentials_dir
    if directory is None:  # only for a configured cluster, which has no local broker
        raise BrokerError("the local broker needs a credentials directory")
    return directory


def local_secrets(settings: Settings) -> LocalSecrets:
    """The super users' credentials, generated on first use."""
    directory = credentials_dir(settings)
    made = {role: ensure_credentials(directory, role, f"flywheel-{role}") for role in SUPER_ROLES}
    return LocalSecrets(made["admin"], made["broker"], made["controller"])


def missing_super_users(settings: Settings) -> list[str]:
    """Super users without a credentials file (a data directory formatted before they existed
    cannot be entered without them)."""
    directory = credentials_dir(settings)
    return [r for r in ("admin", "broker") if not credentials_file(directory, r).exists()]


def template_values(secrets: LocalSecrets) -> dict[str, str]:
    """The authentication placeholders of ``server.properties.template``."""
    users = (secrets.admin, secrets.broker, secrets.controller)
    return {
        "broker_user": secrets.broker.username,
        "broker_password": secrets.broker.password,
        "controller_user": secrets.controller.username,
        "controller_password": secrets.controller.password,
        "super_users": ";".join(f"User:{user.username}" for user in users),
    }


def scram_arguments(secrets: LocalSecrets) -> list[str]:
    """The storage tool's ``--add-scram`` options for the admin and the broker users."""
    arguments = []
    for user in (secrets.admin, secrets.broker):
        arguments += [
            "--add-scram",
            f"SCRAM-SHA-512=[name={user.username},password={user.password}]",
        ]
    return arguments


def local_admin_settings(settings: Settings) -> Settings:
    """``settings`` connecting as the local broker's admin, whatever role they name."""
    return settings.model_copy(
        update={"kafka_role": "admin", "kafka_username": None, "kafka_password": None}
    )


def role_username(catalog: Catalog, role: str) -> str:
    principal = catalog.principal_of(role)
    if not principal.startswith("User:"):
        raise BrokerError(f"the local broker serves User: principals only, not {principal}")
    return principal.removeprefix("User:")


def ensure_role_users(admin: AdminClient, settings: Settings, catalog: Catalog) -> list[str]:
    """Create each role's credentials file if missing and set its SCRAM user on the broker."""
    directory = credentials_dir(settings)
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    upserts: list[UserScramCredentialAlteration] = []
    for role in catalog.roles:
        credentials = ensure_credentials(directory, role, role_username(catalog, role))
        upserts.append(
            UserScramCredentialUpsertion(credentials.username, info, credentials.password.encode())
        )
    if not upserts:
        return []
    futures = admin.alter_user_scram_credentials(upserts, request_timeout=ADMIN_TIMEOUT_S)
    for user, future in futures.items():
        try:
            future.result(timeout=ADMIN_TIMEOUT_S)
        except (KafkaException, TimeoutError) as exc:
            raise BrokerError(f"cannot set the SCRAM credentials of {user}: {exc}") from exc
    return sorted(futures)
