"""The local broker's files, command line and artifact cache, without starting a JVM."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from alignment_flywheel.errors import BrokerError
from alignment_flywheel.stack import artifacts, broker_files
from alignment_flywheel.stack.artifacts import (
    artifacts_ready,
    ensure_kafka_artifacts,
    java_major_version,
    kafka_version,
    libs_dir,
)
from alignment_flywheel.stack.broker_auth import local_secrets, scram_arguments
from alignment_flywheel.stack.broker_files import (
    BrokerLayout,
    broker_command,
    cluster_id,
    format_storage,
    new_cluster_id,
    render_server_properties,
    write_config_files,
)


def parse_properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key.strip(): value.strip() for key, value in pairs}


def test_server_properties_use_the_ports_and_the_data_dir(settings_factory):
    settings = settings_factory(local_broker_port=31001, local_controller_port=31002)
    layout = BrokerLayout.for_settings(settings)
    props = parse_properties(render_server_properties(settings, layout))
    assert props["listeners"] == "CLIENT://127.0.0.1:31001,CONTROLLER://127.0.0.1:31002"
    assert props["advertised.listeners"] == props["listeners"]
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:31002"
    assert props["log.dirs"] == str(settings.state_dir.resolve() / "kafka" / "data")
    assert props["process.roles"] == "broker,controller"
    assert props["listener.security.protocol.map"] == (
        "CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT"
    )
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
    ):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert "$" not in "".join(props.values())


def test_the_broker_authenticates_every_listener_and_authorizes_with_acls(settings_factory):
    settings = settings_factory()
    layout = BrokerLayout.for_settings(settings)
    props = parse_properties(render_server_properties(settings, layout))
    secrets = local_secrets(settings)
    assert props["authorizer.class.name"] == (
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == (
        "User:flywheel-admin;User:flywheel-broker;User:flywheel-controller"
    )
    assert props["listener.name.client.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert props["inter.broker.listener.name"] == "CLIENT"
    client_jaas = props["listener.name.client.scram-sha-512.sasl.jaas.config"]
    assert f'username="flywheel-broker" password="{secrets.broker.password}"' in client_jaas
    assert props["listener.name.controller.sasl.enabled.mechanisms"] == "PLAIN"
    assert props["sasl.mechanism.controller.protocol"] == "PLAIN"
    controller_jaas = props["listener.name.controller.plain.sasl.jaas.config"]
    assert f'user_flywheel-controller="{secrets.controller.password}"' in controller_jaas
    assert secrets.admin.password not in "".join(props.values())  # only the broker's own users


def test_the_storage_is_formatted_with_the_admin_and_broker_scram_users(settings_factory):
    secrets = local_secrets(settings_factory())
    arguments = scram_arguments(secrets)
    assert arguments == [
        "--add-scram",
        f"SCRAM-SHA-512=[name=flywheel-admin,password={secrets.admin.password}]",
        "--add-scram",
        f"SCRAM-SHA-512=[name=flywheel-broker,password={secrets.broker.password}]",
    ]


def test_the_server_properties_and_the_credentials_are_private(settings_factory):
    settings = settings_factory()
    layout = BrokerLayout.for_settings(settings)
    write_config_files(settings, layout)
    assert stat.S_IMODE(layout.server_properties.stat().st_mode) == 0o600
    assert stat.S_IMODE(layout.home.stat().st_mode) == 0o700
    credentials = layout.home / "credentials"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o700
    for name in ("admin", "broker", "controller"):
        assert stat.S_IMODE((credentials / f"{name}.json").stat().st_mode) == 0o600


def test_data_whose_super_users_credentials_were_deleted_is_refused(settings_factory):
    settings = settings_factory()
    layout = BrokerLayout.for_settings(settings)
    write_config_files(settings, layout)
    (layout.data_dir / "meta.properties").write_text("node.id=1\n")
    for name in ("admin", "broker"):
        (layout.home / "credentials" / f"{name}.json").unlink()
    with pytest.raises(BrokerError, match="formatted without the credentials of admin, broker"):
        write_config_files(settings, layout)


def test_data_formatted_before_access_control_is_set_aside_and_kept(settings_factory):
    settings = settings_factory()
    layout = BrokerLayout.for_settings(settings)
    layout.data_dir.mkdir(parents=True)
    (layout.data_dir / "meta.properties").write_text("node.id=1\n")
    write_config_files(settings, layout)
    assert not layout.formatted
    (kept,) = layout.home.glob("data.before-access-control-*")
    assert (kept / "meta.properties").read_text() == "node.id=1\n"


def test_config_files_are_written_under_the_state_dir(settings_factory):
    settings = settings_factory()
    layout = BrokerLayout.for_settings(settings)
    write_config_files(settings, layout)
    home = settings.state_dir.resolve() / "kafka"
    assert layout.home == home
    assert (home / "server.properties").is_file()
    assert "${sys:kafka.logs.dir}/server.log" in (home / "log4j2.properties").read_text()
    assert (home / "data").is_dir() and (home / "logs").is_dir()
    assert (layout.pid_file, layout.cluster_id_file) == (home / "broker.pid", home / "cluster.id")


def test_equal_broker_and_controller_ports_are_rejected(settings_factory):
    settings = settings_factory(local_broker_port=31005, local_controller_port=31005)
    with pytest.raises(BrokerError, match="both 31005"):
        write_config_files(settings, BrokerLayout.for_settings(settings))


def test_cluster_ids_are_16_urlsafe_bytes_never_starting_with_a_dash():
    ids = {new_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    for value in ids:
        assert len(value) == 22 and not value.startswith("-")
        assert len(base64.urlsafe_b64decode(value + "==")) == 16


def test_a_cluster_id_starting_with_a_dash_is_drawn_again(monkeypatch):
    draws = iter([b"\xf8" + bytes(15), bytes(16)])
    monkeypatch.setattr(broker_files.os, "urandom", lambda _n: next(draws))
    assert new_cluster_id() == "A" * 22


def test_cluster_id_is_kept_and_reused(tmp_path):
    layout = BrokerLayout(tmp_path)
    first = cluster_id(layout)
    assert (tmp_path / "cluster.id").read_text().strip() == first
    assert cluster_id(layout) == first


def test_broker_command_uses_the_heap_the_logging_config_and_the_libs(settings_factory, tmp_path):
    settings = settings_factory(local_broker_heap_mb=768)
    layout = BrokerLayout.for_settings(settings)
    command = broker_command("/usr/bin/java", tmp_path / "libs", layout, 768)
    assert command[0] == "/usr/bin/java"
    assert {"-Xmx768m", "-Xms768m", "-XX:+UseG1GC"} <= set(command)
    assert f"-Dlog4j2.configurationFile={layout.log4j2_properties}" in command
    assert f"-Dkafka.logs.dir={layout.logs_dir}" in command
    assert command[command.index("-cp") + 1] == f"{tmp_path / 'libs'}/*"
    assert command[-2:] == ["kafka.Kafka", str(layout.server_properties)]


def test_kafka_version_comes_from_the_pom(tmp_path):
    assert kafka_version() == "4.1.1"
    pom = tmp_path / "pom.xml"
    pom.write_text('<project xmlns="http://maven.apache.org/POM/4.0.0"><properties/></project>')
    with pytest.raises(BrokerError, match=r"has no <kafka\.version> property"):
        kafka_version(pom)
    with pytest.raises(BrokerError, match="cannot read the Kafka POM"):
        kafka_version(tmp_path / "missing.xml")


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ("no version here", None),
    ],
)
def test_java_major_version(output, major):
    assert java_major_version(output) == major


# --- artifact cache, with fake `java` and `mvn` on PATH ------------------------------------------


def fake_tool(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\nPATH=/usr/bin:/bin\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


FAKE_JAVA = "echo 'openjdk version \"17.0.2\" 2022-01-18' >&2\n"
JARS = [
    "kafka_2.13-4.1.1.jar",
    "kafka-clients-4.1.1.jar",
    "log4j-core-2.24.3.jar",
    "log4j-slf4j-impl-2.24.3.jar",
]


def fake_mvn_writing(jars: list[str]) -> str:
    touch = " ".join(f'"$out/{jar}"' for jar in jars)
    return (
        'for arg in "$@"; do case "$arg" in -DoutputDirectory=*) out="${arg#*=}";; esac; done\n'
        f'mkdir -p "$out" && touch {touch}\n'
    )


@pytest.fixture
def fake_path(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def test_fetch_copies_into_libs_and_writes_the_marker(settings_factory, tmp_path, fake_path):
    settings = settings_factory(cache_dir=tmp_path / "cache")
    fake_tool(fake_path, "java", FAKE_JAVA)
    fake_tool(fake_path, "mvn", fake_mvn_writing(JARS))
    libs = ensure_kafka_artifacts(settings)
    assert libs == tmp_path / "cache" / "kafka" / "4.1.1" / "libs"
    assert sorted(p.name for p in libs.iterdir()) == sorted(JARS)
    assert artifacts_ready(settings)
    home = libs.parent
    assert sorted(p.name for p in home.iterdir() if not p.name.startswith(".")) == [
        "libs",
        "libs.complete",
        "pom.xml",
    ]


def test_a_complete_cache_is_used_without_maven_or_java(settings_factory, tmp_path, fake_path):
    settings = settings_factory(cache_dir=tmp_path / "cache")
    libs = libs_dir(settings)
    libs.mkdir(parents=True)
    for jar in JARS:
        (libs / jar).touch()
    (libs.parent / "libs.complete").write_text("\n".join(JARS))
    assert ensure_kafka_artifacts(settings) == libs  # PATH has neither mvn nor java


def test_an_incomplete_cache_is_fetched_again(settings_factory, tmp_path, fake_path):
    settings = settings_factory(cache_dir=tmp_path / "cache")
    libs = libs_dir(settings)
    libs.mkdir(parents=True)
    (libs / JARS[0]).touch()
    (libs.parent / "libs.complete").write_text("\n".join(JARS))
    assert not artifacts_ready(settings)
    fake_tool(fake_path, "java", FAKE_JAVA)
    fake_tool(fake_path, "mvn", fake_mvn_writing(JARS))
    ensure_kafka_artifacts(settings)
    assert artifacts_ready(settings)


def test_failing_maven_reports_its_output_and_leaves_no_half_directory(
    settings_factory, tmp_path, fake_path
):
    settings = settings_factory(cache_dir=tmp_path / "cache")
    fake_tool(fake_path, "java", FAKE_JAVA)
    fake_tool(
        fake_path,
        "mvn",
        fake_mvn_writing(JARS[:1]) + "echo '[ERROR] Could not resolve org.apache.kafka'\nexit 1\n",
    )
    with pytest.raises(BrokerError, match=r"(?s)Maven failed \(exit 1\).*Could not resolve"):
        ensure_kafka_artifacts(settings)
    home = libs_dir(settings).parent
    assert [p.name for p in home.iterdir() if not p.name.startswith(".")] == ["pom.xml"]


def test_maven_output_without_the_broker_jars_is_rejected(settings_factory, tmp_path, fake_path):
    settings = settings_factory(cache_dir=tmp_path / "cache")
    fake_tool(fake_path, "java", FAKE_JAVA)
    fake_tool(fake_path, "mvn", fake_mvn_writing(JARS[1:]))
    with pytest.raises(BrokerError, match=r"lacks kafka_<scala>-4.1.1.jar"):
        ensure_kafka_artifacts(settings)
    assert not libs_dir(settings).exists()


def test_missing_java_or_maven_is_a_clear_error(settings_factory, tmp_path, fake_path):
    settings = settings_factory(cache_dir=tmp_path / "cache")
    with pytest.raises(BrokerError, match="`java` was not found on PATH"):
        ensure_kafka_artifacts(settings)
    fake_tool(fake_path, "java", FAKE_JAVA)
    with pytest.raises(BrokerError, match="`mvn` was not found on PATH"):
        ensure_kafka_artifacts(settings)


def test_too_old_java_is_rejected(fake_path):
    fake_tool(fake_path, "java", "echo 'java version \"1.8.0_392\"' >&2\n")
    with pytest.raises(BrokerError, match="needs Java 17"):
        artifacts.java_executable()


def test_the_repository_holds_no_jars():
    repo = Path(__file__).resolve().parents[2]
    tracked = [p for p in (repo / "infra").rglob("*.jar")]
    assert tracked == []
    assert not (repo / "infra" / "kafka" / "target").exists()
    assert os.path.isfile(repo / "infra" / "kafka" / "pom.xml")


def test_the_storage_tool_reads_the_passwords_from_a_private_argument_file(
    settings_factory, tmp_path, fake_path
):
    settings = settings_factory()
    layout = BrokerLayout.for_settings(settings)
    write_config_files(settings, layout)
    seen = tmp_path / "seen"
    seen.mkdir()
    fake_tool(
        fake_path,
        "java",
        f'for a in "$@"; do echo "$a" >> {seen}/args; case "$a" in @*)\n'
        f'  cat "${{a#@}}" > {seen}/file; stat -c %a "${{a#@}}" > {seen}/mode;; esac; done\n',
    )
    format_storage(str(fake_path / "java"), tmp_path / "libs", layout, settings)
    secrets = local_secrets(settings)
    assert secrets.admin.password not in (seen / "args").read_text()
    argfile = (seen / "file").read_text()
    assert f'"SCRAM-SHA-512=[name=flywheel-admin,password={secrets.admin.password}]"' in argfile
    assert argfile.startswith('"kafka.tools.StorageTool" "format" "--standalone"')
    assert (seen / "mode").read_text().strip() == "600"
    assert not (layout.home / "format.args").exists()
