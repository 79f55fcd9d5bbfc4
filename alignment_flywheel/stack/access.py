"""Kafka ACLs from the topic catalog: the bindings each role needs, applied and checked.

Rules:

* Every binding allows, from any host. A role gets ``WRITE`` on each topic it writes and ``READ``
  on each topic it reads (both imply ``DESCRIBE``; ``WRITE`` on a topic also lets an idempotent
  producer start, KIP-679); ``READ`` on its group prefixes (its app id, its ``groups``) and, when
  it reads anything, on the reader groups (:data:`READER_GROUP_PREFIX`); ``CREATE``, ``READ`` and
  ``WRITE`` on the topics prefixed by its app id (faust's changelog and repartition topics).
  A role with ``transactional_ids`` (the gate) gets ``WRITE`` and ``DESCRIBE`` on those
  transactional-id prefixes and ``IDEMPOTENT_WRITE`` on the cluster, which transactions need.
  Nothing else: no ``ALTER``, no ``DELETE``, no other cluster rights.
* :func:`check_access` changes nothing. It lists the missing bindings and the extra ones: bindings
  on the cluster for a catalog principal, or on a catalog topic or a role's group or topic prefix
  (also by a wildcard or a wider prefix), that the catalog does not ask for. The reader groups
  belong to a catalog that has roles; a catalog without roles concerns its topics only.
* :func:`apply_access` creates the missing bindings; extra ones are deleted only with ``prune``
  and are otherwise reported. It returns once the broker lists what it changed (ACLs reach the
  authorizer through the metadata log, a moment after the request is answered). Applying twice
  changes nothing the second time.
* A cluster without an authorizer answers ``SECURITY_DISABLED``: a :class:`NoAuthorizerError`
  saying so, or with ``require_authorizer=False`` a report that says no ACL was applied. Any
  other failure is a :class:`KafkaTransportError`.
* :func:`provision` applies the topics, then the ACLs: what ``infra up``, the demo and the
  benchmarks do.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._acl import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
)
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType

from alignment_flywheel.errors import CatalogError, KafkaTransportError
from alignment_flywheel.kafka.catalog import READER_GROUP_PREFIX, Catalog
from alignment_flywheel.kafka.replication import ReplicationPolicy
from alignment_flywheel.stack.topics import ApplyReport, apply_catalog

ADMIN_TIMEOUT_S = 30.0
TOPIC, GROUP, TRANSACTIONAL_ID, CLUSTER = "topic", "group", "transactional_id", "cluster"
CLUSTER_NAME = "kafka-cluster"
TRANSACTION_OPERATIONS = ("WRITE", "DESCRIBE")
LITERAL, PREFIXED = "literal", "prefixed"
ANY_HOST = "*"
ALLOW = "allow"
INTERNAL_TOPIC_OPERATIONS = ("CREATE", "READ", "WRITE")
_ANY: Any = None  # a filter field that matches everything
_RESOURCE = {
    TOPIC: ResourceType.TOPIC,
    GROUP: ResourceType.GROUP,
    TRANSACTIONAL_ID: ResourceType.TRANSACTIONAL_ID,
    CLUSTER: ResourceType.BROKER,
}
_PATTERN = {LITERAL: ResourcePatternType.LITERAL, PREFIXED: ResourcePatternType.PREFIXED}


class NoAuthorizerError(CatalogError):
    """The cluster has no authorizer: ACLs can be neither listed nor applied."""


@dataclass(frozen=True, order=True)
class Binding:
    """One ACL entry: ``principal`` may ``operation`` on a topic or group (name or prefix)."""

    principal: str
    resource: str
    name: str
    pattern: str
    operation: str
    host: str = ANY_HOST
    permission: str = ALLOW

    def __str__(self) -> str:
        star = "*" if self.pattern == PREFIXED else ""
        text = f"{self.principal} {self.operation} {self.resource} {self.name}{star}"
        if (self.host, self.permission) != (ANY_HOST, ALLOW):
            text += f" ({self.permission} from {self.host})"
        return text

    def to_kafka(self) -> AclBinding:
        return AclBinding(
            _RESOURCE[self.resource],
            self.name,
            _PATTERN[self.pattern],
            self.principal,
            self.host,
            AclOperation[self.operation],
            AclPermissionType[self.permission.upper()],
        )

    def to_filter(self) -> AclBindingFilter:
        """A filter matching exactly this binding (to delete it)."""
        acl = self.to_kafka()
        return AclBindingFilter(
            acl.restype,
            acl.name,
            acl.resource_pattern_type,
            acl.principal,
            acl.host,
            acl.operation,
            acl.permission_type,
        )


@dataclass(frozen=True)
class AccessDrift:
    missing: list[Binding] = field(default_factory=list)
    extra: list[Binding] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.extra)

    def lines(self) -> Iterator[str]:
        yield from (f"missing: {binding}" for binding in self.missing)
        yield from (f"extra: {binding}" for binding in self.extra)


@dataclass(frozen=True)
class AccessReport:
    created: list[Binding] = field(default_factory=list)
    deleted: list[Binding] = field(default_factory=list)
    extra: list[Binding] = field(default_factory=list)  # left on the cluster (no prune)
    no_authorizer: bool = False

    def summary(self) -> str:
        if self.no_authorizer:
            return (
                "ACLs: not applied, the cluster has no authorizer (any client may write any topic)"
            )
        text = f"ACLs: {len(self.created)} created, {len(self.deleted)} deleted"
        return text + (f"; {len(self.extra)} extra left (see check)" if self.extra else "")


def provision(
    admin: AdminClient,
    catalog: Catalog,
    *,
    require_authorizer: bool = True,
    policy: ReplicationPolicy | None = None,
) -> tuple[ApplyReport, AccessReport]:
    """The catalog's topics (replicated as ``policy`` says), then its ACLs, on the cluster."""
    topics = apply_catalog(admin, catalog, policy=policy)
    return topics, apply_access(admin, catalog, require_authorizer=require_authorizer)


