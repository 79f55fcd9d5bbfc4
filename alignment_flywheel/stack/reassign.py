"""Changing the replicas of existing partitions: how ``topics apply`` fixes a replication factor.

Rules: the new replica lists come from
:func:`~alignment_flywheel.kafka.replication.reassigned`; they are sent in one
``AlterPartitionReassignments`` request (KIP-455) through aiokafka's protocol layer, as the
settings' principal (confluent-kafka's admin client has no such call), to the controller the
metadata names (a KRaft broker forwards it to the active controller). The call returns once every
partition has exactly its new replicas, all of them in sync, or raises
:class:`KafkaTransportError` after the timeout; a request the cluster refuses raises
:class:`CatalogError` naming each partition.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError as AiokafkaError
from aiokafka.protocol.admin import AlterPartitionReassignmentsRequest
from confluent_kafka.admin import AdminClient

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import CatalogError, KafkaTransportError
from alignment_flywheel.kafka.clients import admin_client, list_metadata
from alignment_flywheel.kafka.credentials import kafka_credentials, ssl_context

Targets = Mapping[str, Mapping[int, Sequence[int]]]
Reassigner = Callable[[Targets, float], None]
POLL_S = 0.25


def reassigner(settings: Settings) -> Reassigner:
    """The function ``apply_catalog`` calls to move replicas on the settings' cluster."""
    return partial(reassign_partitions, settings)


def reassign_partitions(settings: Settings, targets: Targets, timeout: float) -> None:
    """Give every listed partition its new replicas and wait until they are all in sync."""
    if not any(targets.values()):
        return
    asyncio.run(_alter(settings, targets, timeout))
    wait_for_replicas(admin_client(settings), targets, timeout)


def wait_for_replicas(admin: AdminClient, targets: Targets, timeout: float) -> None:
    """Until each partition's replicas are its target and every one of them is in sync."""
    deadline = time.monotonic() + timeout
    while True:
        pending = _pending(admin, targets)
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise KafkaTransportError(
                f"replicas not in sync within {timeout:g} s: {', '.join(pending[:5])}"
            )
        time.sleep(POLL_S)


def _pending(admin: AdminClient, targets: Targets) -> list[str]:
    topics = list_metadata(admin).topics
    pending = []
    for name, partitions in targets.items():
        observed = topics.get(name)
        for index, replicas in partitions.items():
            partition = observed.partitions.get(index) if observed is not None else None
            done = (
                partition is not None
                and sorted(partition.replicas) == sorted(replicas)
                and set(replicas) <= set(partition.isrs)
            )
            if not done:
                pending.append(f"{name}/{index}")
    return pending


async def _alter(settings: Settings, targets: Targets, timeout: float) -> None:
    client = AIOKafkaAdminClient(**aio_admin_options(settings, timeout))
    try:
        await client.start()
        request = AlterPartitionReassignmentsRequest(
            int(timeout * 1000),
            [
                (name, [(index, list(replicas), {}) for index, replicas in parts.items()], {})
                for name, parts in targets.items()
                if parts
            ],
            {},
        )
        response = await client._send_to_controller(request)
    except (OSError, AiokafkaError) as exc:
        raise KafkaTransportError(f"cannot reassign partitions: {exc}") from exc
    finally:
        await client.close()
    _raise_on_errors(response)


def _raise_on_errors(response: Any) -> None:
    answer = response.to_object()
    if answer["error_code"]:
        raise CatalogError(
            f"the cluster refused the reassignment: {answer['error_message']} "
            f"(error {answer['error_code']})"
        )
    refused = [
        f"{topic['name']}/{p['partition_index']}: {p['error_message']} (error {p['error_code']})"
        for topic in answer["responses"]
        for p in topic["partitions"]
        if p["error_code"]
    ]
    if refused:
        raise CatalogError("the cluster refused the reassignment of " + "; ".join(refused))


def aio_admin_options(settings: Settings, timeout: float) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": settings.effective_bootstrap_servers,
        "client_id": "flywheel-reassign",
        "request_timeout_ms": int(timeout * 1000),
        "security_protocol": settings.effective_kafka_security_protocol,
        "ssl_context": ssl_context(settings),
    }
    credentials = kafka_credentials(settings)
    if credentials is not None:
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=credentials.username,
            sasl_plain_password=credentials.password,
        )
    return options
