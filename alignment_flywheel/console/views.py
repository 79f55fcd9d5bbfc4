"""The console's HTML: server-rendered pages, every value escaped.

Rules:

* Pages are plain strings built here; every value from an event or a file goes through
  :func:`html.escape` (``e``). The script is a static file (``static/console.js``) served by the
  console, so the pages carry no inline script and a strict Content-Security-Policy holds.
* The CSRF token is written into a ``<meta>`` tag and into each form; the script sends it as the
  ``X-CSRF-Token`` header.
* A section that cannot be read (:class:`~.desk.Unavailable`) shows its reason instead.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import UTC, datetime

from alignment_flywheel.analytics.units import duration_text
from alignment_flywheel.console.desk import PatchView, ReleaseEvent, ReleaseView, Unavailable
from alignment_flywheel.events import (
    PatchApproved,
    ReleasePromoted,
    ReleaseRolledBack,
    ReleaseStaged,
)
from alignment_flywheel.patches.diff import diff_lines, evidence_lines
from alignment_flywheel.review import PendingReview

CHARTS: tuple[tuple[str, str], ...] = (
    ("overrides", "Human overrides and false positives"),
    ("mix_tool", "Decision mix per tool"),
    ("rates_proposer", "Interventions over time per proposer"),
    ("mitigation", "Time to mitigation"),
    ("drift", "Drift alerts"),
    ("clusters", "Top failure clusters"),
)

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#222}
header{background:#1f2d3d;color:#fff;padding:.6em 1.2em;display:flex;justify-content:space-between}
main{padding:1em 1.2em;max-width:1200px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.8em 1em;margin:1em 0}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:.3em;
text-align:left;vertical-align:top;font-size:.92em}pre{background:#f3f3f3;padding:.5em;
overflow:auto;font-size:.85em}.diff-add{color:#1a7f37}.diff-del{color:#b42318}
.note{color:#666}.error{color:#b42318}.ok{color:#1a7f37}img{max-width:100%}
form.inline{display:inline}input[type=text]{width:18em}
"""


def e(value: object) -> str:
    return html.escape(str(value), quote=True)


def page(title: str, body: str, *, operator: str | None = None, csrf: str = "") -> str:
    who = ""
    if operator is not None:
        who = (
            f'<span>operator <b id="operator">{e(operator)}</b> '
            f'<form class="inline" method="post" action="/console/logout">'
            f'<input type="hidden" name="csrf" value="{e(csrf)}">'
            f'<button id="logout">log out</button></form></span>'
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<meta name='csrf-token' content='{e(csrf)}'><title>{e(title)}</title>"
        f"<style>{STYLE}</style><script src='/console/static/console.js' defer></script>"
        f"</head><body><header><b>Alignment Flywheel review console</b>{who}</header>"
        f"<main>{body}</main></body></html>"
    )


def login_page(message: str = "") -> str:
    error = f'<p class="error" id="login-error">{e(message)}</p>' if message else ""
    body = (
        "<section><h2>Operator login</h2>"
        f"{error}<form method='post' action='/console/login'>"
        "<p><label>Operator <input type='text' name='name' id='name' autocomplete='username'>"
        "</label></p><p><label>Password <input type='password' name='password' id='password' "
        "autocomplete='current-password'></label></p><button id='login'>Log in</button></form>"
        "</section>"
    )
    return page("Log in", body)


def dashboard(
    *,
    operator: str,
    csrf: str,
    reviews: list[PendingReview] | Unavailable,
    patches: list[PatchView] | Unavailable,
    releases: ReleaseView | Unavailable,
) -> str:
    body = (
        '<p id="status" class="note" role="status"></p>'
        + _reviews(reviews)
        + _patches(patches)
        + _releases(releases, csrf)
        + _charts()
    )
    return page("Review console", body, operator=operator, csrf=csrf)


def _unavailable(title: str, item: Unavailable) -> str:
    return f'<section><h2>{e(title)}</h2><p class="error">{e(item.reason)}</p></section>'