def role_bindings(catalog: Catalog, role: str) -> set[Binding]:
    """Every binding ``role`` needs, from the catalog."""
    principal = catalog.principal_of(role)
    spec = catalog.roles[role]
    bindings = set()
    reads = False
    for topic in catalog.topics:
        if role in topic.writers:
            bindings.add(Binding(principal, TOPIC, topic.name, LITERAL, "WRITE"))
        if role in topic.readers:
            bindings.add(Binding(principal, TOPIC, topic.name, LITERAL, "READ"))
            reads = True
    groups = spec.group_prefixes + ((READER_GROUP_PREFIX,) if reads else ())
    bindings |= {Binding(principal, GROUP, prefix, PREFIXED, "READ") for prefix in groups}
    if spec.app_id:
        bindings |= {
            Binding(principal, TOPIC, spec.app_id, PREFIXED, operation)
            for operation in INTERNAL_TOPIC_OPERATIONS
        }
    return bindings | transaction_bindings(principal, spec.transactional_ids)


def transaction_bindings(principal: str, prefixes: Iterable[str]) -> set[Binding]:
    """What producing with transactional ids under ``prefixes`` needs (none without prefixes)."""
    bindings = {
        Binding(principal, TRANSACTIONAL_ID, prefix, PREFIXED, operation)
        for prefix in prefixes
        for operation in TRANSACTION_OPERATIONS
    }
    if bindings:
        bindings.add(Binding(principal, CLUSTER, CLUSTER_NAME, LITERAL, "IDEMPOTENT_WRITE"))
    return bindings


def desired_bindings(catalog: Catalog) -> set[Binding]:
    """Every binding of every role."""
    return {binding for role in catalog.roles for binding in role_bindings(catalog, role)}


def check_access(admin: AdminClient, catalog: Catalog) -> AccessDrift:
    """The bindings the cluster lacks and the extra ones it has; changes nothing."""
    wanted = desired_bindings(catalog)
    present = {b for b in observe_bindings(admin) if in_scope(b, catalog)}
    return AccessDrift(missing=sorted(wanted - present), extra=sorted(present - wanted))


