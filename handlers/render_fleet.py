"""The answers about the clusters themselves: `clusters`, `status` (of the fleet or of one
cluster) and `components`, from a `Fleet` view or one cluster's `ClusterFacts`.

Problems come first; each cluster is one line (`cluster_line`, also on the App Home tab).
Everything a cluster supplied is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from handlers.answer import _ask, _c, _finding, _Message, _more
from handlers.blocks import Rendered, names_inline
from handlers.mrkdwn import code, escape_mrkdwn, plain
from handlers.people_and_times import plural, slack_date
from k8s import fleet
from k8s.facts import ClusterFacts
from k8s.fleet import Finding, Fleet

# ---- clusters ------------------------------------------------------------------------------


def _row_icon(row: fleet.ClusterRow, found: Sequence[Finding]) -> str:
    if not row.reachable:
        return "📡"
    if any(f.severity == "error" for f in found):
        return "🔴"
    if any(f.severity == "warning" for f in found):
        return "🟡"
    return "🟢"


def _migration(m: fleet.InFlight) -> str:
    if not m.request_id:
        return "🔒 held by an older request"
    rid = code(m.request_id, limit=32) if m.visible else "(another Slack workspace)"
    return f"🔄 migration {rid} {escape_mrkdwn(m.state)} → {_c(m.target_host)}"


def _binding(b: fleet.Binding, cluster: str) -> str:
    ready = "Ready" if b.ready else "*not Ready*"
    named = f" as {_c(b.object_name)}" if b.object_name != cluster else ""
    return f"member of {_c(b.host)}{named} ({ready})"


def cluster_line(view: Fleet, row: fleet.ClusterRow) -> str:
    """One cluster in one line: role, host and readiness, versions, nodes, jwt group, lock."""
    found = view.about(row.name)
    parts = [f"{_row_icon(row, found)} *{escape_mrkdwn(row.name, limit=80)}*"]
    if not row.reachable:
        parts.append(f"unreachable: {escape_mrkdwn(row.error or 'no answer', limit=200)}")
        parts += [_binding(b, row.name) for b in row.bindings]
    else:
        if row.role == "member" and row.bindings:
            parts += [_binding(b, row.name) for b in row.bindings]
        elif row.role == "member":
            parts.append("member of *no host*")
        elif row.role == "host":
            members = view.members_of(row.name)
            shown = ", ".join(_c(m) for m in members[:8]) + (" …" if len(members) > 8 else "")
            parts.append(f"host of {shown}" if members else "host (no members)")
        else:
            parts.append("standalone" if row.ks_version else "no KubeSphere")
        if row.ks_version:
            parts.append(f"KubeSphere {escape_mrkdwn(row.ks_version, limit=20)}")
        if row.nodes is not None:
            parts.append(plural(row.nodes, "node"))
        if row.jwt_group:
            parts.append(f"jwt {row.jwt_group}")
    if row.migration is not None:
        parts.append(_migration(row.migration))
    return " · ".join(parts)


def _jwt_legend(view: Fleet) -> str:
    if not view.jwt_groups:
        return ""
    groups = "; ".join(
        f"*{letter}*: {', '.join(_c(n) for n in names[:6])}{' …' if len(names) > 6 else ''}"
        for letter, names in view.jwt_groups[:6]
    )
    return f"jwtSecret groups (same letter, same secret; the secrets are never shown): {groups}"


def render_clusters(view: Fleet, now: datetime) -> Rendered:
    m = _Message("clusters")
    rows = view.rows
    m.header(f"🗺️ Clusters ({len(rows):,})")
    serious = [f for f in view.findings if f.severity != "info"]
    if serious:
        m.listing(
            [_finding(f) for f in serious],
            name="problems",
            head=f"*Problems ({len(serious):,})*",
            more=_more("problems", f"{_ask('status')} lists them"),
            max_sections=2,
            share=0.35,
        )
    if not rows:
        m.section("The bot's kubeconfig names no clusters.", "empty")
    m.listing(
        [cluster_line(view, r) for r in rows],
        name="rows",
        more=_more("clusters", f"ask {_ask('status <cluster>')} for one"),
        max_sections=8,
    )
    m.context([t for t in (_jwt_legend(view),) if t], "jwt")
    m.context([f"Read {slack_date(now)} · {_ask('status <cluster>')} for one in detail"], "foot")
    hosts = sum(1 for r in rows if r.role == "host")
    members = sum(1 for r in rows if r.role == "member")
    down = sum(1 for r in rows if not r.reachable)
    fallback = f"{plural(len(rows), 'cluster')}: {plural(hosts, 'host')}, "
    fallback += plural(members, "member")
    fallback += f", {down} unreachable" if down else ""
    fallback += f"; {plural(len(serious), 'problem')}" if serious else ""
    return m.done(fallback)


# ---- status --------------------------------------------------------------------------------


def render_fleet_status(view: Fleet, now: datetime) -> Rendered:
    """`status` without a cluster: problems first, then the topology and what is moving."""
    m = _Message("status")
    rows = view.rows
    errors, warnings = view.count("error"), view.count("warning")
    icon = "🔴" if errors else ("🟡" if warnings else "🟢")
    m.header(f"{icon} Fleet status")
    roles = {role: sum(1 for r in rows if r.role == role) for role in ("host", "member", "none")}
    down = sum(1 for r in rows if not r.reachable)
    summary = (
        f"*{plural(len(rows), 'cluster')}*: {plural(roles['host'], 'host')}, "
        f"{plural(roles['member'], 'member')}, {roles['none']:,} standalone; "
        f"{len(rows) - down:,} reachable"
        + (f", *{down:,} unreachable*" if down else "")
        + f" · {plural(errors, 'error')}, {plural(warnings, 'warning')}"
    )
    m.section(summary, "summary")
    if view.findings:
        m.listing(
            [_finding(f) for f in view.findings],
            name="problems",
            head=f"*Problems first ({len(view.findings):,})*",
            more=_more("findings", f"{_ask('status <cluster>')} shows one cluster's"),
            max_sections=4,
            share=0.6,
        )
    else:
        m.section("✅ No problems found.", "ok")
    m.listing(_topology(view), name="topology", head="*Topology*", max_sections=2, share=0.6)
    moving = view.migrations
    if moving:
        m.listing(
            [f"• {_c(x.member)}: {_migration(x)}" for x in moving],
            name="moving",
            head=f"*Migrations in progress ({len(moving):,})*",
            max_sections=1,
        )
    m.context([t for t in (_jwt_legend(view),) if t], "jwt")
    m.context([f"Read {slack_date(now)} · {_ask('clusters')} lists every cluster"], "foot")
    return m.done(f"Fleet status: {summary.replace('*', '')}")


def _topology(view: Fleet) -> list[str]:
    lines = []
    for row in view.rows:
        if row.role == "host":
            members = view.members_of(row.name)
            listed = ", ".join(_member_ready(view, n) for n in members) or "no members"
            lines.append(f"• {_c(row.name)} ← {listed}")
    unbound = [r.name for r in view.rows if r.role == "member" and not r.bindings]
    if unbound:
        lines.append(f"• bound to no host: {', '.join(_c(n) for n in unbound)}")
    standalone = [r.name for r in view.rows if r.role in ("none", "unknown")]
    if standalone:
        lines.append(f"• not in a federation: {', '.join(_c(n) for n in standalone)}")
    return lines


def _member_ready(view: Fleet, name: str) -> str:
    row = view.row(name)
    ready = row is not None and row.ready
    return _c(name) + ("" if ready else " (not Ready)")


def render_cluster_status(
    view: Fleet, name: str, lock: fleet.InFlight | None, now: datetime
) -> Rendered:
    """`status <cluster>`: how its host sees it, its components, workspaces, projects, lock."""
    m = _Message("status-one")
    row = view.row(name)
    facts = view.facts.get(name)
    if row is None or facts is None:
        m.section(f"⚠️ {_c(name)} is not one of the bot's clusters.", "unknown")
        return m.done(f"{escape_mrkdwn(name, limit=80)} is not one of the bot's clusters.")
    found = view.about(name)
    m.header(f"{_row_icon(row, found)} {plain(name, 80)} · {row.role}")
    fields = [
        f"*Role:* {row.role}",
        f"*KubeSphere:* {escape_mrkdwn(row.ks_version or '—', limit=40)}",
        f"*Kubernetes:* {escape_mrkdwn(row.kubernetes_version or '—', limit=40)}",
        f"*Nodes:* {row.nodes if row.nodes is not None else '—'}",
        f"*jwtSecret group:* {row.jwt_group or '—'}",
    ]
    if row.role == "member" or row.bindings:
        host = ", ".join(_c(b.host) for b in row.bindings) or "none"
        fields.append(f"*Host:* {host}")
    if row.role == "host":
        fields.append(f"*Members:* {len(view.members_of(name)):,}")
    if facts.reachable:
        spaces = {w.name for w in facts.workspaces} | {t.name for t in facts.workspace_templates}
        fields.append(f"*Workspaces:* {len(spaces):,}")
        fields.append(f"*Projects:* {len(facts.namespaces):,}")
    fields.append(f"*Lock:* {_lock(lock)}")
    m.section("\n".join(fields), "facts")
    if not row.reachable:
        m.section(f"📡 *Unreachable:* {escape_mrkdwn(row.error or 'no answer', limit=800)}", "down")
    conditions = [_condition(b) for b in row.bindings]
    if conditions:
        m.listing(conditions, name="conditions", head="*As its host sees it*", max_sections=1)
    if row.role == "host":
        members = [_member_line(view, n) for n in view.members_of(name)]
        if members:
            m.listing(
                members,
                name="members",
                head="*Members*",
                max_sections=2,
                share=0.4,
                more=_more("members", f"{_ask('clusters')} lists them all"),
            )
    if found:
        m.listing(
            [_finding(f, with_cluster=False) for f in found],
            name="findings",
            head=f"*Findings ({len(found):,})*",
            max_sections=2,
            share=0.6,
            more=_more("findings", f"{_ask(f'projects {name}')} and {_ask(f'workspaces {name}')}"),
        )
    if facts.reachable and facts.components:
        m.section(_components_line(facts), "components")
    hints = [_ask(f"workspaces {name}"), _ask(f"projects {name}"), _ask(f"components {name}")]
    m.context([f"Read {slack_date(now)} · more: {' · '.join(hints)}"], "foot")
    state = "unreachable" if not row.reachable else f"{plural(len(found), 'finding')}"
    return m.done(f"{escape_mrkdwn(name, limit=80)} ({row.role}): {state}")


def _lock(lock: fleet.InFlight | None) -> str:
    if lock is None:
        return "free"
    if not lock.request_id:
        return "🔒 held by an older request"
    rid = code(lock.request_id, limit=32) if lock.visible else "a request of another workspace"
    return f"🔒 held by {rid} ({escape_mrkdwn(lock.state)})"


def _condition(b: fleet.Binding) -> str:
    status = "True" if b.ready else "False"
    message = f" — {escape_mrkdwn(b.message, limit=400)}" if b.message else ""
    via = ""
    if b.by == "name":
        why = "the cluster could not be read" if b.joined else "it has not joined yet"
        via = f" (matched by name: {why})"
    deleting = " · *being deleted*" if b.deleting else ""
    return f"• {_c(b.host)}, Cluster {_c(b.object_name)}: *Ready={status}*{message}{via}{deleting}"


def _member_line(view: Fleet, name: str) -> str:
    row = view.row(name)
    if row is None:
        return f"• {_c(name)}"
    ready = "Ready" if row.ready else "*not Ready*"
    lock = f" · {_migration(row.migration)}" if row.migration else ""
    return f"• {_c(name)} ({ready}, jwt {row.jwt_group or '?'}){lock}"


def _components_line(facts: ClusterFacts) -> str:
    on = [n for n, enabled in facts.components if enabled]
    off = [n for n, enabled in facts.components if not enabled]
    return (
        f"*Components* on: {names_inline(on, 1200) or '—'}\noff: {names_inline(off, 1200) or '—'}"
    )


# ---- components ----------------------------------------------------------------------------


def render_components(
    left: ClusterFacts,
    right: ClusterFacts | None,
    diff: Sequence[fleet.ComponentDiff],
    member_vs_host: bool,
    now: datetime,
) -> Rendered:
    m = _Message("components")
    if right is None:
        m.header(f"🧩 Components of {plain(left.name, 80)}")
        if not left.reachable:
            m.section(f"📡 {_c(left.name)} could not be read: {_err(left)}", "down")
        elif not left.components:
            m.section("No pluggable components found (is KubeSphere installed?).", "none")
        else:
            m.section(_components_line(left), "list")
        m.context(
            [f"Read {slack_date(now)} · compare: {_ask(f'components {left.name} vs <cluster>')}"],
            "foot",
        )
        on = sum(1 for _, enabled in left.components if enabled)
        return m.done(f"{escape_mrkdwn(left.name, limit=80)}: {on:,} components enabled")
    m.header(f"🧩 Components: {plain(left.name, 60)} vs {plain(right.name, 60)}")
    unread = [f for f in (left, right) if not f.reachable]
    for f in unread:
        m.section(f"📡 {_c(f.name)} could not be read: {_err(f)}", "down")
    if unread:
        return m.done("A cluster could not be read; nothing to compare.")
    if not diff:
        m.section("✅ The same components are enabled on both.", "same")
    else:
        lines = [
            f"• *{escape_mrkdwn(d.name, limit=60)}*: {_onoff(d.left)} on {_c(left.name)}, "
            f"{_onoff(d.right)} on {_c(right.name)}"
            for d in diff
        ]
        m.listing(lines, name="diff", head=f"*Different ({len(diff):,})*", max_sections=3)
    same = sorted(
        n
        for n, enabled in left.components
        if enabled and right.component_map().get(n) and all(d.name != n for d in diff)
    )
    if same:
        m.section(f"*On both:* {names_inline(same, 1500)}", "same-on")
    notes = [f"Read {slack_date(now)}"]
    if member_vs_host:
        notes.append("the App Store is only needed on the host, so it is not compared")
    m.context(notes, "foot")
    return m.done(
        f"{escape_mrkdwn(left.name, limit=60)} vs {escape_mrkdwn(right.name, limit=60)}: "
        f"{plural(len(diff), 'difference')}"
    )


def _onoff(enabled: bool | None) -> str:
    return "✅ on" if enabled else "⬜ off"


def _err(f: ClusterFacts) -> str:
    return escape_mrkdwn(f.error or "no answer", limit=500)
