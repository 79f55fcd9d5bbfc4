"""Settings: defaults, FLYWHEEL_* variables, the TOML file, priority, immutability, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from alignment_flywheel.config import load_settings
from alignment_flywheel.errors import ConfigError


def test_defaults_start_a_local_broker_and_embedded_clickhouse(settings_factory, tmp_path):
    settings = settings_factory()
    assert settings.uses_local_broker
    assert settings.effective_bootstrap_servers == "127.0.0.1:19092"
    assert settings.effective_clickhouse_url == f"chdb://{(tmp_path / 'state' / 'clickhouse')}"
    assert (settings.local_broker_port, settings.local_controller_port) == (19092, 19093)
    assert settings.local_broker_heap_mb == 512


def test_environment_variables_are_read(settings_factory, monkeypatch, tmp_path):
    monkeypatch.setenv("FLYWHEEL_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("FLYWHEEL_LOCAL_BROKER_PORT", "29092")
    monkeypatch.setenv("FLYWHEEL_CLICKHOUSE_URL", "http://ch.internal:8123")
    monkeypatch.setenv("FLYWHEEL_CACHE_DIR", str(tmp_path / "cache"))
    settings = settings_factory()
    assert not settings.uses_local_broker
    assert settings.effective_bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert settings.local_broker_port == 29092
    assert settings.effective_clickhouse_url == "http://ch.internal:8123"
    assert settings.cache_dir == tmp_path / "cache"


def test_blank_bootstrap_servers_mean_the_local_broker(settings_factory):
    settings = settings_factory(bootstrap_servers="   ", local_broker_port=23456)
    assert settings.uses_local_broker
    assert settings.effective_bootstrap_servers == "127.0.0.1:23456"


def test_toml_file_named_by_flywheel_config(settings_factory, monkeypatch, tmp_path):
    config = tmp_path / "custom.toml"
    config.write_text('bootstrap_servers = "from-toml:9092"\nlocal_broker_heap_mb = 1024\n')
    monkeypatch.setenv("FLYWHEEL_CONFIG", str(config))
    settings = settings_factory()
    assert settings.bootstrap_servers == "from-toml:9092"
    assert settings.local_broker_heap_mb == 1024


def test_environment_wins_over_toml_and_arguments_win_over_both(
    settings_factory, monkeypatch, tmp_path
):
    config = tmp_path / "custom.toml"
    config.write_text("local_broker_port = 1111\nlocal_controller_port = 2222\n")
    monkeypatch.setenv("FLYWHEEL_CONFIG", str(config))
    monkeypatch.setenv("FLYWHEEL_LOCAL_BROKER_PORT", "3333")
    settings = settings_factory()
    assert (settings.local_broker_port, settings.local_controller_port) == (3333, 2222)
    assert settings_factory(local_broker_port=4444).local_broker_port == 4444


def test_flywheel_toml_in_the_working_directory_is_read(settings_factory, tmp_path):
    (tmp_path / "flywheel.toml").write_text('schema_registry_url = "http://registry:8081"\n')
    assert settings_factory().schema_registry_url == "http://registry:8081"


def test_flywheel_config_naming_a_missing_file_is_an_error(settings_factory, monkeypatch):
    monkeypatch.setenv("FLYWHEEL_CONFIG", "/nonexistent/flywheel.toml")
    with pytest.raises(ConfigError, match=r"FLYWHEEL_CONFIG names /nonexistent/flywheel\.toml"):
        settings_factory()


def test_settings_are_frozen(settings_factory):
    settings = settings_factory()
    with pytest.raises(ValidationError, match="frozen"):
        settings.local_broker_port = 1  # type: ignore[misc]
    assert settings.model_copy(update={"local_broker_port": 1}).local_broker_port == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"local_broker_port": 70000}, "local_broker_port"),
        ({"local_controller_port": 0}, "local_controller_port"),
        ({"local_broker_heap_mb": 64}, "local_broker_heap_mb"),
        ({"clickhouse_url": "mysql://db"}, "clickhouse_url"),
        ({"max_event_bytes": 10}, "max_event_bytes"),
        ({"no_such_setting": 1}, "no_such_setting"),
    ],
)
def test_invalid_values_raise_config_error_naming_the_field(settings_factory, overrides, field):
    with pytest.raises(ConfigError, match=field):
        settings_factory(**overrides)


def test_invalid_environment_value_names_the_field(settings_factory, monkeypatch):
    monkeypatch.setenv("FLYWHEEL_LOCAL_BROKER_HEAP_MB", "lots")
    with pytest.raises(ConfigError, match="local_broker_heap_mb"):
        settings_factory()


def test_invalid_toml_value_names_the_field(settings_factory, monkeypatch, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('local_controller_port = "high"\n')
    monkeypatch.setenv("FLYWHEEL_CONFIG", str(config))
    with pytest.raises(ConfigError, match="local_controller_port"):
        settings_factory()


def test_load_settings_without_the_factory_reads_the_process_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLYWHEEL_CONFIG", raising=False)
    monkeypatch.setenv("FLYWHEEL_STATE_DIR", str(tmp_path / "elsewhere"))
    assert load_settings().state_dir == Path(tmp_path / "elsewhere")


def test_trust_root_and_keys_default_under_the_state_dir(settings_factory, tmp_path) -> None:
    settings = settings_factory()
    assert settings.effective_trust_root_path == tmp_path / "state" / "trust" / "root.json"
    assert settings.effective_keys_dir == tmp_path / "state" / "keys"
    chosen = settings_factory(trust_root_path=tmp_path / "r.json", keys_dir=tmp_path / "k")
    assert chosen.effective_trust_root_path == tmp_path / "r.json"
    assert chosen.effective_keys_dir == tmp_path / "k"
