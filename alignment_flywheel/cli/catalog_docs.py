"""The event catalog (``docs/events.md``), rendered from the Avro contract and the topic catalog.

Rules:

* The page is a pure function of ``schemas/`` and ``infra/topics.yaml``: the same inputs always
  give the same text, so ``flywheel schemas docs --check`` (and a unit test) can tell whether the
  committed page is current.
* Every event of the contract gets a section: its doc, the topic that carries it (from the topic
  catalog), its Kafka key (:data:`EVENT_KEYS`), its current version and the CRC-64-AVRO
  fingerprint framed on the wire, and one row per field (name, type, default, doc).
* Shared types (records such as ``Envelope`` and every enum) get a section of their own; a field
  of such a type links to it.
* An event without a key description, or carried by no topic, is an error
  (:class:`~alignment_flywheel.errors.SchemaError`), never a silent gap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alignment_flywheel.codec.repository import NAMESPACE, SchemaRepository, short_name
from alignment_flywheel.errors import CatalogError, SchemaError
from alignment_flywheel.kafka.catalog import Catalog, load_catalog
from alignment_flywheel.resources import SCHEMAS_DIR

EVENT_KEYS: dict[str, str] = {
    "ProposalSubmitted": "`proposal_id`; partition: the session's (see [Partitions](#partitions))",
    "VerdictIssued": (
        "`proposal_id` of the proposal decided; partition: the session's, the number of its "
        "proposal's (see [Partitions](#partitions))"
    ),
    "ReviewRequested": (
        "`proposal_id` of the escalated proposal; partition: the session's (see "
        "[Partitions](#partitions))"
    ),
    "ReviewDecided": "`proposal_id` of the escalated proposal",
    "IncidentReported": "`incident_id`",
    "FindingRaised": "`finding_id`",
    "VerificationRecorded": "`finding_id` of the finding verified",
    "DriftDetected": "`subject`: the proposer id, tool or oracle version that drifted",
    "ClusterUpdated": "`cluster_id` (compacted: the latest event is the cluster's state)",
    "PatchProposed": "`patch_id`",
    "PatchApproved": "`patch_id` of the patch signed",
    "PatchRejected": "`patch_id` of the patch refused",
    "ReleaseStaged": "`patch_id` of the released patch",
    "ReleasePromoted": "`release_id`",
    "ReleaseRolledBack": "`release_id`",
    "TrustRootPublished": '`"root"` (compacted: the latest event is the trust root in force)',
    "LedgerCheckpoint": "the log id `<topic>/<partition>` the checkpoint signs",
    "DeadLettered": "the source position `<topic>/<partition>/<offset>`",
    "SessionStarted": (
        "`session_id`; partition: the session's, with its proposals (see [Partitions](#partitions))"
    ),
    "ToolResultObserved": (
        "`session_id` of the session the output was observed in; partition: the session's (see "
        "[Partitions](#partitions))"
    ),
}
"""The Kafka key (``envelope.key``) each event is produced with, as its producers set it."""

HEADER = """\
# Event catalog

<!-- This page is rendered from schemas/ and infra/topics.yaml by `flywheel schemas docs`;
     edit those files and run `./dev flywheel schemas docs` instead of editing it. -->

