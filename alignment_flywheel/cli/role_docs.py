"""The role graph and table of ``docs/architecture.md``, rendered from the role registry and the
topic catalog.

Rules:

* The rendered block is a pure function of :mod:`alignment_flywheel.roles` and
  ``infra/topics.yaml``; it sits in the page between :data:`BEGIN` and :data:`END`, and
  :func:`splice_roles` replaces only that part of the page.
* The graph draws each role and each topic once: a topic points to the roles that read it, a role
  to the topics it writes, labelled with the event types. Dead letters (every worker writes
  them) and the reads of a role that reads every topic are left to the table.
"""

from __future__ import annotations

from alignment_flywheel.errors import CatalogError
from alignment_flywheel.roles import ROLES, Role, catalog, topic_for

BEGIN = (
    "<!-- roles: rendered from alignment_flywheel/roles.py and infra/topics.yaml by "
    "`flywheel schemas docs`; edit those and run `./dev flywheel schemas docs` instead. -->"
)
END = "<!-- /roles -->"
_LEFT_TO_THE_TABLE = frozenset({"DeadLettered"})


def _node(name: str) -> str:
    return "t_" + name.replace(".", "_").replace("-", "_")


def _by_topic(events: tuple[str, ...]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for event in events:
        grouped.setdefault(topic_for(event), []).append(event)
    return grouped


def _reads_everything(role: Role) -> bool:
    return set(role.topics_read) == set(catalog().names)


def _graph() -> list[str]:
    lines = ["```mermaid", "flowchart LR"]
    for spec in catalog().topics:
        lines.append(f"  {_node(spec.name)}[({spec.name})]")
    for role in ROLES.values():
        shape = f"[{role.name}]" if role.command else f"([{role.name}])"
        lines.append(f"  {role.name}{shape}")
    for role in ROLES.values():
        if not _reads_everything(role):
            lines.extend(f"  {_node(t)} --> {role.name}" for t in role.topics_read)
        for name, events in _by_topic(role.writes).items():
            shown = [e for e in events if e not in _LEFT_TO_THE_TABLE]
            if shown:
                lines.append(f"  {role.name} -- {' / '.join(shown)} --> {_node(name)}")
    return [*lines, "```"]


def _cell(events: tuple[str, ...], role: Role | None = None) -> str:
    if role is not None and _reads_everything(role):
        return "every topic"
    return ", ".join(_part(name, found) for name, found in _by_topic(events).items()) or "—"


def _part(name: str, events: list[str]) -> str:
    """A topic, with the event types meant when they are not all it carries."""
    if set(events) == set(catalog().topic(name).events):
        return f"`{name}`"
    return f"`{name}` ({', '.join(events)})"


def _table() -> list[str]:
    lines = [
        "| role | what it does | worker | consumer group | instances | reads | writes |",
        "|---|---|---|---|---|---|---|",
    ]
    for role in ROLES.values():
        command = f"`flywheel {' '.join(role.command)}`" if role.command else "— (in process)"
        group = ", ".join(f"`{g}`" for g in _groups(role)) or "—"
        lines.append(
            f"| {role.name} | {role.summary} | {command} | {group} | {role.instances} "
            f"| {_cell(role.reads, role)} | {_cell(role.writes)} |"
        )
    return lines


def _groups(role: Role) -> list[str]:
    spec = catalog().roles[role.name]
    return ([spec.app_id] if spec.app_id else []) + [f"{prefix}*" for prefix in spec.groups]


def render_roles() -> str:
    """The generated block, markers included."""
    return "\n".join([BEGIN, "", *_graph(), "", *_table(), "", END])


def splice_roles(page: str) -> str:
    """``page`` with its generated block replaced by the current one."""
    start, end = page.find(BEGIN), page.find(END)
    if start < 0 or end < start:
        raise CatalogError(f"the page has no generated roles block ({BEGIN[:20]}... {END})")
    return page[:start] + render_roles() + page[end + len(END) :]
