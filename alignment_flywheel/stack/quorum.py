"""The KRaft controller quorum of a cluster: leader, voters and how far each voter lags.

Rules: asked with ``DescribeQuorum`` (KIP-595, version 0) for the metadata log
(``__cluster_metadata``, partition 0), through aiokafka's protocol layer as the settings'
principal (the admin: it needs DESCRIBE on the cluster); a broker forwards it to the active
controller. A voter lags when its log end is behind the leader's high watermark. Any failure is
a :class:`KafkaTransportError`: a cluster that cannot say who leads its metadata is not healthy.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, TypeAlias

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError as AiokafkaError
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Int64,
    Schema,
    TaggedFields,
)

from alignment_flywheel.config import Settings
from alignment_flywheel.errors import KafkaTransportError
from alignment_flywheel.stack.reassign import aio_admin_options

METADATA_TOPIC = "__cluster_metadata"
QUORUM_TIMEOUT_S = 10.0
_REPLICA = CompactArray(("replica_id", Int32), ("log_end_offset", Int64), ("tags", TaggedFields))


class DescribeQuorumResponse_v0(Response):  # type: ignore[misc]
    API_KEY = 55
    API_VERSION = 0
    SCHEMA = Schema(
        ("error_code", Int16),
        (
            "topics",
            CompactArray(
                ("topic_name", CompactString("utf-8")),
                (
                    "partitions",
                    CompactArray(
                        ("partition_index", Int32),
                        ("error_code", Int16),
                        ("leader_id", Int32),
                        ("leader_epoch", Int32),
                        ("high_watermark", Int64),
                        ("current_voters", _REPLICA),
                        ("observers", _REPLICA),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class DescribeQuorumRequest_v0(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 55
    API_VERSION = 0
    RESPONSE_TYPE = DescribeQuorumResponse_v0
    SCHEMA = Schema(
        (
            "topics",
            CompactArray(
                ("topic_name", CompactString("utf-8")),
                ("partitions", CompactArray(("partition_index", Int32), ("tags", TaggedFields))),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


DescribeQuorumRequestStruct: TypeAlias = DescribeQuorumRequest_v0


class DescribeQuorumRequest(Request[DescribeQuorumRequestStruct]):  # type: ignore[misc]
    API_KEY = 55

    def build(
        self, request_struct_class: type[DescribeQuorumRequestStruct]
    ) -> DescribeQuorumRequestStruct:
        return request_struct_class([(METADATA_TOPIC, [(0, {})], {})], {})


@dataclass(frozen=True)
class Quorum:
    """The controller quorum: who leads, in which epoch, and the voters' progress."""

    leader: int
    epoch: int
    high_watermark: int
    voters: dict[int, int]  # voter id -> log end offset

    @property
    def lagging(self) -> list[int]:
        return sorted(v for v, end in self.voters.items() if end < self.high_watermark)

    def describe(self) -> str:
        voters = ", ".join(str(v) for v in sorted(self.voters))
        text = f"leader {self.leader} (epoch {self.epoch}), voters {voters}"
        return text + (f"; lagging {', '.join(map(str, self.lagging))}" if self.lagging else "")


def describe_quorum(settings: Settings, timeout: float = QUORUM_TIMEOUT_S) -> Quorum:
    """The quorum as the active controller reports it."""
    try:
        answer = asyncio.run(asyncio.wait_for(_ask(settings, timeout), timeout))
    except (OSError, TimeoutError, AiokafkaError) as exc:
        raise KafkaTransportError(f"cannot describe the controller quorum: {exc!r}") from exc
    return parse_quorum(answer)


def parse_quorum(answer: dict[str, Any]) -> Quorum:
    """A :class:`Quorum` from the response as a dict; an error code is a transport error."""
    partitions = [p for topic in answer["topics"] for p in topic["partitions"]]
    codes = [answer["error_code"], *(p["error_code"] for p in partitions)]
    if any(codes) or not partitions:
        raise KafkaTransportError(f"the controller quorum could not be described (errors {codes})")
    part = partitions[0]
    return Quorum(
        leader=part["leader_id"],
        epoch=part["leader_epoch"],
        high_watermark=part["high_watermark"],
        voters={v["replica_id"]: v["log_end_offset"] for v in part["current_voters"]},
    )


async def _ask(settings: Settings, timeout: float) -> dict[str, Any]:
    client = AIOKafkaAdminClient(**aio_admin_options(settings, timeout))
    try:
        await client.start()
        response = await client._send_request(DescribeQuorumRequest())
    finally:
        await client.close()
    result: dict[str, Any] = response.to_object()
    return result
