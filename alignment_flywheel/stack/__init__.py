"""The real infrastructure: the local Kafka broker, the topic catalog and the ClickHouse client.

* :mod:`~alignment_flywheel.stack.artifacts`: fetch the broker's jars from Maven Central into the
  cache directory (never into the repository).
* :mod:`~alignment_flywheel.stack.broker`: start, stop and inspect the local single-node broker;
  :mod:`~alignment_flywheel.stack.cluster`: a local cluster of several KRaft nodes (tests).
* The Kafka clients, the topic catalog and the bounded reader are the low layer,
  :mod:`alignment_flywheel.kafka`.
* :mod:`~alignment_flywheel.stack.topics`: the topic catalog (``infra/topics.yaml``), applied and
  checked idempotently (:mod:`~alignment_flywheel.stack.topic_state`: what the cluster has;
  :mod:`~alignment_flywheel.stack.reassign`: moving replicas).
* :mod:`~alignment_flywheel.stack.health`: partition health and the controller quorum
  (:mod:`~alignment_flywheel.stack.quorum`), for ``infra status``.
* :mod:`~alignment_flywheel.stack.clickhouse`: the ClickHouse client and the ordered migrations.

Nothing here runs at import time; every function takes the
:class:`~alignment_flywheel.config.Settings` it needs.
"""
