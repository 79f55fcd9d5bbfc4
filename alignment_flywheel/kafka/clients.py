"""The configuration every Kafka client starts from, and the admin client.

Rules: clients never build ``bootstrap.servers`` themselves; they start from :func:`client_config`
(which also carries the TLS and SASL settings of :mod:`~alignment_flywheel.kafka.credentials`) and
add their own keys (``group.id``, ``acks``...). Consumers that assign partitions themselves and
commit nothing use a throwaway group from :func:`reader_group`, under the one prefix every role
may use (:data:`READER_GROUP_PREFIX`). librdkafka's log goes to the Python logger
``flywheel.kafka`` instead of stderr, so the application decides what is shown. Admin calls that
can fail go through :func:`list_metadata`, which turns librdkafka errors into
:class:`KafkaTransportError` naming the cluster; :func:`wait_for_topics` waits until new topics
are usable (every partition has a leader).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import ConsumerGroupState, KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._metadata import ClusterMetadata

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import KafkaTransportError
from alignment_flywheel.kafka.catalog import READER_GROUP_PREFIX
from alignment_flywheel.kafka.credentials import security_config

CLIENT_ID_BASE = "flywheel"
METADATA_TIMEOUT_S = 10.0
TOPICS_READY_TIMEOUT_S = 30.0
CLIENT_LOG = logging.getLogger("flywheel.kafka")


def client_config(settings: Settings, client_id: str | None = None) -> dict[str, Any]:
    """``bootstrap.servers``, ``client.id`` and the security settings for any confluent-kafka
    client."""
    suffix = f"-{client_id}" if client_id else ""
    return {
        "bootstrap.servers": settings.effective_bootstrap_servers,
        "client.id": f"{CLIENT_ID_BASE}{suffix}",
        "logger": CLIENT_LOG,
        **security_config(settings),
    }


def reader_group(purpose: str) -> str:
    """A fresh consumer group for a reader that assigns partitions itself and commits nothing."""
    return f"{READER_GROUP_PREFIX}{purpose}-{uuid.uuid4().hex[:8]}"


def admin_client(settings: Settings, **overrides: Any) -> AdminClient:
    """An AdminClient on the configured cluster (the local broker when none is configured)."""
    return AdminClient({**client_config(settings, "admin"), **overrides})


def quiet_admin_client(settings: Settings) -> AdminClient:
    """An AdminClient that does not log connection failures, to probe a broker that may be down."""
    return admin_client(settings, log_level=0, **{"reconnect.backoff.max.ms": 500})


def list_metadata(
    admin: AdminClient, timeout: float = METADATA_TIMEOUT_S, topic: str | None = None
) -> ClusterMetadata:
    """Cluster metadata (brokers, topics, partitions), or :class:`KafkaTransportError`."""
    try:
        if topic is None:
            return admin.list_topics(timeout=timeout)
        return admin.list_topics(topic=topic, timeout=timeout)
    except KafkaException as exc:
        raise KafkaTransportError(
            f"cannot read metadata from Kafka within {timeout:g} s: {exc.args[0]}"
        ) from exc


def wait_for_topics(
    admin: AdminClient,
    names: Iterable[str],
    timeout: float = TOPICS_READY_TIMEOUT_S,
    partitions: Mapping[str, int] | None = None,
) -> None:
    """Wait until every topic is in the metadata, with a leader for each partition and at least
    ``partitions[name]`` partitions."""
    pending = set(names) | set(partitions or {})
    wanted = dict(partitions or {})
    deadline = time.monotonic() + timeout
    while pending:
        topics = list_metadata(admin).topics
        pending = {n for n in pending if not _usable(topics.get(n), wanted.get(n, 1))}
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise KafkaTransportError(
                f"topics not usable within {timeout:g} s: {', '.join(sorted(pending))}"
            )
        time.sleep(0.1)


def _usable(topic: Any, partitions: int) -> bool:
    if topic is None or topic.error is not None or len(topic.partitions) < partitions:
        return False
    return all(p.leader >= 0 and p.error is None for p in topic.partitions.values())


_NOT_READY = frozenset(
    {
        KafkaError.GROUP_ID_NOT_FOUND,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._TIMED_OUT,
    }
)


def assigned_members(admin: AdminClient, group: str, timeout: float = 10.0) -> int:
    """Members of ``group`` holding partitions once it is stable; 0 while it rebalances, does not
    exist yet or its coordinator is still loading or slow to answer (within ``timeout``).
    KafkaTransportError on any other failure."""
    (future,) = admin.describe_consumer_groups([group], request_timeout=timeout).values()
    try:
        description = future.result()  # the request's own timeout bounds the wait
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and error.code() in _NOT_READY:
            return 0
        raise KafkaTransportError(f"cannot describe consumer group {group}: {exc}") from exc
    if description.state != ConsumerGroupState.STABLE:
        return 0
    return sum(1 for m in description.members if m.assignment.topic_partitions)
