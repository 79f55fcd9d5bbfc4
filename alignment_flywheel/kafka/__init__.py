"""The low Kafka layer: clients, the topic catalog, the bounded reader, the dead-letter writer.

* :mod:`~alignment_flywheel.kafka.clients`: the client configuration every Kafka client starts
  from (bootstrap servers, security, the reader groups).
* :mod:`~alignment_flywheel.kafka.credentials`: SASL credentials and connection settings.
* :mod:`~alignment_flywheel.kafka.catalog`: the topic catalog (``infra/topics.yaml``): which event
  type goes to which topic, with its partitions and who may read and write it.
* :mod:`~alignment_flywheel.kafka.producer` and :mod:`~alignment_flywheel.kafka.consumer`: event
  producers and consumers with their error policy (dead letters, security failures apart).
* :mod:`~alignment_flywheel.kafka.reader`: the one bounded "read to the end" reader.
* :mod:`~alignment_flywheel.kafka.placement` and :mod:`~alignment_flywheel.kafka.headers`: where a
  record goes (the session key's partition) and the headers workers agree on.
* :mod:`~alignment_flywheel.kafka.deadletter`: dead-letter records, bounded.
* :mod:`~alignment_flywheel.kafka.ports`: what the SDK publisher needs from a producer and the
  bounded reader from a consumer; confluent-kafka's clients are the default adapter,
  :mod:`~alignment_flywheel.kafka.memory` (topics in memory) the one tests inject.

It depends only on the events, the codec, the settings and the errors; the domain and the edges
build on it (the layer contract in ``pyproject.toml``).
"""
