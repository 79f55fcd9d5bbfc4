"""Building faust apps from the settings: one function, no app created at import time.

Rules: the broker comes from the settings (the local broker or ``FLYWHEEL_BOOTSTRAP_SERVERS``), and
so do the credentials (:func:`broker_credentials`: SASL as the settings' principal, TLS when the
protocol says so), the replication of the internal topics the app creates
(:class:`ReplicatedTransport`: the settings' or the cluster's default, never a fixed 1), and the
consumer-group timeouts (``worker_*_s``; faust's defaults when unset); every consumer reads
committed records only (``read_committed``: :class:`ReadCommittedConsumer`); the web server is
off; tables live in memory (state topics are compacted changelogs on Kafka, so a restarted worker
rebuilds them); the flow control keeps records fetched after a rebalance
(:class:`SettledFlowControl`); a group whose new changelog topic the leader's metadata does not
list yet waits for it instead of hanging (:class:`SettledPartitionAssignor`).
Agents are declared with :func:`agent`, which gives them mode's ``CrashingSupervisor``: an agent
that raises stops the worker instead of being restarted in a silent loop, and the process
supervisor (systemd, Kubernetes, the test) sees the failure.
:func:`run_worker` also turns off faust's startup spinner (it sets the root logger to DEBUG) and
tunes the garbage collector for a long-running worker (:func:`tune_gc`).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import faust
from faust.assignor import PartitionAssignor
from faust.assignor.client_assignment import ClientAssignment
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.transport.drivers.aiokafka import Transport as AIOKafkaTransport
from mode import CrashingSupervisor
from mode.utils.queues import FlowControlEvent

from alignment_flywheel.config import Settings
from alignment_flywheel.kafka.credentials import kafka_credentials, ssl_context
from alignment_flywheel.kafka.replication import MIN_INSYNC, ReplicationPolicy

log = logging.getLogger(__name__)
READ_COMMITTED = "read_committed"

INPUT_PREFETCH = 1000
METADATA_MAX_AGE_MS = 5_000
"""How old the consumer's metadata may get: a topic missing from it (see
:class:`SettledPartitionAssignor`) is found, and the group rebalanced, within this time instead of
the default five minutes. A refresh costs one small request."""


def create_app(settings: Settings, app_id: str, **overrides: Any) -> faust.App:
    """A faust app bound to the configured cluster. Call it; never import an app object."""
    datadir = settings.state_dir / "faust" / app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "broker": f"kafka://{settings.effective_bootstrap_servers}",
        "store": "memory://",
        "web_enabled": False,
        "stream_buffer_maxsize": INPUT_PREFETCH,
        "datadir": str(datadir),
        "producer_acks": -1,
        "consumer_metadata_max_age_ms": METADATA_MAX_AGE_MS,
        "PartitionAssignor": SettledPartitionAssignor,
        "broker_credentials": broker_credentials(settings),
    }
    options.update(group_timeouts(settings))
    options.update(overrides)
    app = ReplicatedApp(app_id, **options)
    app.replication_policy = ReplicationPolicy.from_settings(settings)
    app.flow_control = SettledFlowControl(loop=app.loop)
    return app


class ReadCommittedConsumerThread(AIOKafkaConsumerThread):
    """faust's aiokafka consumer thread, its consumer reading committed records only.

    faust reads ``read_committed`` only when the app itself runs transactions
    (``processing_guarantee="exactly_once"``); the workers do not, but they read topics the gate
    writes in transactions, whose aborted records must never be read.
    """

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._isolation_level = READ_COMMITTED  # read by aiokafka when the consumer starts
        return consumer


class ReadCommittedConsumer(AIOKafkaConsumer):
    """faust's aiokafka consumer with :class:`ReadCommittedConsumerThread`."""

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)


class ReplicatedApp(faust.App):
    """A faust app whose transports create internal topics replicated as the settings say."""

    replication_policy = ReplicationPolicy()

    def _new_transport(self) -> ReplicatedTransport:
        return ReplicatedTransport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> ReplicatedTransport:
        return ReplicatedTransport(self.conf.broker_producer, self)


class ReplicatedTransport(AIOKafkaTransport):
    """faust's Kafka transport, except that every topic it creates (changelogs, repartition
    topics) gets the replication of :class:`ReplicationPolicy` for the cluster it is connected
    to, instead of ``topic_replication_factor``: ``min(brokers, 3)`` replicas and
    ``min.insync.replicas`` to match, unless the settings fix them. A ``min.insync.replicas`` the
    topic's own config sets wins. Its consumer reads committed records only
    (:class:`ReadCommittedConsumer`)."""

    Consumer = ReadCommittedConsumer

    async def _create_topic(
        self,
        owner: Any,
        client: Any,
        topic: str,
        partitions: int,
        replication: int,
        **kwargs: Any,
    ) -> None:
        policy: ReplicationPolicy = getattr(self.app, "replication_policy", ReplicationPolicy())
        wanted = policy.for_cluster(len(client.cluster.brokers()))
        config = {MIN_INSYNC: str(wanted.min_insync), **(kwargs.pop("config", None) or {})}
        await super()._create_topic(
            owner, client, topic, partitions, wanted.factor, config=config, **kwargs
        )


