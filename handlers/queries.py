"""Answers to the questions asked in chat: the fleet (`clusters`, `status`, `workspaces`,
`projects`, `components`), the requests (`history`, `show`) and `help`.

They run in the background after the slash command's ack, and always answer through the
command's response_url (Bolt's `respond`): ephemeral to the asker unless the command ended in
`public`. Clusters are read through `bot.clusters`, concurrently and each within a time budget,
so a slow or dead cluster is shown as unreachable instead of holding up the answer. What the
answers compute lives in `k8s.fleet`, what they look like in `handlers.render_queries`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Respond

from bot import states
from bot.context import BotContext
from bot.snapshot import RequestSnapshot
from handlers import render_queries
from handlers.blocks import Rendered
from handlers.grammar import (
    ClustersCommand,
    Command,
    ComponentsCommand,
    HelpCommand,
    HistoryCommand,
    ProjectsCommand,
    ShowCommand,
    StatusCommand,
    WorkspacesCommand,
)
from handlers.render import render_refusal
from k8s import fleet
from k8s.facts import ClusterFacts

log = logging.getLogger("ksmc.queries")

#: At most this many requests are listed as holding members or as not over yet (each in the
#: states asked for, newest first; far more than a fleet has members).
RECENT = 500


def answer(ctx: BotContext, cmd: Command, body: dict[str, Any], respond: Respond) -> None:
    """Answer one question through `respond`; never raises (a crash is answered, and logged)."""
    team = str(body.get("team_id", ""))
    public = bool(getattr(cmd, "public", False))
    now = datetime.now(UTC)
    try:
        messages, shareable = _answer(ctx, cmd, team, now)
    except Exception as e:
        log.exception("answering %s failed", type(cmd).__name__)
        messages = [render_refusal(f"that question could not be answered ({type(e).__name__})")]
        shareable = False
    kind = "in_channel" if public and shareable else "ephemeral"
    for shown in messages:
        respond(text=shown.text, blocks=shown.blocks, response_type=kind)


def _answer(ctx: BotContext, cmd: Command, team: str, now: datetime) -> tuple[list[Rendered], bool]:
    """The messages answering `cmd`, and whether they may go to the channel."""
    if isinstance(cmd, HelpCommand):
        return [render_queries.render_help(cmd.topic)], True
    if isinstance(cmd, HistoryCommand):
        snaps = ctx.service.recent(cmd.limit, team=team)
        return [render_queries.render_history(snaps, cmd.limit)], True
    if isinstance(cmd, ShowCommand):
        snap = ctx.service.snapshot(cmd.request_id)
        if snap is None or snap.team_id != team:
            return [render_queries.render_unknown_request(cmd.request_id)], False
        return render_queries.render_show(snap, now), True
    if isinstance(cmd, ProjectsCommand):
        facts = gather(ctx, [cmd.cluster])[cmd.cluster]
        rows = fleet.projects(facts, cmd.workspace)
        return [render_queries.render_projects(facts, rows, cmd.workspace, now)], True
    if isinstance(cmd, ComponentsCommand):
        return [_components(ctx, cmd, now)], True
    if isinstance(cmd, ClustersCommand | StatusCommand | WorkspacesCommand):
        view = fleet_view(ctx, team)
        if isinstance(cmd, ClustersCommand):
            return [render_queries.render_clusters(view, now)], True
        if isinstance(cmd, WorkspacesCommand):
            spaces = fleet.workspaces(view, cmd.cluster)
            return [render_queries.render_workspaces(view, spaces, cmd.cluster, now)], True
        if cmd.cluster is None:
            return [render_queries.render_fleet_status(view, now)], True
        lock = locks(ctx, team).get(cmd.cluster)
        return [render_queries.render_cluster_status(view, cmd.cluster, lock, now)], True
    return [render_refusal(f"{type(cmd).__name__} is not a question")], False


def _components(ctx: BotContext, cmd: ComponentsCommand, now: datetime) -> Rendered:
    names = [cmd.cluster] if cmd.other is None else [cmd.cluster, cmd.other]
    facts = gather(ctx, names)
    left = facts[cmd.cluster]
    right = facts[cmd.other] if cmd.other is not None else None
    if right is None:
        return render_queries.render_components(left, None, [], False, now)
    # a member against a host: the App Store is needed on the host only, so it is not compared
    member_vs_host = left.is_host != right.is_host and left.reachable and right.reachable
    diff = fleet.component_diff(left, right, member_vs_host=member_vs_host)
    return render_queries.render_components(left, right, diff, member_vs_host, now)


# ---- what the answers are computed from -----------------------------------------------------


def gather(ctx: BotContext, names: Iterable[str]) -> dict[str, ClusterFacts]:
    """Facts of `names`, through the bot's cluster reads (time budget, read cap, scrubbed)."""
    return ctx.clusters.facts(names)


def fleet_view(ctx: BotContext, team: str) -> fleet.Fleet:
    """Every cluster the bot knows, read now, with the migrations in flight."""
    facts = gather(ctx, ctx.clusters.names())
    return fleet.build_fleet(facts, in_flight(ctx, team).values())


def in_flight(ctx: BotContext, team: str) -> dict[str, fleet.InFlight]:
    """Member → the request moving it now (approved, scheduled or running)."""
    return _holding(ctx.service.recent(RECENT, in_states=states.IN_FLIGHT), team, frozenset())


def locks(ctx: BotContext, team: str) -> dict[str, fleet.InFlight]:
    """Member → the request that holds it (in flight, or failed and waiting for a human)."""
    snaps = ctx.service.recent(RECENT, in_states=states.LOCKING)
    return _holding(snaps, team, ctx.service.busy_members())


def _holding(
    snaps: Iterable[RequestSnapshot], team: str, busy: frozenset[str]
) -> dict[str, fleet.InFlight]:
    """Member → the newest of `snaps` holding it; `busy` members none of them holds are shown
    as locked by a request not listed."""
    out: dict[str, fleet.InFlight] = {}
    for s in snaps:
        if s.member not in out:
            out[s.member] = fleet.InFlight(
                s.id, s.state.value, s.member, s.target_host, visible=s.team_id == team
            )
    for member in busy - set(out):  # held by a request older than the ones listed
        out[member] = fleet.InFlight("", "locked", member, "?", visible=False)
    return out


def active_requests(ctx: BotContext, team: str) -> list[RequestSnapshot]:
    """This workspace's requests that are not over yet (for the App Home tab)."""
    going = set(states.RequestState) - set(states.TERMINAL)
    return ctx.service.recent(RECENT, team=team, in_states=going)
