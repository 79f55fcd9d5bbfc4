"""`flywheel audit`: the verifier of the tamper-evident ledger (``flywheel ledger run``).

``audit verify`` re-reads a
topic range and checks it against the signed checkpoints (see
:mod:`alignment_flywheel.audit.verify` for the order of the checks); ``--proof`` and
``--consistency`` print RFC 9162 proofs. Exit codes (docs/operations.md): 0 verified; 4, a
security failure: tampering found, a proof that does not verify, or a checkpoint signature that
is not trusted; 3 the broker did not answer; 1 or 2 any other error.
``--set-aside-other-keys`` skips (and counts) checkpoints whose key id is not trusted.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.console import Console
from rich.table import Table

from alignment_flywheel.audit.ledger import LeafStore, leaf_of, log_id_for
from alignment_flywheel.audit.proofs import InclusionProof, consistency, inclusion, position_of
from alignment_flywheel.audit.source import (
    is_compacted,
    read_checkpoints,
    read_partition,
    topic_partitions,
)
from alignment_flywheel.audit.verify import LogReport, Record, checked_chain, verify_log
from alignment_flywheel.cli.context import cli_context, reports_errors
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.errors import CodecError, InvalidInputError
from alignment_flywheel.events import LedgerCheckpoint
from alignment_flywheel.patches.keys import KeyStore
from alignment_flywheel.patches.signing import key_id
from alignment_flywheel.processors.ledger import (
    LedgerTopics,
)

app = typer.Typer(
    help="Audit ledger: signed Merkle logs of verdicts and governance events.", no_args_is_help=True
)
TAMPERED_EXIT = 4
DEFAULT_KEY = "ledger"
LEDGER_TOPIC = LedgerTopics().ledger


@app.command("verify")
@reports_errors
def verify(
    ctx: typer.Context,
    *,
    topic: Annotated[str, typer.Option("--topic", help="The topic to re-read.")],
    partition: Annotated[int | None, typer.Option("--partition")] = None,
    from_offset: Annotated[int | None, typer.Option("--from-offset", min=0)] = None,
    to_offset: Annotated[int | None, typer.Option("--to-offset", min=0)] = None,
    proof: Annotated[
        str | None, typer.Option("--proof", help="Inclusion proof for an event id or offset.")
    ] = None,
    sizes: Annotated[
        tuple[int, int] | None,
        typer.Option("--consistency", help="Consistency proof between two checkpoint sizes."),
    ] = None,
    log_id: Annotated[
        str | None, typer.Option("--log-id", help="Verify against this log (default topic/P).")
    ] = None,
    ledger_topic: Annotated[str, typer.Option("--ledger-topic")] = LEDGER_TOPIC,
    keys: Annotated[list[str] | None, typer.Option("--key", help="Trusted key (repeat).")] = None,
    set_aside: Annotated[
        bool,
        typer.Option(
            "--set-aside-other-keys",
            help="Skip checkpoints by keys not trusted here (counted), e.g. an old ledger key's.",
        ),
    ] = False,
    store: Annotated[Path | None, typer.Option("--store", help="Leaf store directory.")] = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="Ignore the leaf store.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check a topic range against the signed checkpoints; exit 4 if anything was changed."""
    settings = cli_context(ctx).settings
    codec = EventCodec.from_settings(settings)
    trusted = _trusted(settings, keys or [DEFAULT_KEY])
    checkpoints, corrupt = read_checkpoints(settings, codec, ledger_topic)
    # by key id only: a checkpoint naming a trusted key with a bad signature is still refused
    others = [c for c in checkpoints if set_aside and c.key_id not in trusted]
    checkpoints = [c for c in checkpoints if not set_aside or c.key_id in trusted]
    leaf_store = None if no_store else LeafStore(store or settings.state_dir / "ledger")
    request = _Request(
        trusted,
        checkpoints,
        leaf_store,
        is_compacted(settings, topic),
        from_offset,
        to_offset,
        proof,
        sizes,
    )
    results = []
    for part in _partitions(settings, topic, partition, log_id):
        name = log_id or log_id_for(topic, part)
        results.append(
            _verify_partition(settings, codec, request, topic=topic, part=part, name=name)
        )
    ledger_problems = [asdict(entry) for entry in corrupt]
    _print(cli_context(ctx).console, results, ledger_problems, as_json, len(others))
    if ledger_problems or not all(_passed(r) for r in results):
        raise typer.Exit(TAMPERED_EXIT)


@dataclass(frozen=True)
class _Request:
    trusted: dict[str, Ed25519PublicKey]
    checkpoints: list[LedgerCheckpoint]
    store: LeafStore | None
    compacted: bool
    from_offset: int | None
    to_offset: int | None
    proof: str | None
    sizes: tuple[int, int] | None