Every fact of the platform is one of these Avro records on a Kafka topic. Each record starts with
the [`Envelope`](#envelope); the envelope's `key` is the Kafka message key, so every event about
one subject lands on one partition, in order. On the wire an event is `C3 01`, the 8-byte
little-endian CRC-64-AVRO fingerprint of its writer schema (shown below as hex, in wire order),
then the Avro binary body (see [schemas/README.md](../schemas/README.md) for framing and the
evolution rules). A reader accepts every kept version.

A type `T?` is the union `["null", T]`; a default of `—` means the field is required.

## Partitions

The records of one agent session share one partition number. Producers of `ProposalSubmitted`,
`SessionStarted`, `ToolResultObserved`, `VerdictIssued` and `ReviewRequested` keep the key shown
for each event but choose the partition themselves, by the **session key**: the UTF-8 bytes of
the proposer id, a zero byte (`0x00`) and the session id. The partition is Kafka's default
partitioner over it, as the Java client computes it:
`(murmur2(session key) & 0x7fffffff) % partitions` (`Utils.toPositive(Utils.murmur2(bytes))`),
`partitions` being the topic's partition count, read from the cluster's metadata. The gate sends
each verdict and review request to the partition with the number of its proposal's partition when
the topic has as many partitions as the proposals topic, else to the session key's. So the gate
folds a session's events on the partition that holds its proposals, and a proposal and its
verdicts share a partition number (`flywheel.proposals` and `flywheel.verdicts` have as many).
A producer that places session events otherwise leaves the gate without them: it decides those
proposals in an empty context (provenance `none`), stricter, never looser. See
[ingest.md](ingest.md) for producers outside the project.

## Event ids, duplicates and transactions

What a role emits for an input carries an `event_id` derived from that input, not drawn at
random: `uuid5` of the input's id (the proposal id, the incident id, a record's
topic/partition/offset...) and the kind of output (`verdict`, `shadow-verdict`, `review`,
`dead-letter`, `finding`, `staged`, `approval`, `checkpoint`), or an id of its own that is derived
the same way (decision, review, finding, drift, cluster update, patch and release ids). An output
emitted again for the same input (a worker that crashed before committing its input offset)
therefore has the same `event_id`, so a consumer that drops duplicates by `event_id` keeps one.
The gate also derives the time: a verdict's `occurred_at` is its proposal record's timestamp, and
a review's deadline follows from it; so a verdict decided twice is byte for byte the same but for
`latency_us`, a measurement. Producers that decide in process (the SDK, HTTP) draw their ids.

The gate writes its verdicts, review requests and dead letters in **Kafka transactions**, together
with the offsets of the proposals they answer: a consumer that reads `read_committed` sees exactly
one `VerdictIssued` per proposal (and one shadow verdict per proposal during a rollout), whatever
crashed; a `read_uncommitted` consumer can also see the records of aborted transactions. Every
consumer of the project reads `read_committed` (confluent-kafka's `isolation.level`, aiokafka's
`isolation_level` for the faust workers), and every bounded read stops at a partition's last stable
offset, not its high watermark. Records of one transaction reach a `read_committed` consumer only
once the transaction commits; a worker killed mid-transaction holds back its partitions' readers
until the broker aborts it (`transaction.timeout.ms`, 10 s for the gate).
"""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _anchor(fullname: str) -> str:
    return short_name(fullname).lower()


def type_text(node: Any) -> str:
    """A field type as markdown: primitives by name, named types as links to their section."""
    if isinstance(node, str):
        return _name_text(node)
    if isinstance(node, list):
        others = [branch for branch in node if branch != "null"]
        if len(others) == 1 and len(node) == 2:
            return f"{type_text(others[0])}?"
        return " \\| ".join(type_text(branch) for branch in node)
    if isinstance(node, dict):
        return _complex_text(node)
    raise SchemaError(f"cannot describe the Avro type {node!r}")


def _name_text(name: str) -> str:
    if "." in name or name[:1].isupper():
        return f"[{short_name(name)}](#{_anchor(name)})"
    return f"`{name}`"


def _complex_text(node: dict[str, Any]) -> str:
    kind = node.get("type")
    if node.get("logicalType"):
        text = f"`{node['logicalType']}`"
    elif kind == "array":
        text = f"array of {type_text(node['items'])}"
    elif kind == "map":
        text = f"map of {type_text(node['values'])}"
    elif kind in ("record", "enum", "fixed"):
        text = _name_text(_fullname(node))
    else:
        text = type_text(kind)
    return text


def _fullname(node: dict[str, Any]) -> str:
    name = str(node["name"])
    return name if "." in name else f"{node.get('namespace', NAMESPACE)}.{name}"


def _default_text(field: dict[str, Any]) -> str:
    if "default" not in field:
        return "—"
    return f"`{json.dumps(field['default'], ensure_ascii=False)}`"


def field_table(fields: list[dict[str, Any]]) -> list[str]:
    """The markdown table of a record's fields."""
    lines = ["| field | type | default | doc |", "|---|---|---|---|"]
    for field in fields:
        lines.append(
            f"| `{field['name']}` | {type_text(field['type'])} | {_default_text(field)} "
            f"| {_cell(str(field.get('doc', '')))} |"
        )
    return lines


