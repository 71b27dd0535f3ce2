"""The answers about tenancy: `workspaces` (across the fleet or on one cluster) and
`projects` (one cluster's namespaces, grouped by workspace), inconsistent ones first.

The analysis itself (placement, drift, label/owner mismatches) is `k8s.fleet.projects`;
this only lays it out, escaped, under the message budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from handlers.answer import _ask, _c, _Message, _more
from handlers.blocks import Rendered, names_inline
from handlers.mrkdwn import code, escape_mrkdwn, plain
from handlers.people_and_times import plural, slack_date
from k8s import fleet
from k8s.facts import ClusterFacts
from k8s.fleet import Fleet

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
