"""The ledger worker and `flywheel audit verify` on the real broker: signed checkpoints, a restart,
and every kind of tampering found in a copied topic with its position."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from alignment_flywheel.audit.ledger import ENTRY_SIZE, LeafStore, signed_checkpoint
from alignment_flywheel.audit.source import read_checkpoints, read_partition
from alignment_flywheel.cli.main import app
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import Event, LedgerCheckpoint
from alignment_flywheel.kafka.clients import admin_client
from alignment_flywheel.kafka.credentials import connection_env
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.patches.keys import KeyStore
from tests.support.governance import verdict
from tests.support.oracles import proposal
from tests.support.workers import read_until, start_cli_worker, stop_worker


def _produce(settings: Settings, codec: EventCodec, topic: str, count: int) -> None:
    with EventProducer(settings, codec) as producer:
        for i in range(count):
            producer.send(topic, verdict(proposal(arguments={"cmd": f"ls /srv/{i}"})))


def _copy(settings: Settings, topic: str, values: list[bytes | None]) -> None:
    with EventProducer(settings, EventCodec.from_settings(settings)) as producer:
        for value in values:
            producer.send_bytes(topic, b"copy", value)


def _signed(log_id: str, size: int) -> Callable[[list[Event]], bool]:
    def done(events: list[Event]) -> bool:
        return any(
            isinstance(e, LedgerCheckpoint) and e.log_id == log_id and e.tree_size == size
            for e in events
        )

    return done


def _run_until(
    settings: Settings,
    args: list[str],
    state: Path,
    log_path: Path,
    ledger: str,
    *logs: tuple[str, int],
) -> list[LedgerCheckpoint]:
    """Run the ledger worker until it signed each (log id, size), stop it; its checkpoints."""
    codec = EventCodec.from_settings(settings)
    worker = start_cli_worker(settings, args, state, log_path)
    try:
        events = [read_until(settings, codec, ledger, _signed(*log)) for log in logs][-1]
    finally:
        assert stop_worker(worker) == 0, log_path.read_text()
    return [e for e in events if isinstance(e, LedgerCheckpoint)]


def _verifier(settings: Settings, state: Path, ledger: str) -> Callable[..., dict[str, Any]]:
    env = {
        **connection_env(settings),
        "FLYWHEEL_STATE_DIR": str(state),
        "COLUMNS": "250",
    }
    runner = CliRunner()

    def verify(*extra: str, code: int = 0, human: bool = False) -> dict[str, Any]:
        output = [] if human else ["--json"]
        command = ["audit", "verify", "--ledger-topic", ledger, *output, *extra]
        result = runner.invoke(app, command, env=env)
        assert result.exit_code == code, result.output
        parsed: dict[str, Any] = {"text": result.output} if human else json.loads(result.stdout)
        return parsed

    return verify


def _check_copies(
    settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    verify: Callable[..., dict[str, Any]],
    verdicts: str,
) -> None:
    """Copies of ``verdicts`` with one change each, checked against the original's log."""
    original = [value for _, value in read_partition(settings, verdicts, 0)]
    assert len(original) == 15
    altered = list(original)
    altered[2] = (altered[2] or b"") + b"\x00"
    swapped = list(original)
    swapped[8], swapped[9] = swapped[9], swapped[8]
    cases = {
        "altered": (altered, ("altered", 2)),
        "deleted": (original[:5] + original[6:], ("deleted", 5)),
        "reordered": (swapped, ("reordered", 8)),
        "inserted": ([*original[:11], b"smuggled", *original[11:]], ("inserted", 11)),
    }
    for name, (values, expected) in cases.items():
        copy = make_topic(unique_name(f"tampered-{name}"))
        _copy(settings, copy, values)
        found = verify("--topic", copy, "--partition", "0", "--log-id", f"{verdicts}/0", code=4)
        findings = found["logs"][0]["findings"]
        assert [(f["kind"], f["position"]) for f in findings] == [expected], name
        blind = verify(
            "--topic", copy, "--partition", "0", "--log-id", f"{verdicts}/0", "--no-store", code=4
        )
        assert blind["logs"][0]["findings"][0]["kind"] == "mismatch"
    shown = verify(
        "--topic", copy, "--partition", "0", "--log-id", f"{verdicts}/0", code=4, human=True
    )["text"]
    assert "TAMPERED" in shown
    assert "inserted" in shown


def _check_ledger_damage(
    settings: Settings, verify: Callable[..., dict[str, Any]], ledger: str, patches: str
) -> None:
    """A record on the ledger topic that is not a checkpoint, and a checkpoint by another key."""
    _copy(settings, ledger, [b"garbage"])
    damaged = verify("--topic", patches, code=4)
    assert [e["partition"] for e in damaged["ledger_corrupt"]] == [0]
    assert damaged["logs"][0]["ok"]
    forged = signed_checkpoint(
        Ed25519PrivateKey.generate(),
        producer="mallory",
        log_id=f"{patches}/0",
        tree_size=5,
        root=bytes(32),
        first_offset=0,
        last_offset=4,
    )
    with EventProducer(settings, EventCodec.from_settings(settings)) as producer:
        producer.send(ledger, forged)
    refused = verify("--topic", patches, code=4, human=True)["text"]
    assert "is not trusted or the signature is invalid" in refused
    # set aside, the other key's checkpoint no longer stops the check (the garbage record still
    # counts as tampering); one that names the trusted key with a bad signature still does
    aside = verify("--topic", patches, "--set-aside-other-keys", code=4)
    assert aside["set_aside"] == 1 and aside["logs"][0]["ok"]
    codec = EventCodec.from_settings(settings)
    stored, _ = read_checkpoints(settings, codec, ledger)
    trusted_id = next(c.key_id for c in stored if c.key_id != forged.key_id)
    impostor = forged.model_copy(update={"key_id": trusted_id})
    with EventProducer(settings, codec) as producer:
        producer.send(ledger, impostor)
    still = verify("--topic", patches, "--set-aside-other-keys", code=4, human=True)["text"]
    assert "signature is invalid" in still


