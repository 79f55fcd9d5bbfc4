"""Connectors between Kafka and the outside world, imported as ``alignment_flywheel.connectors``."""