def apply_access(
    admin: AdminClient,
    catalog: Catalog,
    *,
    prune: bool = False,
    require_authorizer: bool = True,
) -> AccessReport:
    """Create the missing bindings (and delete the extra ones when ``prune``); on a cluster
    without an authorizer, a report saying so unless ``require_authorizer``."""
    try:
        drift = check_access(admin, catalog)
    except NoAuthorizerError:
        if require_authorizer:
            raise
        return AccessReport(no_authorizer=True)
    if drift.missing:
        created = admin.create_acls(
            [b.to_kafka() for b in drift.missing], request_timeout=ADMIN_TIMEOUT_S
        )
        _results(created.values(), "creating ACLs")
    if prune and drift.extra:
        filters = [b.to_filter() for b in drift.extra]
        deleted = admin.delete_acls(filters, request_timeout=ADMIN_TIMEOUT_S)
        _results(deleted.values(), "deleting ACLs")
    if drift.missing or (prune and drift.extra):
        _wait_until_listed(admin, set(drift.missing), set(drift.extra) if prune else set())
    return AccessReport(
        created=drift.missing,
        deleted=drift.extra if prune else [],
        extra=[] if prune else drift.extra,
    )


def _wait_until_listed(admin: AdminClient, created: set[Binding], deleted: set[Binding]) -> None:
    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    while True:
        present = set(observe_bindings(admin))
        if created <= present and not deleted & present:
            return
        if time.monotonic() >= deadline:
            raise KafkaTransportError(
                f"the ACL changes were not listed by the broker within {ADMIN_TIMEOUT_S:g} s"
            )
        time.sleep(0.05)


def observe_bindings(admin: AdminClient) -> list[Binding]:
    """Every topic and group ACL on the cluster."""
    everything = AclBindingFilter(
        ResourceType.ANY,
        _ANY,
        ResourcePatternType.ANY,
        _ANY,
        _ANY,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    future = admin.describe_acls(everything, request_timeout=ADMIN_TIMEOUT_S)
    (found,) = _results([future], "describing ACLs")
    return [b for acl in found if (b := _from_kafka(acl)) is not None]


def in_scope(binding: Binding, catalog: Catalog) -> bool:
    """Whether ``binding`` concerns the catalog: one of its principals, topics or prefixes."""
    principals = {catalog.principal_of(role) for role in catalog.roles}
    if binding.principal in principals:
        return True
    if binding.resource in (TRANSACTIONAL_ID, CLUSTER):
        return False
    if binding.resource == TOPIC:
        names = [t.name for t in catalog.topics]
        prefixes = [spec.app_id for spec in catalog.roles.values() if spec.app_id]
    else:
        names = []
        prefixes = [p for spec in catalog.roles.values() for p in spec.group_prefixes]
        prefixes += [READER_GROUP_PREFIX] if catalog.roles else []
    return _covers(binding, names, prefixes)


def _covers(binding: Binding, names: Iterable[str], prefixes: Iterable[str]) -> bool:
    if binding.name == "*" and binding.pattern == LITERAL:
        return True
    if binding.pattern == LITERAL:
        return binding.name in names or any(binding.name.startswith(p) for p in prefixes)
    return any(n.startswith(binding.name) for n in names) or any(
        p.startswith(binding.name) or binding.name.startswith(p) for p in prefixes
    )


def _from_kafka(acl: AclBinding) -> Binding | None:
    restype, pattern_type = acl.restype, acl.resource_pattern_type
    operation, permission = acl.operation, acl.permission_type
    if not (
        isinstance(restype, ResourceType)
        and isinstance(pattern_type, ResourcePatternType)
        and isinstance(operation, AclOperation)
        and isinstance(permission, AclPermissionType)
    ):
        return None
    resource = {v: k for k, v in _RESOURCE.items()}.get(restype)
    pattern = {v: k for k, v in _PATTERN.items()}.get(pattern_type)
    if resource is None or pattern is None:
        return None
    return Binding(
        principal=acl.principal,
        resource=resource,
        name=acl.name,
        pattern=pattern,
        operation=operation.name,
        host=acl.host,
        permission=permission.name.lower(),
    )


def _results(futures: Iterable[Any], what: str) -> list[Any]:
    results = []
    for future in futures:
        try:
            results.append(future.result(timeout=ADMIN_TIMEOUT_S))
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.SECURITY_DISABLED:
                raise NoAuthorizerError(
                    "the cluster has no authorizer (authorizer.class.name), so it enforces no ACLs"
                ) from exc
            raise KafkaTransportError(f"{what}: {exc}") from exc
        except TimeoutError as exc:
            raise KafkaTransportError(f"{what}: no answer within {ADMIN_TIMEOUT_S:g} s") from exc
    return results