def group_timeouts(settings: Settings) -> dict[str, float]:
    """The consumer-group timeouts the settings set (``worker_*_s``); faust's defaults otherwise."""
    timeouts = {
        "broker_session_timeout": settings.worker_session_timeout_s,
        "broker_heartbeat_interval": settings.worker_heartbeat_interval_s,
        "broker_rebalance_timeout": settings.worker_rebalance_timeout_s,
    }
    return {name: value for name, value in timeouts.items() if value is not None}


def broker_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """faust's (aiokafka's) credentials for the settings' principal; None for PLAINTEXT."""
    context = ssl_context(settings)
    credentials = kafka_credentials(settings)
    if credentials is not None:
        return faust.SASLCredentials(
            username=credentials.username,
            password=credentials.password,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context) if context is not None else None


class SettledPartitionAssignor(PartitionAssignor):
    """faust's assignor, except while a subscribed topic is missing from the leader's metadata.

    faust creates its changelog topics at start, then joins. When the leader assigns before a new
    topic is in its metadata (the broker lists it a moment later), faust leaves the topic out
    ("Ignoring missing topic") and then fails on a global table's changelog (``KeyError`` in
    ``_global_table_standby_assignments``): the join never completes and the worker processes
    nothing, without an error. Given partitions anyway, a worker would fail on its first table
    write (``PartitionsMismatch``). So while a subscribed topic is missing, every member gets no
    partitions; the next metadata refresh (:data:`METADATA_MAX_AGE_MS`) lists the topic, the
    consumer rejoins and the assignment is faust's own.
    """

    _missing: list[str] = []

    def _perform_assignment(self, cluster: Any, member_metadata: MutableMapping[str, Any]) -> Any:
        self._missing = missing_topics(cluster, member_metadata)
        if self._missing:
            log.warning("no partitions until the metadata lists %s", ", ".join(self._missing))
        return super()._perform_assignment(cluster, member_metadata)

    def _global_table_standby_assignments(
        self,
        assignments: MutableMapping[str, ClientAssignment],
        partitions_by_topic: Mapping[str, int],
    ) -> MutableMapping[str, ClientAssignment]:
        if self._missing:
            for assignment in assignments.values():
                assignment.actives.clear()
                assignment.standbys.clear()
            return assignments
        return super()._global_table_standby_assignments(assignments, partitions_by_topic)


def missing_topics(cluster: Any, member_metadata: Mapping[str, Any]) -> list[str]:
    """The topics some member subscribes to that the cluster metadata lists no partitions for."""
    subscribed = {topic for metadata in member_metadata.values() for topic in metadata.subscription}
    return sorted(t for t in subscribed if not cluster.partitions_for_topic(t))


class SettledFlowControl(FlowControlEvent):
    """Flow control whose ``resume`` empties the stream queues only when it ends a suspension.

    faust resumes the flow twice after a rebalance with table recovery: once to read the
    changelogs, then again after seeking the stream partitions to their committed offsets. Each
    ``resume`` of mode's event empties every stream queue, so records fetched between the seek and
    the second ``resume`` were dropped although the consumer had moved past them: a restarted
    worker then never saw them. Here a ``resume`` while already flowing changes nothing; records
    queued before the seek are read again after it (at least once, as everywhere else).
    """

    def resume(self) -> None:
        if self.is_active():
            return
        super().resume()


def agent(app: faust.App, channel: Any, **options: Any) -> Callable[[Any], Any]:
    """``app.agent`` with the crashing supervisor: a failure ends the worker, visibly."""
    return app.agent(channel, supervisor_strategy=CrashingSupervisor, **options)


def run_worker(app: faust.App, *, loglevel: str = "warning") -> None:
    """Run a faust worker in this process until it is stopped (SIGTERM/SIGINT) or an agent fails."""
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    # Faust's startup spinner sets the root logger to DEBUG (so that every record turns it), which
    # makes every ``log.debug`` of faust and aiokafka build a LogRecord per message sent or
    # received, only for the handler to drop it: about 6 % of a busy gate worker's time.
    worker.spinner = None
    tune_gc()
    worker.execute_from_commandline()


GC_YOUNG_THRESHOLD = 20_000


def tune_gc() -> None:
    """Make the cyclic garbage collector cheaper for a long-running stream worker.

    What is alive when the worker starts (modules, schemas, the oracle's rules) is moved to the
    permanent generation (``gc.freeze``), so full collections stop walking it again and again; and
    young collections run every :data:`GC_YOUNG_THRESHOLD` allocations instead of 700 (a record
    allocates hundreds of objects). Reference counting still frees everything that is not in a
    cycle at once; only the frequency of the cycle detector changes.
    """
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