def test_the_ledger_signs_resumes_and_verify_finds_every_tampering(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    codec = EventCodec.from_settings(kafka_settings)
    verdicts, patches = make_topic(unique_name("verdicts")), make_topic(unique_name("patches"))
    ledger, quiet = make_topic(unique_name("ledger")), make_topic(unique_name("quiet"), 2)
    state = tmp_path / "state"
    KeyStore(state / "keys").new("ledger")
    args = [
        "ledger",
        "run",
        "--topic",
        verdicts,
        "--topic",
        patches,
        "--topic",
        quiet,
        "--ledger-topic",
        ledger,
        "--every",
        "5",
        "--interval-ms",
        "300",
    ]
    log_path = tmp_path / "ledger.log"

    _produce(kafka_settings, codec, verdicts, 12)
    _produce(kafka_settings, codec, patches, 3)
    _copy(kafka_settings, patches, [b"not avro", None])
    _run_until(
        kafka_settings, args, state, log_path, ledger, (f"{verdicts}/0", 12), (f"{patches}/0", 5)
    )
    _produce(kafka_settings, codec, verdicts, 3)
    events = _run_until(kafka_settings, args, state, log_path, ledger, (f"{verdicts}/0", 15))
    heads = [e for e in events if e.log_id == f"{verdicts}/0"]
    assert len({(h.tree_size, h.root_hash) for h in heads}) == len({h.tree_size for h in heads})
    assert max(h.tree_size for h in heads) == 15
    verify = _verifier(kafka_settings, state, ledger)

    # The untouched topics verify, with proofs.
    sizes = sorted(h.tree_size for h in heads)
    clean = verify("--topic", verdicts, "--proof", "3", "--consistency", str(sizes[0]), "15")
    assert clean["ok"] and clean["logs"][0]["signed_size"] == 15
    assert clean["logs"][0]["inclusion"]["verified"]
    assert clean["logs"][0]["consistency"]["verified"]
    [(_, first)] = read_partition(kafka_settings, verdicts, 0, to_offset=0)
    by_id = verify(
        "--topic", verdicts, "--proof", str(codec.decode(first or b"").envelope.event_id)
    )
    assert (
        by_id["logs"][0]["inclusion"]["position"],
        by_id["logs"][0]["inclusion"]["verified"],
    ) == (0, True)
    assert verify("--topic", patches)["logs"][0]["signed_size"] == 5
    empty = verify("--topic", quiet)["logs"]
    assert [(log["log_id"], log["records"], log["ok"]) for log in empty] == [
        (f"{quiet}/0", 0, True),
        (f"{quiet}/1", 0, True),
    ]

    _check_copies(kafka_settings, make_topic, unique_name, verify, verdicts)

    # A corrupt entry of the leaf store is found, with its position.
    path = LeafStore(state / "ledger").path(f"{verdicts}/0")
    data = bytearray(path.read_bytes())
    data[4 * ENTRY_SIZE + 20] ^= 0xFF
    path.write_bytes(bytes(data))
    corrupt = verify("--topic", verdicts, code=4)["logs"][0]["findings"]
    assert [(f["source"], f["kind"], f["position"]) for f in corrupt] == [("ledger", "altered", 4)]

    _check_ledger_damage(kafka_settings, verify, ledger, patches)


def test_a_lost_leaf_store_is_rebuilt_from_the_topic_and_checked_against_the_checkpoints(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    codec = EventCodec.from_settings(kafka_settings)
    verdicts, ledger = make_topic(unique_name("verdicts")), make_topic(unique_name("ledger"))
    state = tmp_path / "state"
    KeyStore(state / "keys").new("ledger")
    args = [
        "ledger",
        "run",
        "--topic",
        verdicts,
        "--ledger-topic",
        ledger,
        "--every",
        "4",
        "--interval-ms",
        "200",
    ]
    log_id = f"{verdicts}/0"
    _produce(kafka_settings, codec, verdicts, 8)
    _run_until(kafka_settings, args, state, tmp_path / "a.log", ledger, (log_id, 8))

    LeafStore(state / "ledger").path(log_id).unlink()
    _produce(kafka_settings, codec, verdicts, 2)
    heads = _run_until(kafka_settings, args, state, tmp_path / "b.log", ledger, (log_id, 10))

    assert len(LeafStore(state / "ledger").load(log_id)) == 10
    by_size: dict[int, set[str]] = {}
    for head in heads:
        by_size.setdefault(head.tree_size, set()).add(head.root_hash)
    assert all(len(roots) == 1 for roots in by_size.values())
    verify = _verifier(kafka_settings, state, ledger)
    assert verify("--topic", verdicts)["ok"]

    # Retention removes the oldest records: the rest is checked against the store.
    admin = admin_client(kafka_settings)
    for future in admin.delete_records([TopicPartition(verdicts, 0, 3)]).values():
        future.result(timeout=30)
    after = verify("--topic", verdicts)["logs"][0]
    assert (after["ok"], after["earlier"], after["records"]) == (True, 3, 7)