def _read_sources(schemas_dir: Path) -> dict[str, dict[str, Any]]:
    sources: dict[str, dict[str, Any]] = {}
    for path in sorted(schemas_dir.glob("*.avsc")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SchemaError(f"{path}: cannot read JSON: {exc}") from exc
        sources[short_name(_fullname(raw))] = raw
    return sources


def _topic_line(event: str, catalog: Catalog) -> str:
    try:
        name = catalog.topic_for(event)
    except CatalogError as exc:
        raise SchemaError(f"{event} is carried by no topic of the catalog: {exc}") from exc
    topic = catalog.topic(name)
    return f"`{name}` ({topic.kind.value}, {topic.partitions} partition(s))"


def _version_line(repository: SchemaRepository, event: str) -> str:
    current = repository.current(event)
    kept = len(repository.history(event))
    if current.version is None:
        state = f"current source, not frozen yet ({kept} released version(s) kept)"
    else:
        state = f"v{current.version} ({kept} version(s) kept)"
    return f"{state}, fingerprint `{current.fingerprint.hex()}`"


def event_section(
    event: str, raw: dict[str, Any], repository: SchemaRepository, catalog: Catalog
) -> list[str]:
    """The section of one event: doc, topic, key, version, fingerprint, fields."""
    key = EVENT_KEYS.get(event)
    if key is None:
        raise SchemaError(f"{event} has no key description in catalog_docs.EVENT_KEYS")
    return [
        f"### {event}",
        "",
        _cell(str(raw.get("doc", ""))),
        "",
        f"- topic: {_topic_line(event, catalog)}",
        f"- key: {key}",
        f"- version: {_version_line(repository, event)}",
        "",
        *field_table(raw["fields"]),
        "",
    ]


def shared_section(name: str, raw: dict[str, Any]) -> list[str]:
    """The section of a shared record or enum."""
    lines = [f"### {name}", "", _cell(str(raw.get("doc", ""))), ""]
    if raw.get("type") == "enum":
        symbols = ", ".join(f"`{symbol}`" for symbol in raw["symbols"])
        default = raw.get("default")
        lines.append(f"Enum: {symbols}.")
        if default is not None:
            lines.append(f"Readers that meet an unknown symbol read `{default}`.")
        return [*lines, ""]
    return [*lines, *field_table(raw["fields"]), ""]


def _topics_table(catalog: Catalog) -> list[str]:
    lines = ["| topic | kind | partitions | events | description |", "|---|---|---|---|---|"]
    for topic in catalog.topics:
        events = ", ".join(f"[{e}](#{e.lower()})" for e in topic.events) or "—"
        lines.append(
            f"| `{topic.name}` | {topic.kind.value} | {topic.partitions} | {events} "
            f"| {_cell(topic.description)} |"
        )
    return lines


def _event_order(repository: SchemaRepository, catalog: Catalog) -> list[str]:
    ordered = [e for topic in catalog.topics for e in topic.events if e in repository.events]
    return ordered + [e for e in repository.events if e not in ordered]


def render_catalog(schemas_dir: Path = SCHEMAS_DIR, catalog: Catalog | None = None) -> str:
    """The whole event catalog page as markdown."""
    catalog = catalog or load_catalog()
    repository = SchemaRepository(schemas_dir)
    sources = _read_sources(schemas_dir)
    events = _event_order(repository, catalog)
    lines = [HEADER, "## Topics", "", *_topics_table(catalog), "", "## Events", ""]
    for event in events:
        lines.extend(event_section(event, sources[event], repository, catalog))
    lines.extend(["## Shared types", ""])
    for name in sorted(set(sources) - set(events)):
        lines.extend(shared_section(name, sources[name]))
    return "\n".join(lines).rstrip("\n") + "\n"