def _reviews(reviews: list[PendingReview] | Unavailable) -> str:
    title = "Escalation queue"
    if isinstance(reviews, Unavailable):
        return _unavailable(title, reviews)
    if not reviews:
        note = '<p class="note">no pending reviews</p>'
        return f'<section id="reviews"><h2>{title}</h2>{note}</section>'
    now = datetime.now(UTC)
    rows = "".join(_review_row(item, now) for item in reviews)
    return (
        f'<section id="reviews"><h2>{title} ({len(reviews)})</h2><table><tr><th>review</th>'
        "<th>tool / proposer</th><th>why escalated</th><th>age / deadline</th><th>decision</th>"
        "</tr>"
        f"{rows}</table></section>"
    )


def _review_row(item: PendingReview, now: datetime) -> str:
    rid = e(item.review_id)
    request = item.request
    deadline = "-" if request.deadline is None else request.deadline.strftime("%H:%M:%S UTC")
    expired = item.expired(now)
    state = "expired" if expired else "live"
    return (
        f'<tr data-review="{rid}" data-state="{state}" class="review-{state}"><td><code>{rid}'
        f'</code><br><span class="note">proposal {e(request.proposal_id)}</span></td><td>'
        f"{e(item.tool or '?')}<br>{e(item.proposer or '?')}</td><td>{e(request.reason)}</td>"
        f"<td>{e(duration_text(item.age(now).total_seconds()))}<br>{e(deadline)}</td><td>"
        f"{_expired_note(rid) if expired else _decision_controls(rid)}</td></tr>"
    )


def _expired_note(rid: str) -> str:
    return (
        f'<span class="error expired" id="expired-{rid}"><b>expired</b>: the deadline passed, '
        "the agent stopped waiting and the call was denied; it can no longer be approved or "
        "denied</span>"
    )


def _decision_controls(rid: str) -> str:
    return (
        f'<input type="text" class="reason" placeholder="reason (required)" '
        f'id="reason-{rid}"> <button class="decide" data-review="{rid}" data-outcome="APPROVE" '
        f'id="approve-{rid}">approve</button> <button class="decide" data-review="{rid}" '
        f'data-outcome="DENY" id="deny-{rid}">deny</button>'
    )


def _diff_html(lines: Iterable[str]) -> str:
    out = []
    for line in lines:
        css = "diff-add" if line.startswith("+") else "diff-del" if line.startswith("-") else ""
        out.append(f'<span class="{css}">{e(line)}</span>' if css else e(line))
    return "<pre>" + "\n".join(out) + "</pre>"


def _patches(patches: list[PatchView] | Unavailable) -> str:
    title = "Patches awaiting sign-off"
    if isinstance(patches, Unavailable):
        return _unavailable(title, patches)
    if not patches:
        return f'<section id="patches"><h2>{title}</h2><p class="note">none</p></section>'
    return (
        f'<section id="patches"><h2>{title} ({len(patches)})</h2>'
        + "".join(_patch(view) for view in patches)
        + "</section>"
    )


def _patch(view: PatchView) -> str:
    patch = view.patch
    pid = e(patch.patch_id)
    base = (
        ""
        if view.base is not None
        else "<p class='note'>(old values not shown: the configured oracle is not this patch's "
        "base)</p>"
    )
    return (
        f'<article data-patch="{pid}"><h3>patch <code>{pid}</code></h3>'
        f"<p>by {e(patch.author)}: v{patch.base_version} &rarr; v{patch.target_version}; "
        f"approvers {view.approvers} of {view.needed}; expires "
        f"{e(patch.expires.isoformat() if patch.expires else 'never')}</p>"
        f"<p>{e(patch.rationale)}</p>{base}{_approvals(view)}"
        f"<h4>Diff</h4>{_diff_html(diff_lines(patch, view.base))}"
        f"<h4>Regression evidence</h4><pre>{e(chr(10).join(evidence_lines(patch.regression)))}"
        "</pre><p>Sign with your approver key (PKCS#8 PEM, unencrypted; it stays in this "
        f'browser): <input type="file" class="keyfile" id="key-{pid}" accept=".key,.pem"> '
        f'<button class="sign" data-patch="{pid}" id="sign-{pid}">sign and approve</button>'
        "</p></article>"
    )


