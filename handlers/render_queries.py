"""The answers to questions asked in chat (`clusters`, `status`, `workspaces`, `projects`,
`components`, `history`, `show`, `help`) and the App Home tab, as pure functions to `Rendered`.

Fleets can be large, so every list goes through one text budget per message (`_Message`): it is
packed into as few sections as fit under Slack's limits, problems first, and whatever is cut is
counted and followed by the command that narrows the question. Everything a cluster or a user
supplied is escaped; people appear only as mentions built from user ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from bot.snapshot import RequestSnapshot, StepView
from bot.states import StepState
from handlers import fleet
from handlers.blocks import (
    MAX_BLOCKS,
    MAX_FALLBACK_TEXT,
    MAX_HEADER_TEXT,
    MAX_MESSAGE_TEXT,
    BlockIds,
    Rendered,
    code,
    code_block,
    context,
    divider,
    duration,
    escape_mrkdwn,
    header,
    names_inline,
    pack,
    person,
    plain,
    plural,
    section,
    slack_date,
    text_size,
    truncate_mrkdwn,
    utc_text,
)
from handlers.fleet import Finding, Fleet
from handlers.grammar import GRAMMAR, CommandSpec
from handlers.render_request import STEP_ICONS, state_label, title_plain
from k8s.facts import ClusterFacts
from k8s.preflight import Severity

Blocks = list[dict[str, Any]]

#: The App Home tab: Slack allows 100 blocks in a view; no cumulative limit is documented, this
#: keeps the tab readable.
MAX_HOME_BLOCKS = 100
MAX_HOME_TEXT = 15_000
#: How many messages `show` may send through one response_url (Slack accepts 5 per command).
MAX_SHOW_MESSAGES = 4

SEVERITY_ICONS = {"error": "🔴", "warning": "⚠️", "info": "ℹ️"}
ASK = "/ksmc"


# ---- a message with a text budget ---------------------------------------------------------------


class _Message:
    """Blocks of one answer, and how much room they leave under the block and text limits."""

    def __init__(
        self, kind: str, max_blocks: int = MAX_BLOCKS, max_chars: int = MAX_MESSAGE_TEXT
    ) -> None:
        self.ids = BlockIds("q", kind)
        self.blocks: Blocks = []
        self.max_blocks = max_blocks
        self.max_chars = max_chars

    @property
    def blocks_left(self) -> int:
        return self.max_blocks - len(self.blocks)

    @property
    def chars_left(self) -> int:
        return self.max_chars - text_size(self.blocks)

    def header(self, text: str) -> None:
        self.blocks.append(header(plain(text, MAX_HEADER_TEXT), self.ids("header")))

    def section(self, text: str, name: str = "section") -> None:
        if self.blocks_left > 0:
            self.blocks.append(section(truncate_mrkdwn(text, self.chars_left), self.ids(name)))

    def context(self, texts: Iterable[str], name: str = "context") -> None:
        shown = [t for t in texts if t]
        if shown and self.blocks_left > 0:
            self.blocks.append(context(shown, self.ids(name)))

    def divider(self) -> None:
        if self.blocks_left > 0:
            self.blocks.append(divider(self.ids("divider")))

    def listing(
        self,
        lines: Sequence[str],
        *,
        name: str = "list",
        head: str = "",
        more: Callable[[int], str] | None = None,
        max_sections: int = 10,
        share: float = 1.0,
        reserve_chars: int = 600,
        reserve_blocks: int = 2,
    ) -> int:
        """Lines packed into sections, taking `share` of what is left after the reserve;
        returns how many sections were added."""
        chars = int((self.chars_left - reserve_chars) * share)
        sections = min(max_sections, self.blocks_left - reserve_blocks)
        if sections < 1 or chars < 200 or (not lines and not head):
            return 0
        texts = pack(lines, max_chunks=sections, total=chars, head=head, more=more)
        for text in texts:
            self.section(text, name)
        return len(texts)

    def done(self, fallback: str) -> Rendered:
        return Rendered(truncate_mrkdwn(fallback, MAX_FALLBACK_TEXT), self.blocks)


def _c(name: str) -> str:
    """A cluster, workspace or namespace name, escaped, as code."""
    return code(name, limit=80)


def _ask(text: str) -> str:
    return code(f"{ASK} {text}", limit=200)


def _finding(f: Finding, with_cluster: bool = True) -> str:
    where = f"{_c(f.cluster)}: " if with_cluster else ""
    return f"{SEVERITY_ICONS[f.severity]} {where}{escape_mrkdwn(f.text, limit=500)}"


def _more(what: str, hint: str) -> Callable[[int], str]:
    return lambda n: f"… and {n:,} more {what}; {hint}"


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
    via = "" if b.by == "uid" else " (matched by name: the cluster could not be read)"
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


# ---- workspaces ----------------------------------------------------------------------------


def _workspace_line(row: fleet.WorkspaceRow, cluster: str | None) -> str:
    icon = "⚠️" if row.issues else ("⚙️" if row.builtin else "🏢")
    where: list[str] = []
    if row.builtin:
        where.append("built-in, on every cluster")
    elif row.hosts:
        placed = ", ".join(_c(c) for c in row.placement[:8]) or "no cluster"
        if len(row.placement) > 8:
            placed += f" and {len(row.placement) - 8:,} more"
        where.append(f"template on {', '.join(_c(h) for h in row.hosts)}, placed on {placed}")
    else:
        where.append("no host has a template for it")
    places = [p for p in row.places if cluster is None or p.cluster == cluster]
    for p in places[:8]:
        if row.builtin and cluster is None:
            continue
        state = "present" if p.present else "*missing*"
        origin = {"template": "template", "local": "made locally", "stale": "stale"}.get(
            p.origin, p.origin.replace("host ", "from ")
        )
        origin = escape_mrkdwn(origin, limit=120)
        where.append(f"{_c(p.cluster)}: {state}, {origin}, {plural(p.projects, 'project')}")
    if len(places) > 8:
        where.append(f"{len(places) - 8:,} more clusters")
    if row.builtin and cluster is None:
        where.append(plural(row.projects, "project"))
    line = f"{icon} *{escape_mrkdwn(row.name, limit=80)}* · " + " · ".join(where)
    for issue in row.issues[:3]:
        line += f"\n      ↳ {escape_mrkdwn(issue, limit=300)}"
    if len(row.issues) > 3:
        line += f"\n      ↳ … and {len(row.issues) - 3:,} more"
    return line


def render_workspaces(
    view: Fleet, rows: Sequence[fleet.WorkspaceRow], cluster: str | None, now: datetime
) -> Rendered:
    m = _Message("workspaces")
    where = f" on {plain(cluster, 80)}" if cluster else ""
    m.header(f"🏢 Workspaces{where} ({len(rows):,})")
    down = [r.name for r in view.rows if not r.reachable and (cluster is None or r.name == cluster)]
    if down:
        m.section(
            f"📡 Not read (unreachable): {', '.join(_c(n) for n in down[:20])}"
            + (" …" if len(down) > 20 else ""),
            "down",
        )
    drift = sum(1 for r in rows if r.issues)
    hint = (
        f"{_ask('workspaces <cluster>')} narrows it to one cluster"
        if cluster is None
        else (f"{_ask(f'projects {cluster} <workspace>')} lists one workspace's projects")
    )
    if not rows:
        m.section("No workspaces found.", "empty")
    m.listing(
        [_workspace_line(r, cluster) for r in rows],
        name="rows",
        more=_more("workspaces", hint),
        max_sections=12,
    )
    m.context([f"Read {slack_date(now)} · {plural(drift, 'workspace')} flagged · {hint}"], "foot")
    fallback = f"{plural(len(rows), 'workspace')}{where}; {drift:,} flagged"
    return m.done(fallback)


# ---- projects ------------------------------------------------------------------------------


def render_projects(
    facts: ClusterFacts, rows: Sequence[fleet.ProjectRow], workspace: str | None, now: datetime
) -> Rendered:
    m = _Message("projects")
    name = facts.name
    title = f"📁 Projects on {plain(name, 80)}" + (
        f" in {plain(workspace, 80)}" if workspace else ""
    )
    m.header(f"{title} ({len(rows):,})")
    if not facts.reachable:
        m.section(
            f"📡 {_c(name)} could not be read: {escape_mrkdwn(facts.error or '', limit=800)}",
            "down",
        )
        return m.done(f"{escape_mrkdwn(name, limit=80)} could not be read")
    odd = [r for r in rows if r.issue]
    groups: dict[str | None, list[str]] = {}
    for r in rows:
        groups.setdefault(r.workspace, []).append(r.name)
    in_ws = sum(len(v) for k, v in groups.items() if k is not None)
    m.section(
        f"*{plural(len(rows), 'project')}*: {in_ws:,} in "
        f"{plural(sum(1 for k in groups if k is not None), 'workspace')}, "
        f"{len(groups.get(None, [])):,} in none · "
        + (f"*{len(odd):,} inconsistent*" if odd else "none inconsistent"),
        "summary",
    )
    narrow = (
        _ask(f"projects {name} <workspace>")
        if workspace is None
        else code(
            f"kubectl --context {name} get ns -l kubesphere.io/workspace={workspace}", limit=200
        )
    )
    if odd:
        m.listing(
            [f"⚠️ {_c(r.name)}: {escape_mrkdwn(r.issue or '', limit=300)}" for r in odd],
            name="odd",
            head=f"*Inconsistent workspace binding ({len(odd):,})*",
            more=_more("inconsistent projects", f"narrow with {narrow}"),
            max_sections=3,
            share=0.45,
        )
    lines = []
    order = sorted(groups, key=lambda k: (k is None, k or ""))
    each = min(2800, max(300, (m.chars_left - 1200) // max(1, len(order))))
    for ws in order:
        names = sorted(groups[ws])
        label = f"*{escape_mrkdwn(ws, limit=80)}*" if ws is not None else "_no workspace_"
        lines.append(f"{label} ({len(names):,}): {names_inline(names, each)}")
    cut = any("… and " in line for line in lines)
    m.listing(
        lines,
        name="groups",
        more=_more("workspaces", f"narrow with {narrow}"),
        max_sections=8,
    )
    foot = f"Read {slack_date(now)}"
    if cut or len(rows) > 200:
        foot += f" · too many to list here: narrow with {narrow}"
    m.context([foot], "foot")
    return m.done(
        f"{plural(len(rows), 'project')} on {escape_mrkdwn(name, limit=80)}"
        + (f"; {len(odd):,} inconsistent" if odd else "")
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


# ---- history and show ----------------------------------------------------------------------


def history_line(snap: RequestSnapshot) -> str:
    emoji, word = state_label(snap)
    return (
        f"{emoji} {code(snap.id, limit=32)} *{escape_mrkdwn(word, limit=60)}* · "
        f"{_c(snap.member)} → {_c(snap.target_host)} · by "
        f"{person(snap.requester_id, snap.requester_name)} · {slack_date(snap.created_at)}"
    )


def render_history(snaps: Sequence[RequestSnapshot], limit: int) -> Rendered:
    m = _Message("history")
    m.header(f"📜 The last {plural(len(snaps), 'request')}" if snaps else "📜 History")
    if not snaps:
        m.section("No requests yet in this workspace.", "empty")
        return m.done("No requests yet.")
    m.listing(
        [history_line(s) for s in snaps],
        name="rows",
        more=_more("requests", f"{_ask('history <n>')} with a smaller n shows fewer"),
        max_sections=10,
    )
    m.context([f"{_ask('show <id>')} shows one request in detail"], "foot")
    fallback = "; ".join(f"{s.id} {state_label(s)[1]}" for s in snaps[:10])
    return m.done(f"Last {len(snaps)} of at most {limit} requests: {fallback}")


def render_show(snap: RequestSnapshot, now: datetime) -> list[Rendered]:
    """One request in detail: who asked and approved, when, each step's outcome — then, in up to
    three follow-up messages, the namespace lists the request message had to cut."""
    m = _Message("show")
    emoji, word = state_label(snap)
    m.header(plain(f"{emoji} {title_plain(snap)} · {word}", MAX_HEADER_TEXT))
    approvals = ", ".join(
        f"{person(a.user_id, a.name)} {slack_date(a.at)}" for a in snap.approvals[:10]
    )
    timings = [
        f"*Requested by:* {person(snap.requester_id, snap.requester_name)} "
        f"{slack_date(snap.created_at)}",
        f"*Command:* {code('/ksmc ' + snap.command_text, limit=400)}",
        f"*Approved by:* {approvals or '—'} ({len(snap.approvals):,} of "
        f"{snap.required_approvals:,} needed)",
        f"*State:* {escape_mrkdwn(word, limit=80)} since {slack_date(snap.updated_at)}",
    ]
    if snap.run_at is not None:
        timings.append(f"*Runs at:* {slack_date(snap.run_at)}")
    if snap.state.value in ("pending", "received", "preflighting"):
        timings.append(f"*Expires:* {slack_date(snap.expires_at)}")
    started = [s.started_at for s in snap.steps if s.started_at]
    finished = [s.finished_at for s in snap.steps if s.finished_at]
    if started:
        took = (
            f", took {duration((max(finished) - min(started)).total_seconds())}"
            if (finished and snap.state.value in ("succeeded", "failed", "abandoned"))
            else ""
        )
        timings.append(f"*Execution:* started {slack_date(min(started))}{took}")
    m.section("\n".join(timings), "who")
    if snap.report is not None:
        r = snap.report
        counts = " · ".join(
            f"{len(r.by_severity(s)):,} {label}"
            for s, label in (
                (Severity.BLOCKER, "blockers"),
                (Severity.WARNING, "warnings"),
                (Severity.INFO, "info"),
                (Severity.OK, "passed"),
            )
        )
        lines = [
            f"{'🚫' if c.severity is Severity.BLOCKER else '⚠️'} "
            f"{escape_mrkdwn(c.message, limit=300)}"
            for c in r.results
            if c.severity in (Severity.BLOCKER, Severity.WARNING)
        ]
        m.listing(
            lines,
            name="checks",
            head=f"*Preflight:* {counts}",
            max_sections=2,
            share=0.3,
            more=lambda n: f"… and {n:,} more",
        )
    if snap.steps:
        m.listing(
            [_step_line(s, len(snap.steps)) for s in snap.steps],
            name="steps",
            head=f"*Steps ({len(snap.steps):,})*",
            max_sections=3,
            share=0.6,
            more=lambda n: f"… and {n:,} more steps",
        )
    if snap.error:
        m.section(f"*Error:*\n{code_block(snap.error, limit=1200)}", "error")
    follow: list[Rendered] = []
    plan = snap.plan
    if plan is not None:
        m.section(
            f"*Plan* {code(plan.digest(), limit=40)}: keeps {plural(len(plan.keep), 'namespace')}, "
            f"*deletes {plural(len(plan.delete), 'namespace')}*, leaves "
            f"{plural(len(plan.untouched), 'namespace')} untouched",
            "plan",
        )
        follow = _plan_lists(snap, plan.delete, plan.keep, plan.untouched)
    m.context([f"Request {code(snap.id, limit=32)} · version {snap.version} · {utc_text(now)}"])
    first = m.done(f"{emoji} {escape_mrkdwn(title_plain(snap))} — {word}")
    return [first, *follow]


def _step_line(step: StepView, total: int) -> str:
    icon = STEP_ICONS.get(step.state, "•")
    took = f" · {duration(step.seconds)}" if step.seconds is not None else ""
    msg = f" — {escape_mrkdwn(step.message, limit=200)}" if step.message else ""
    failed = " *failed*" if step.state is StepState.FAILED else ""
    return (
        f"{icon} {step.index + 1}/{total} {escape_mrkdwn(step.title, limit=200)}{failed}{took}{msg}"
    )


def _plan_lists(
    snap: RequestSnapshot,
    delete: Sequence[str],
    keep: Sequence[str],
    untouched: Sequence[str],
) -> list[Rendered]:
    """The namespace lists in full (or as much as `MAX_SHOW_MESSAGES - 1` messages hold)."""
    lists = [("DELETED", delete), ("kept", keep), ("left untouched", untouched)]
    if sum(len(names) for _, names in lists) <= 40:
        items = [
            f"*{what.capitalize() if what != 'DELETED' else what}:* {names_inline(names, 1500)}"
            for what, names in lists
            if names
        ]
        if not items:
            return []
        m = _Message("show-plan")
        m.section("\n".join(items), "lists")
        return [m.done(f"Namespaces of {snap.id}")]
    out: list[Rendered] = []
    for what, names in lists:
        if not names or len(out) >= MAX_SHOW_MESSAGES - 1:
            continue
        m = _Message(f"show-{what.split()[0]}")
        m.listing(
            [code(n, limit=100) for n in names],
            name="names",
            head=f"*{plural(len(names), 'namespace')} {what}:*",
            more=lambda n: f"… and {n:,} more",
            max_sections=20,
            reserve_chars=0,
            reserve_blocks=0,
        )
        out.append(m.done(f"{len(names):,} namespaces {what} by {snap.id}"))
    return out


# ---- help ----------------------------------------------------------------------------------


def _spec_text(spec: CommandSpec, examples: bool) -> str:
    text = f"{code(f'{ASK} {spec.synopsis}', limit=300)}\n{escape_mrkdwn(spec.summary, limit=1200)}"
    if examples and spec.examples:
        text += "\n_Examples:_ " + " · ".join(code(f"{ASK} {e}", limit=200) for e in spec.examples)
    return text


def render_help(topic: str | None = None) -> Rendered:
    """Every command of the grammar with its examples, or one command."""
    m = _Message("help")
    specs = [s for s in GRAMMAR if topic is None or s.name == topic]
    if topic is not None and specs:
        spec = specs[0]
        m.header(f"/ksmc {spec.name}")
        m.section(f"*Usage:*\n{code_block(f'{ASK} {spec.synopsis}', limit=1000)}", "usage")
        m.section(escape_mrkdwn(spec.summary, limit=2000), "summary")
        m.section(
            "*Examples:*\n" + "\n".join(code(f"{ASK} {e}", limit=300) for e in spec.examples),
            "examples",
        )
        m.context([f"{_ask('help')} lists every command"], "foot")
        return m.done(f"{ASK} {spec.synopsis}")
    m.header("ksmc-bot commands")
    for spec in specs:
        m.section(_spec_text(spec, examples=True), spec.name)
    m.context(
        [
            "Add `public` at the end of a question to answer in the channel instead of only "
            f"to you · {_ask('help <command>')} shows one command"
        ],
        "foot",
    )
    return m.done("ksmc-bot commands: " + ", ".join(s.name for s in GRAMMAR))


def render_unknown_request(request_id: str) -> Rendered:
    m = _Message("show")
    text = f"There is no request {code(request_id, limit=32)} in this workspace."
    m.section(text, "missing")
    return m.done(text)


# ---- the App Home tab ----------------------------------------------------------------------


def render_home(view: Fleet | None, requests: Sequence[RequestSnapshot], now: datetime) -> Blocks:
    """The Home tab: the fleet summary (problems first) and the requests in flight. `view` is
    None while the clusters are still being read."""
    m = _Message("home", MAX_HOME_BLOCKS, MAX_HOME_TEXT)
    m.header("ksmc-bot · KubeSphere fleet")
    if view is None:
        m.section("⏳ Reading the clusters…", "loading")
    else:
        errors, warnings = view.count("error"), view.count("warning")
        icon = "🔴" if errors else ("🟡" if warnings else "🟢")
        m.section(
            f"{icon} *{plural(len(view.rows), 'cluster')}* · {plural(errors, 'error')} · "
            f"{plural(warnings, 'warning')} · read {slack_date(now)}",
            "summary",
        )
        if view.findings:
            m.listing(
                [_finding(f) for f in view.findings],
                name="problems",
                head="*Problems first*",
                more=_more("findings", f"{_ask('status')} lists them"),
                max_sections=6,
                share=0.35,
                reserve_chars=3000,
                reserve_blocks=25,
            )
        m.listing(
            [cluster_line(view, r) for r in view.rows],
            name="clusters",
            head="*Clusters*",
            more=_more("clusters", f"{_ask('clusters')} lists them all"),
            max_sections=30,
            share=0.6,
            reserve_chars=2500,
            reserve_blocks=15,
        )
    m.divider()
    active = list(requests)
    if active:
        m.listing(
            [history_line(s) for s in active],
            name="requests",
            head=f"*Requests in flight ({len(active):,})*",
            more=_more("requests", f"{_ask('history')} lists them"),
            max_sections=10,
            reserve_chars=300,
            reserve_blocks=1,
        )
    else:
        m.section("*Requests in flight:* none", "requests")
    m.context(
        [f"Ask with {_ask('help')} · {_ask('migrate <member> to <host> keep <ns>,…')}"], "foot"
    )
    return m.blocks
