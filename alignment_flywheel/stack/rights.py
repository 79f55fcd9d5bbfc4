"""Who may write and read what, from the topic catalog: the table of docs/operations.md.

Rules: one row per role, in catalog order: its principal, the topics it writes, the topics it
reads, and its consumer group, internal topic and transactional id prefixes (``*`` marks a
prefix). Topic names are shown without the common ``flywheel.`` prefix. :func:`rights_markdown`
is what ``flywheel topics rights --markdown`` prints; a unit test keeps docs/operations.md equal
to it.
"""

from __future__ import annotations

from alignment_flywheel.kafka.catalog import READER_GROUP_PREFIX, Catalog

HEADER = ("role", "principal", "writes", "reads", "groups, internal topics")
TOPIC_PREFIX = "flywheel."


def rights_rows(catalog: Catalog) -> list[tuple[str, str, str, str, str]]:
    """(role, principal, writes, reads, groups and internal topics) of every role."""
    rows = []
    for role, spec in catalog.roles.items():
        writes = [_short(t.name) for t in catalog.topics if role in t.writers]
        reads = [_short(t.name) for t in catalog.topics if role in t.readers]
        groups = [f"{prefix}*" for prefix in spec.group_prefixes]
        if reads:
            groups.append(f"{READER_GROUP_PREFIX}*")
        owned = f"groups {', '.join(groups)}" if groups else "-"
        if spec.app_id:
            owned += f"; topics {spec.app_id}*"
        if spec.transactional_ids:
            prefixes = ", ".join(f"{prefix}*" for prefix in spec.transactional_ids)
            owned += f"; transactional ids {prefixes} (and idempotent writes)"
        principal = catalog.principal_of(role)
        rows.append((role, principal, ", ".join(writes) or "-", ", ".join(reads) or "-", owned))
    return rows


def rights_markdown(catalog: Catalog) -> str:
    """The rights table in Markdown (code spans for names)."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for role, principal, writes, reads, owned in rights_rows(catalog):
        cells = (f"`{role}`", f"`{principal}`", writes, reads, owned)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _short(name: str) -> str:
    return name.removeprefix(TOPIC_PREFIX)
