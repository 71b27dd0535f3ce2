"""The questions asked in chat (handlers/queries.py, render_queries.py) against the simulated demo
fleet, through the bot built as `serve` builds it.

Checks: each query's answer says what the fleet is (roles, the host each member is bound to and
whether it sees it Ready, versions, nodes, jwtSecret groups, migrations in flight and locks,
workspaces with placement, projects with their binding, component differences, history and one
request in detail, scoped to the asker's Slack workspace, help for every command); answers go
through the response_url, ephemeral unless `public`; a cluster that is down and one that is slow
are shown unreachable within the gather timeout without holding up the others, and credentials
a cluster's error echoes are scrubbed; every answer —
including a 5,000-namespace `projects` and a 300-cluster fleet — passes the Slack stand-in's
Block Kit checker, and cluster-supplied text cannot inject mentions or formatting.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bot_harness import (
    ALICE,
    CHANNEL,
    Client,
    Env,
    environment,
    hook_of,
    in_process,
    latest_request_id,
    wait_for,
    wait_state,
)
from slack_bolt import Respond
from slack_sdk.webhook import WebhookResponse
from slackstub import TEAM_ID
from slackstub.rules import check_message_content

from bot import db, store
from bot.audit import Actor
from bot.db import Request
from bot.states import RequestState
from handlers import queries, render_queries
from handlers.blocks import MAX_BLOCKS, MAX_MESSAGE_TEXT, text_size
from handlers.grammar import GRAMMAR, parse
from k8s import fleet
from k8s.facts import ClusterFacts, ClusterObjectInfo, NamespaceInfo, OwnerRef, WorkspaceInfo

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def fleet_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Env, Client, Any]]:
    """One demo world and one bot for the read-only questions of this module (SQLite)."""
    tmp = tmp_path_factory.mktemp("queries")
    url = f"sqlite:///{tmp / 'ksmc.db'}"
    db.upgrade(url)
    with environment(tmp, url) as env, in_process(env) as (client, bot):
        assert env.world.settle(10)
        yield env, client, bot


class Kept(Respond):
    """A respond() that keeps what it is given (its keyword arguments) instead of posting it."""

    def __init__(self) -> None:
        super().__init__(response_url=None)
        self.sent: list[dict[str, Any]] = []

    def __call__(self, *args: Any, **kw: Any) -> WebhookResponse:
        assert not args, "the bot answers by keyword"
        self.sent.append(kw)
        return WebhookResponse(url="", status_code=200, body="ok", headers={})


def ask(bot: Any, text: str, team: str = TEAM_ID) -> list[dict[str, Any]]:
    """The answer to `text`, computed in this thread by the real query code."""
    respond = Kept()
    sent = respond.sent
    cmd = parse(text, known_clusters=bot.ctx.clusters.names())
    queries.answer(bot.ctx, cmd, {"team_id": team, "user_id": ALICE}, respond)
    for message in sent:
        assert check_message_content(message) == [], message
        assert len(message["blocks"]) <= MAX_BLOCKS
        assert text_size(message["blocks"]) <= MAX_MESSAGE_TEXT
    return sent


def blob(messages: list[dict[str, Any]]) -> str:
    return " ".join(str(m.get("text", "")) + str(m.get("blocks", "")) for m in messages)


def over_http(env: Env, client: Client, text: str) -> list[dict[str, Any]]:
    response = client.command(text)
    assert response.status_code == 200
    hook = hook_of(response)
    return list(wait_for(lambda: env.stub.responses(hook), 15, f"the answer to {text!r}"))


# ---- the fleet, as the demo world has it ----------------------------------------------------


def test_clusters_answers_ephemerally_with_roles_hosts_versions_nodes_and_jwt_groups(
    fleet_bot: tuple[Env, Client, Any],
) -> None:
    env, client, _bot = fleet_bot
    (answer,) = over_http(env, client, "clusters")
    assert answer["response_type"] == "ephemeral"
    text = blob([answer])
    assert "member of `host-a` (Ready)" in text  # member-a, bound by its kube-system UID
    assert "member of `host-b` (Ready)" in text
    assert "host of `member-a`" in text and "host of `member-b`" in text
    assert "KubeSphere v3.4.1" in text and "4 nodes" in text and "2 nodes" in text
    assert "jwt A" in text and "jwt B" in text
    assert "*A*: `host-a`, `host-b`, `member-a`" in text
    # problems first: member-b's secret differs from its host's
    assert text.index("*Problems (1)*") < text.index("*host-a*")
    assert "jwtSecret (group B) differs from its host host-b's (group A)" in text
    assert env.stub.violations == []


def test_public_answers_go_to_the_channel(fleet_bot: tuple[Env, Client, Any]) -> None:
    env, client, _bot = fleet_bot
    (answer,) = over_http(env, client, "status public")
    assert answer["response_type"] == "in_channel"
    posted = [m for m in env.stub.messages(CHANNEL) if "Fleet status" in str(m.blocks)]
    assert posted, "a public answer is a channel message"


def test_status_of_the_fleet_puts_problems_first(fleet_bot: tuple[Env, Client, Any]) -> None:
    _env, _client, bot = fleet_bot
    text = blob(ask(bot, "status"))
    assert "4 clusters*: 2 hosts, 2 members" in text
    assert text.index("jwtSecret (group B)") < text.index("components differ")  # errors first
    assert "`host-a` ← `member-a`" in text and "`host-b` ← `member-b`" in text


def test_status_of_one_cluster(fleet_bot: tuple[Env, Client, Any]) -> None:
    _env, _client, bot = fleet_bot
    text = blob(ask(bot, "status member-a"))
    assert "*Role:* member" in text and "*Host:* `host-a`" in text
    assert "`host-a`, Cluster `member-a`: *Ready=True* — Cluster is available now" in text
    assert "*Workspaces:* 3" in text and "*Projects:* 12" in text and "*Lock:* free" in text
    assert "*Components* on: `events`, `logging`" in text
    host = blob(ask(bot, "status host-b"))
    assert "*Members:* 1" in host and "`member-b` (Ready, jwt B)" in host


def test_workspaces_show_placement_presence_and_projects(
    fleet_bot: tuple[Env, Client, Any],
) -> None:
    _env, _client, bot = fleet_bot
    text = blob(ask(bot, "workspaces"))
    assert "*team-x* · template on `host-a`, placed on `member-a`" in text
    assert "`member-a`: present, from host-a, 2 projects" in text
    assert "*qa* · template on `host-b`, placed on `member-b`" in text
    assert "0 workspaces flagged" in text
    one = blob(ask(bot, "workspaces member-b"))
    assert "qa" in one and "team-x" not in one


def test_projects_show_each_namespace_with_its_workspace(
    fleet_bot: tuple[Env, Client, Any],
) -> None:
    _env, _client, bot = fleet_bot
    text = blob(ask(bot, "projects member-a"))
    assert "*team-x* (2): `ns1`, `ns2`" in text and "*team-y* (1): `ns3`" in text
    assert "`scratch`" in text and "none inconsistent" in text
    only = blob(ask(bot, "projects member-a team-x"))
    assert "`ns1`" in only and "`ns3`" not in only


def test_components_of_one_cluster_and_the_difference_between_two(
    fleet_bot: tuple[Env, Client, Any],
) -> None:
    _env, _client, bot = fleet_bot
    assert "on: `events`, `logging`" in blob(ask(bot, "components member-a"))
    text = blob(ask(bot, "components member-a vs host-b"))
    assert "*devops*: ⬜ off on `member-a`, ✅ on on `host-b`" in text
    assert "*events*: ✅ on on `member-a`, ⬜ off on `host-b`" in text
    assert "appstore" not in text.split("On both")[0]  # a member does not need the App Store
    assert "App Store is only needed on the host" in text


def test_help_covers_every_command_with_its_examples(fleet_bot: tuple[Env, Client, Any]) -> None:
    _env, _client, bot = fleet_bot
    text = blob(ask(bot, "help"))
    for spec in GRAMMAR:
        assert f"/ksmc {spec.synopsis}" in text.replace("&lt;", "<").replace("&gt;", ">")
        for example in spec.examples:
            assert f"/ksmc {example}" in text
        one = blob(ask(bot, f"help {spec.name}")).replace("&lt;", "<").replace("&gt;", ">")
        assert spec.synopsis in one and all(f"/ksmc {e}" in one for e in spec.examples)


def test_history_and_show_only_for_the_askers_workspace(
    fleet_bot: tuple[Env, Client, Any],
) -> None:
    env, client, bot = fleet_bot
    client.command("migrate member-a to host-b keep ns1,ns2 dry-run")
    rid = wait_for(lambda: latest_request_id(env), 10, "the request")
    wait_state(env, rid, RequestState.BLOCKED)
    history = blob(ask(bot, "history 5"))
    assert f"`{rid}`" in history and "dry run" in history and f"<@{ALICE}>" in history
    shown = ask(bot, f"show {rid}")
    text = blob(shown)
    assert f"*Requested by:* <@{ALICE}>" in text and "*Approved by:* —" in text
    assert "*Preflight:* 0 blockers" in text and "*Plan*" in text and "`ns1`" in text
    assert "No requests yet" in blob(ask(bot, "history", team="T0OTHER"))
    other = ask(bot, f"show {rid} public", team="T0OTHER")
    assert "There is no request" in blob(other) and other[0]["response_type"] == "ephemeral"
    assert ask(bot, f"show {rid} public")[0]["response_type"] == "in_channel"


def test_migration_in_flight_and_lock_are_shown(fleet_bot: tuple[Env, Client, Any]) -> None:
    _env, _client, bot = fleet_bot
    with bot.ctx.service.sessions.begin() as session:
        row = store.create_request(
            session,
            actor=Actor(ALICE, "alice"),
            command_text="migrate member-b to host-a",
            command_json={"kind": "migrate", "member": "member-b", "target_host": "host-a"},
            team_id=TEAM_ID,
            channel_id=CHANNEL,
            requester_id=ALICE,
            requester_name="alice",
            expires_at=datetime.now(UTC) + timedelta(hours=1),
            member="member-b",
            target_host="host-a",
        )
        row.state = RequestState.RUNNING
        rid = row.id
    try:
        assert f"🔄 migration `{rid}` running → `host-a`" in blob(ask(bot, "clusters"))
        assert f"*Lock:* 🔒 held by `{rid}` (running)" in blob(ask(bot, "status member-b"))
        assert "(another Slack workspace)" in blob(ask(bot, "clusters", team="T0OTHER"))
    finally:
        with bot.ctx.service.sessions.begin() as session:
            session.get(type(row), rid).state = RequestState.SUCCEEDED


def _stored_request(session: Any, member: str, team: str, state: RequestState) -> str:
    row = store.create_request(
        session,
        actor=Actor(ALICE, "alice"),
        command_text=f"migrate {member} to host-a",
        command_json={"kind": "migrate", "member": member, "target_host": "host-a"},
        team_id=team,
        channel_id=CHANNEL,
        requester_id=ALICE,
        requester_name="alice",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
        member=member,
        target_host="host-a",
    )
    row.state = state
    return str(row.id)


def test_old_requests_still_in_flight_or_pending_are_shown_after_many_newer_ones(
    fleet_bot: tuple[Env, Client, Any],
) -> None:
    """The questions read the requests they show from the database by state and team, not by
    picking them out of the newest few hundred: a migration running for hours, a request still
    waiting for approval and this workspace's history stay visible however many requests other
    workspaces made since."""
    _env, _client, bot = fleet_bot
    with bot.ctx.service.sessions.begin() as session:
        running = _stored_request(session, "member-b", TEAM_ID, RequestState.RUNNING)
        waiting = _stored_request(session, "member-a", TEAM_ID, RequestState.PENDING)
    with bot.ctx.service.sessions.begin() as session:
        for _ in range(queries.RECENT + 1):  # newer than both, all over, in another workspace
            _stored_request(session, "member-a", "T0BUSY", RequestState.REJECTED)
    try:
        assert f"🔄 migration `{running}` running → `host-a`" in blob(ask(bot, "clusters"))
        assert f"*Lock:* 🔒 held by `{running}` (running)" in blob(ask(bot, "status member-b"))
        history = blob(ask(bot, "history 50"))
        assert f"`{running}`" in history and f"`{waiting}`" in history
        assert [s.id for s in queries.active_requests(bot.ctx, TEAM_ID)][:2] == [waiting, running]
        assert "T0BUSY" not in history and "No requests yet" not in history
    finally:
        with bot.ctx.service.sessions.begin() as session:
            session.get(Request, running).state = RequestState.SUCCEEDED
            session.get(Request, waiting).state = RequestState.CANCELLED


# ---- clusters that are down or slow -----------------------------------------------------------


def test_down_and_slow_clusters_are_shown_unreachable_within_the_gather_timeout(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    db.upgrade(url)
    slow = environment(tmp_path, url, KSMC_GATHER_TIMEOUT="1")
    with slow as env, in_process(env) as (client, bot):
        env.world.clusters["member-a"].down()
        env.world.clusters["member-b"].add_fault({"path": ".*", "delay": 3})
        started = time.monotonic()
        (answer,) = over_http(env, client, "clusters")
        took = time.monotonic() - started
        assert took < 2.9, f"the answer took {took:.1f}s; the slow cluster held it up"
        text = blob([answer])
        assert "📡 *member-a* · unreachable" in text
        assert "📡 *member-b* · unreachable" in text  # "did not answer within 1s", or timed out
        assert "🟢 *host-a* · host of `member-a`" in text  # the hosts still answer
        assert "🟢 *host-b*" in text
        status = blob(ask(bot, "status member-a"))
        assert "*Unreachable:*" in status and "matched by name" in status
        projects = blob(ask(bot, "projects member-b"))
        assert "could not be read" in projects
        # An API server's error that echoes credentials the bot holds for another cluster.
        other = env.world.clusters["host-b"].token
        env.world.clusters["host-a"].add_fault(
            {"path": "/api/v1/namespaces$", "status": 403, "message": f"no: token {other}"}
        )
        echoed = blob(ask(bot, "status host-a"))
        assert "only partly read" in echoed and other not in echoed
        assert env.stub.violations == []


# ---- limits and escaping, from made-up facts ----------------------------------------------------


def _big_member(n: int, odd: int) -> ClusterFacts:
    spaces = [f"team-{i:02d}" for i in range(12)]
    namespaces = []
    for i in range(n):
        ws = spaces[i % 13] if i % 13 < 12 else None
        owner = (
            OwnerRef("tenant.kubesphere.io/v1alpha1", "Workspace", ws, f"w-{ws}") if ws else None
        )
        if i < odd:
            owner = None  # labelled but not bound
        namespaces.append(
            NamespaceInfo(f"project-{i:05d}", f"u{i}", "1", ws, False, (owner,) if owner else ())
        )
    return ClusterFacts(
        "member-a",
        reachable=True,
        kube_system_uid="ks-a",
        cluster_role="member",
        namespaces=tuple(namespaces),
        workspaces=tuple(WorkspaceInfo(w, f"w-{w}", "1", True) for w in spaces),
    )


def assert_fits(r: Any) -> None:
    assert check_message_content({"text": r.text, "blocks": r.blocks}) == []
    assert len(r.blocks) <= MAX_BLOCKS and text_size(r.blocks) <= MAX_MESSAGE_TEXT


def test_five_thousand_projects_stay_within_limits_and_say_how_to_narrow() -> None:
    facts = _big_member(5000, odd=300)
    rows = fleet.projects(facts)
    odd = sum(1 for row in rows if row.issue)
    assert odd > 250
    r = render_queries.render_projects(facts, rows, None, NOW)
    assert_fits(r)
    text = blob([{"text": r.text, "blocks": r.blocks}])
    assert "*5,000 projects*" in text and f"*{odd:,} inconsistent*" in text
    narrow = "narrow with `/ksmc projects member-a &lt;workspace&gt;`"
    assert f"more inconsistent projects; {narrow}" in text
    assert f"too many to list here: {narrow}" in text
    one = render_queries.render_projects(facts, fleet.projects(facts, "team-01"), "team-01", NOW)
    assert_fits(one)
    assert "kubectl --context member-a get ns -l kubesphere.io/workspace=team-01" in str(one.blocks)


def _big_fleet(n: int) -> fleet.Fleet:
    facts: dict[str, ClusterFacts] = {}
    hosts = [f"host-{i:03d}" for i in range(n // 10)]
    for i, h in enumerate(hosts):
        members = [f"member-{i:03d}-{j}" for j in range(9)]
        facts[h] = ClusterFacts(
            h,
            reachable=True,
            kube_system_uid=h,
            multicluster_enabled=True,
            jwt_fingerprint=f"{i % 30:012d}",
            cluster_objects=tuple(
                ClusterObjectInfo(m, m, j % 2 == 0, "no route to host " * 10, False)
                for j, m in enumerate(members)
            ),
        )
        for m in members:
            facts[m] = ClusterFacts(
                m,
                reachable=True,
                kube_system_uid=m,
                cluster_role="member",
                jwt_fingerprint="x" * 12,
            )
    return fleet.build_fleet(facts)


def test_a_huge_fleet_stays_within_limits_everywhere() -> None:
    view = _big_fleet(300)
    assert len(view.findings) > 250
    for r in (
        render_queries.render_clusters(view, NOW),
        render_queries.render_fleet_status(view, NOW),
        render_queries.render_cluster_status(view, "host-001", None, NOW),
        render_queries.render_workspaces(view, fleet.workspaces(view), None, NOW),
    ):
        assert_fits(r)
    text = str(render_queries.render_clusters(view, NOW).blocks)
    assert "more clusters; ask `/ksmc status &lt;cluster&gt;` for one" in text


def test_cluster_supplied_text_cannot_mention_link_or_restyle() -> None:
    evil = "<!channel> *bold* <@U0BOB> <https://x.example|click>"
    facts = {
        "host-a": ClusterFacts(
            "host-a",
            reachable=True,
            kube_system_uid="h",
            multicluster_enabled=True,
            ks_version=evil,
            cluster_objects=(ClusterObjectInfo("member-a", None, False, evil, False),),
        ),
        "member-a": ClusterFacts("member-a", reachable=False, error=evil),
    }
    view = fleet.build_fleet(facts)
    for r in (
        render_queries.render_clusters(view, NOW),
        render_queries.render_fleet_status(view, NOW),
        render_queries.render_cluster_status(view, "member-a", None, NOW),
        render_queries.render_cluster_status(view, "host-a", None, NOW),
    ):
        shown = str(r.blocks) + r.text
        assert "<!channel>" not in shown and "<@U0BOB>" not in shown and "<https:" not in shown
        assert "*bold*" not in shown
        assert_fits(r)


def test_show_of_a_huge_request_sends_at_most_four_messages_within_limits() -> None:
    from snapshots import huge_snapshot

    snap = replace(huge_snapshot(RequestState.SUCCEEDED))
    shown = render_queries.render_show(snap, NOW)
    assert 2 <= len(shown) <= render_queries.MAX_SHOW_MESSAGES
    for r in shown:
        assert_fits(r)
    assert "DELETED" in str(shown[1].blocks)