def _verify_partition(
    settings: Settings, codec: EventCodec, request: _Request, *, topic: str, part: int, name: str
) -> dict[str, Any]:
    records = read_partition(
        settings, topic, part, from_offset=request.from_offset, to_offset=request.to_offset
    )
    if not records and not any(c.log_id == name for c in request.checkpoints):
        return {
            **asdict(LogReport(name, 0, 0, 0, 0)),
            "ok": True,
        }  # nothing written, nothing signed
    store = request.store
    stored = store.load(name) if store is not None and store.path(name).exists() else None
    chain = checked_chain(name, request.checkpoints, request.trusted)
    first = chain[0].first_offset
    from_first = (request.from_offset is None or request.from_offset <= first) and (
        not records or records[0][0] <= first  # later: retention removed the oldest records
    )
    report = verify_log(
        name,
        records,
        chain,
        request.trusted,
        stored=stored,
        from_first_offset=from_first,
        compacted_topic=request.compacted,
    )
    result: dict[str, Any] = {**asdict(report), "ok": report.ok}
    if request.proof is not None:
        if not from_first:
            raise InvalidInputError("--proof needs the range to start at the log's first offset")
        result["inclusion"] = asdict(_inclusion(codec, name, records, chain, request.proof))
    if request.sizes is not None:
        size2 = request.sizes[1]
        reference = stored if stored is not None and len(stored) >= size2 else None
        leaves = reference or [leaf_of(o, v) for o, v in records]
        result["consistency"] = asdict(consistency(name, leaves, chain, *request.sizes))
    return result


def _trusted(settings: Settings, names: list[str]) -> dict[str, Ed25519PublicKey]:
    keys = KeyStore(settings.effective_keys_dir)
    publics = [keys.public(name) for name in names]
    return {key_id(public): public for public in publics}


def _partitions(
    settings: Settings, topic: str, partition: int | None, log: str | None
) -> list[int]:
    if partition is not None:
        return [partition]
    if log is not None:
        raise InvalidInputError("--log-id needs --partition (one log is one partition)")
    return topic_partitions(settings, topic)


def _inclusion(
    codec: EventCodec,
    name: str,
    records: list[Record],
    chain: Sequence[LedgerCheckpoint],
    wanted: str,
) -> InclusionProof:
    leaves = [leaf_of(o, v) for o, v in records]
    if wanted.isdigit():
        return inclusion(name, leaves, position_of(leaves, int(wanted)), chain)
    try:
        event_id = uuid.UUID(wanted)
    except ValueError:
        raise InvalidInputError(
            f"--proof {wanted!r} is neither an offset nor an event id"
        ) from None
    for position, (_offset, value) in enumerate(records):
        try:
            found = value is not None and codec.decode(value).envelope.event_id == event_id
        except CodecError:
            continue
        if found:
            return inclusion(name, leaves, position, chain)
    raise InvalidInputError(f"no event {event_id} in the range read")


def _passed(result: dict[str, Any]) -> bool:
    proofs = [result.get("inclusion"), result.get("consistency")]
    return bool(result["ok"]) and all(p is None or p["verified"] for p in proofs)


def _print(
    console: Console,
    results: list[dict[str, Any]],
    corrupt: list[dict[str, Any]],
    as_json: bool,
    set_aside: int,
) -> None:
    if as_json:
        ok = not corrupt and all(_passed(r) for r in results)
        document = {"ok": ok, "logs": results, "ledger_corrupt": corrupt, "set_aside": set_aside}
        console.print_json(json.dumps(document, default=str))
        return
    if set_aside:
        console.print(f"{set_aside} checkpoint(s) signed by keys not trusted here set aside")
    for entry in corrupt:
        console.print(f"[bold red]corrupt ledger record[/] {entry}")
    for r in results:
        state = "[green]verified[/]" if _passed(r) else "[bold red]TAMPERED[/]"
        console.print(
            f"{r['log_id']}: {state} - {r['records']} records, {r['checkpoints']} checkpoints, "
            f"signed size {r['signed_size']}, {r['unchecked']} not yet signed, "
            f"{r['earlier']} before the range, {r['compacted']} compacted away"
        )
        if r["findings"]:
            table = Table("kind", "position", "offset", "observed offset", "source", "detail")
            for f in r["findings"]:
                table.add_row(
                    str(f["kind"]),
                    str(f["position"]),
                    str(f["offset"]),
                    str(f["observed_offset"]),
                    f["source"],
                    f["detail"],
                )
            console.print(table)
        for kind in ("inclusion", "consistency"):
            if kind in r:
                console.print(f"{kind} proof: {'verified' if r[kind]['verified'] else 'FAILED'}")
                console.print_json(json.dumps(r[kind]))
