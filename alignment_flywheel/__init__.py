"""Alignment Flywheel: event-sourced runtime safety governance for AI agents on Apache Kafka."""

__version__ = "0.1.0"
