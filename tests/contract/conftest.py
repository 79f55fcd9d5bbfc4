"""The two adapters every contract suite runs on: an in-memory Kafka and the real broker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from alignment_flywheel.config import Settings, load_settings
from alignment_flywheel.kafka.credentials import connection_settings
from tests.support.adapters import MEMORY_SERVERS, Adapter, broker_adapter, memory_adapter


@pytest.fixture
def memory_kafka(settings_factory: Callable[..., Settings]) -> Adapter:
    """The in-memory adapter."""
    return memory_adapter(settings_factory(bootstrap_servers=MEMORY_SERVERS))


@pytest.fixture
def broker_kafka(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> Adapter:
    """The adapter of the test broker (its topics made fresh for each test)."""
    settings = load_settings(**connection_settings(kafka_settings), state_dir=tmp_path)
    return broker_adapter(settings, make_topic, unique_name)
