"""Kafka credentials in the settings: who each client connects as, and the credential files."""

from __future__ import annotations

import stat

import faust
import pytest

from alignment_flywheel.errors import ConfigError, CredentialsError
from alignment_flywheel.kafka.credentials import (
    as_role,
    connection_env,
    connection_settings,
    ensure_credentials,
    kafka_credentials,
    read_credentials,
    security_config,
)
from alignment_flywheel.processors.app import broker_credentials


def test_an_existing_cluster_without_credentials_is_plaintext(settings_factory):
    settings = settings_factory(bootstrap_servers="k1:9092")
    assert settings.effective_kafka_security_protocol == "PLAINTEXT"
    assert kafka_credentials(settings) is None
    assert security_config(settings) == {}


def test_explicit_credentials_default_to_sasl_ssl_and_never_show(settings_factory, monkeypatch):
    monkeypatch.setenv("FLYWHEEL_KAFKA_USERNAME", "flywheel-gate")
    monkeypatch.setenv("FLYWHEEL_KAFKA_PASSWORD", "s3cret-value")
    settings = settings_factory(bootstrap_servers="k1:9093")
    assert settings.effective_kafka_security_protocol == "SASL_SSL"
    assert security_config(settings) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "flywheel-gate",
        "sasl.password": "s3cret-value",
    }
    assert "s3cret-value" not in repr(settings) + str(settings.model_dump())
    assert "s3cret-value" not in repr(kafka_credentials(settings))


def test_a_username_needs_a_password(settings_factory):
    with pytest.raises(ConfigError, match="set together"):
        settings_factory(bootstrap_servers="k1:9092", kafka_username="u")


def test_sasl_without_any_credentials_says_what_to_set(settings_factory):
    settings = settings_factory(bootstrap_servers="k:9092", kafka_security_protocol="SASL_SSL")
    with pytest.raises(CredentialsError, match="FLYWHEEL_KAFKA_USERNAME"):
        security_config(settings)


def test_the_local_broker_uses_the_role_file_of_its_state_dir(settings_factory):
    settings = settings_factory()
    directory = settings.state_dir.resolve() / "kafka" / "credentials"
    assert settings.effective_kafka_credentials_dir == directory
    with pytest.raises(CredentialsError, match=r"role admin .* \(`flywheel infra up`\)"):
        security_config(settings)
    admin = ensure_credentials(directory, "admin", "flywheel-admin")
    gate = ensure_credentials(directory, "gate", "flywheel-gate")
    assert security_config(settings)["sasl.username"] == "flywheel-admin"
    assert security_config(settings)["sasl.password"] == admin.password
    as_gate = settings_factory(kafka_role="gate")
    assert security_config(as_gate)["sasl.password"] == gate.password


def test_the_local_broker_accepts_scram_over_sasl_plaintext_only(settings_factory):
    with pytest.raises(ConfigError, match="SASL_PLAINTEXT with SCRAM-SHA-512"):
        settings_factory(kafka_security_protocol="PLAINTEXT")
    with pytest.raises(ConfigError, match="SASL_PLAINTEXT with SCRAM-SHA-512"):
        settings_factory(kafka_sasl_mechanism="PLAIN")


def test_credential_files_are_private_and_kept(tmp_path):
    directory = tmp_path / "credentials"
    first = ensure_credentials(directory, "gate", "flywheel-gate")
    assert len(first.password) == 64 and int(first.password, 16) >= 0
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "gate.json").stat().st_mode) == 0o600
    assert ensure_credentials(directory, "gate", "another-name") == first
    assert read_credentials(directory / "gate.json") == first
    (directory / "bad.json").write_text('{"username": "x"}')
    with pytest.raises(CredentialsError, match="username and a password"):
        read_credentials(directory / "bad.json")


def test_a_child_process_reaches_the_same_cluster_as_a_role(settings_factory, monkeypatch):
    settings = settings_factory(local_broker_port=31444)
    env = connection_env(settings, "refine")
    assert env == {
        "FLYWHEEL_BOOTSTRAP_SERVERS": "127.0.0.1:31444",
        "FLYWHEEL_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "FLYWHEEL_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "FLYWHEEL_KAFKA_SSL_CA_LOCATION": "",
        "FLYWHEEL_KAFKA_USERNAME": "",
        "FLYWHEEL_KAFKA_PASSWORD": "",
        "FLYWHEEL_KAFKA_CREDENTIALS_DIR": str(settings.state_dir.resolve() / "kafka/credentials"),
        "FLYWHEEL_KAFKA_ROLE": "refine",
    }
    monkeypatch.setenv("FLYWHEEL_KAFKA_USERNAME", "inherited")  # blanked by the child's env
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    child = settings_factory()
    assert (child.kafka_username, child.kafka_role) == (None, "refine")
    assert child.effective_kafka_credentials_dir == settings.effective_kafka_credentials_dir
    assert as_role(settings, "refine").effective_kafka_role == "refine"


def test_explicit_credentials_are_passed_on_when_there_is_no_directory(settings_factory):
    settings = settings_factory(
        bootstrap_servers="k:9093", kafka_username="ops", kafka_password="pw"
    )
    values = connection_settings(settings, "gate")  # one principal for every role
    assert values["kafka_username"] == "ops"
    assert values["kafka_password"].get_secret_value() == "pw"
    assert connection_env(settings)["FLYWHEEL_KAFKA_PASSWORD"] == "pw"


def test_faust_gets_the_same_principal(settings_factory):
    assert broker_credentials(settings_factory(bootstrap_servers="k:9092")) is None
    settings = settings_factory(
        bootstrap_servers="k:9092",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_username="flywheel-gate",
        kafka_password="pw",
    )
    credentials = broker_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("flywheel-gate", "pw")
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_PLAINTEXT"
    tls = broker_credentials(settings.model_copy(update={"kafka_security_protocol": "SASL_SSL"}))
    assert isinstance(tls, faust.SASLCredentials) and tls.protocol.value == "SASL_SSL"