def _approvals(view: PatchView) -> str:
    items = "".join(
        f"<li>key <code>{e(a.key_id[:12])}</code> as {e(a.role)} by {e(_approver(a))} "
        f"at {a.envelope.occurred_at.strftime('%Y-%m-%d %H:%M:%S')}"
        f"{' (automatic)' if a.automatic else ''}</li>"
        for a in view.record.approvals
    )
    return (
        f'<ul class="approvals">{items}</ul>' if items else "<p class='note'>no approvals yet</p>"
    )


def _approver(approval: PatchApproved) -> str:
    if approval.operator:
        return approval.operator
    return "automatic" if approval.automatic else approval.envelope.producer


def _actor(event: ReleaseEvent) -> str:
    """Who did it: the person, or "automatic (rollout policy)", else the producer."""
    if getattr(event, "automatic", False):
        return "automatic (rollout policy)"
    if isinstance(event, ReleaseStaged):
        return f"release controller ({event.envelope.producer})"
    if isinstance(event, ReleasePromoted):
        return event.actor
    if isinstance(event, ReleaseRolledBack) and event.operator:
        return event.operator
    return event.envelope.producer


def _release_event(event: ReleaseEvent) -> str:
    when = event.envelope.occurred_at.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(event, ReleasePromoted):
        what = f"promoted {event.from_stage.value} &rarr; {event.to_stage.value}"
    elif isinstance(event, ReleaseRolledBack):
        what = f"rolled back from {event.from_stage.value}: {e(event.reason)}"
    else:
        what = f"staged at {event.stage.value} ({event.canary_fraction:.0%})"
    metrics = getattr(event, "metrics", {}) or {}
    shown = ", ".join(f"{e(k)}={v:.4g}" for k, v in sorted(metrics.items())) or "-"
    return (
        f"<tr><td>{when}</td><td>v{event.version}</td><td>{what}</td>"
        f'<td class="actor">{e(_actor(event))}</td><td>{shown}</td></tr>'
    )


def _releases(view: ReleaseView | Unavailable, csrf: str) -> str:
    title = "Releases"
    if isinstance(view, Unavailable):
        return _unavailable(title, view)
    state = view.state
    if state.stable is None:
        stable = f"v{view.genesis_version} ({view.genesis_digest[:12]}, bootstrap artifact)"
    else:
        stable = f"v{state.stable.version} ({state.stable.digest[:12]})"
    candidate = "none"
    promote = '<p class="note" id="promote-none">no candidate to promote</p>'
    if state.candidate is not None:
        c = state.candidate
        candidate = f"v{c.version} at {c.stage.value} ({c.canary_fraction:.0%}) since "
        candidate += c.since.strftime("%Y-%m-%d %H:%M:%S")
        target = "CANARY" if c.stage.value == "SHADOW" else "STABLE"
        promote = (
            f'<p><button id="promote" data-release="{e(c.release_id)}" '
            f'data-stage="{e(c.stage.value)}" data-version="{c.version}" '
            f'data-target="{target}">promote v{c.version} to {target}</button></p>'
        )
    rows = "".join(_release_event(event) for event in view.recent)
    history = (
        "<table><tr><th>when</th><th>version</th><th>what</th><th>by</th><th>metrics</th></tr>"
        f"{rows}</table>"
        if rows
        else "<p class='note'>no release events yet</p>"
    )
    return (
        f'<section id="releases"><h2>{title}</h2><p>STABLE: <b id="stable">{e(stable)}</b></p>'
        f'<p>candidate: <b id="candidate">{e(candidate)}</b></p>{promote}{history}'
        '<h4>Roll back</h4><p><input type="text" id="rollback-reason" placeholder="reason">'
        ' <label><input type="checkbox" id="rollback-stable"> the stable version</label> '
        '<button id="rollback">roll back</button></p><p class="note">Rolling back the stable '
        "version is signed with your releaser key (PKCS#8 PEM, unencrypted; it stays in this "
        'browser): <input type="file" class="keyfile" id="rollback-key" accept=".key,.pem" '
        "multiple></p></section>"
    )


def _charts() -> str:
    images = "".join(
        f'<figure><figcaption>{e(title)}</figcaption><img class="chart" alt="{e(title)}" '
        f'src="/console/charts/{name}.png"></figure>'
        for name, title in CHARTS
    )
    return (
        '<section id="charts"><h2>Trends (ClickHouse)</h2>'
        '<p class="note" id="charts-note"></p>'
        f"{images}</section>"
    )
