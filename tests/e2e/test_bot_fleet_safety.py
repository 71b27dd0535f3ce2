"""Fleet safety end to end: signed slash commands and presses against the faithful simulator,
with every cluster checked afterwards by kubectl (not only the member).

Checked here: the prod-db case — host-b's team-x placed by label on member-b keeps member-b
(and prod-db) when member-a joins it, and the approver was shown the placement change; a
workspace left on member-a that host-b's KubeFed would delete (with its namespace) blocks, by
cluster and by name, and changes nothing; a member carrying another host's marks that no
readable host claims blocks; an agent-connected (proxy) member is refused with the reason; a
member host-b cannot reach from where it runs blocks with what host-b saw; after a move the new
host holds a credential of its own on the member, not the bot's; the workspace keeps its
template's network isolation and labels on the new host; a minor version skew blocks.

These run on SQLite only: the database is not what they exercise (test_bot_e2e covers both).
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from bot_harness import (
    BOB,
    CHANNEL,
    DAVE,
    Env,
    environment,
    in_process,
    latest_request_id,
    message_ts,
    wait_for,
    wait_state,
)
from kubectl import kubectl

from bot.db import upgrade
from bot.states import RequestState as S
from k8s.sim import network
from k8s.sim.resources import (
    CLUSTERCONFIGURATIONS,
    CLUSTERS,
    NAMESPACES,
    WORKSPACES,
    WORKSPACETEMPLATES,
)

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
GROUP = "cluster.kubesphere.io/group"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    upgrade(url)
    with environment(tmp_path, url) as e:
        yield e


@pytest.fixture
def bot(env: Env) -> Iterator[Any]:
    with in_process(env) as (client, _app):
        yield client


def ask(bot: Any, env: Env, text: str, settled: S = S.PENDING) -> str:
    before = latest_request_id(env)
    assert bot.command(text, user=BOB).status_code == 200
    rid = str(wait_for(lambda: (r := latest_request_id(env)) != before and r, 10, "the request"))
    wait_state(env, rid, settled, timeout=30)
    return rid


def shown(env: Env, rid: str, *words: str) -> str:
    """The request message's text once it holds every one of `words` (Slack writes are
    spaced, so the latest state may take a moment to reach the message)."""

    def text() -> str | None:
        ts = message_ts(env, rid)
        found = env.stub.message(CHANNEL, ts) if ts else None
        blob = str(found.blocks) if found else ""
        return blob if all(w in blob for w in words) else None

    return str(wait_for(text, 10, f"the message to show {words}"))


def get(env: Env, tmp_path: Path, context: str, *args: str) -> Any:
    done = kubectl(env, tmp_path, "--context", context, "get", *args, "-o", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def names(env: Env, tmp_path: Path, context: str, kind: str) -> set[str]:
    return {i["metadata"]["name"] for i in get(env, tmp_path, context, kind)["items"]}


def apply(env: Env, cluster: str, rt: Any, body: dict[str, Any]) -> None:
    with env.world.lock:
        env.world.clusters[cluster].store.create(rt, "", body)
    assert env.world.settle(15)


def test_the_prod_db_case_keeps_member_b_and_prod_db(bot: Any, env: Env, tmp_path: Path) -> None:
    apply(
        env,
        "host-b",
        WORKSPACETEMPLATES,
        {
            "metadata": {"name": "team-x"},
            "spec": {
                "template": {"spec": {"manager": "admin"}},
                "placement": {"clusterSelector": {"matchLabels": {GROUP: "testing"}}},
            },
        },
    )
    apply(
        env,
        "member-b",
        NAMESPACES,
        {"metadata": {"name": "prod-db", "labels": {"kubesphere.io/workspace": "team-x"}}},
    )
    assert "team-x" in names(env, tmp_path, "member-b", "workspaces")

    rid = ask(bot, env, "migrate member-a to host-b keep ns1,ns2")
    text = shown(env, rid, "ksmc_approve")
    assert "clusterSelector cluster.kubesphere.io/group=testing" in text
    assert "[member-a, member-b]" in text
    bot.press("ksmc_approve", rid, DAVE)
    wait_state(env, rid, S.SUCCEEDED, timeout=60)
    assert env.world.settle(15)

    assert "prod-db" in names(env, tmp_path, "member-b", "ns")
    assert "team-x" in names(env, tmp_path, "member-b", "workspaces")
    template = get(env, tmp_path, "host-b", "workspacetemplates", "team-x")
    assert [c["name"] for c in template["spec"]["placement"]["clusters"]] == [
        "member-a",
        "member-b",
    ]
    assert {"ns1", "ns2"} <= names(env, tmp_path, "member-a", "ns")
    assert "member-a" in names(env, tmp_path, "host-b", "clusters")
    assert "member-a" not in names(env, tmp_path, "host-a", "clusters")


def test_a_workspace_the_new_hosts_kubefed_would_delete_blocks(
    bot: Any, env: Env, tmp_path: Path
) -> None:
    """team-y stays on member-a; host-b's team-y selects member-b only, by label."""
    apply(
        env,
        "host-b",
        WORKSPACETEMPLATES,
        {
            "metadata": {"name": "team-y"},
            "spec": {
                "template": {"spec": {"manager": "admin"}},
                "placement": {"clusterSelector": {"matchLabels": {GROUP: "testing"}}},
            },
        },
    )
    before = {c: names(env, tmp_path, c, "ns") for c in ("member-a", "member-b")}
    rid = ask(bot, env, "migrate member-a to host-b keep ns1,ns2", settled=S.BLOCKED)
    text = shown(env, rid, "team-y", "ns3")
    assert "this deletes workspace team-y" in text and "this deletes namespace ns3" in text
    assert "KubeFed on host-b" in text
    assert "ksmc_approve" not in text
    assert {c: names(env, tmp_path, c, "ns") for c in before} == before
    assert "member-a" in names(env, tmp_path, "host-a", "clusters")


def test_a_member_another_host_marked_is_blocked(bot: Any, env: Env, tmp_path: Path) -> None:
    with env.world.lock:  # host-a forgets member-a without the bot: an unseen manager
        env.world.clusters["host-a"].store.delete(CLUSTERS, "", "member-a")
    assert env.world.settle(15)
    rid = ask(bot, env, "migrate member-a to host-b keep ns1,ns2", settled=S.BLOCKED)
    text = shown(env, rid, "shows signs of being managed")
    assert "kubefed-managed workspace(s) team-x, team-y" in text
    assert "member-a" not in names(env, tmp_path, "host-b", "clusters")


def test_an_agent_connected_member_is_refused(bot: Any, env: Env, tmp_path: Path) -> None:
    with env.world.lock:
        store = env.world.clusters["host-a"].store
        cluster = store.peek(CLUSTERS, "", "member-a")
        assert cluster is not None
        cluster["spec"]["connection"]["type"] = "proxy"
        store.update(CLUSTERS, "", "member-a", cluster)
    rid = ask(bot, env, "migrate member-a to host-b keep ns1,ns2", settled=S.BLOCKED)
    text = shown(env, rid, "cluster-agent")
    assert "does not move agent-connected members" in text
    assert "member-a" in names(env, tmp_path, "host-a", "clusters")


def test_a_member_the_new_host_cannot_reach_blocks(bot: Any, env: Env, tmp_path: Path) -> None:
    network.control(env.world, env.world.clusters["member-a"], "POST", {"from": "host-b"})
    rid = ask(bot, env, "migrate member-a to host-b keep ns1,ns2", settled=S.BLOCKED)
    text = shown(env, rid, "host-b cannot take member-a")
    assert "connection refused" in text
    assert "ns1" in names(env, tmp_path, "member-a", "ns")  # the bot itself still reads it


def test_the_new_host_gets_its_own_credential(bot: Any, env: Env, tmp_path: Path) -> None:
    rid = ask(bot, env, "migrate member-a to host-b keep ns1,ns2")
    bot.press("ksmc_approve", rid, DAVE)
    wait_state(env, rid, S.SUCCEEDED, timeout=60)
    accounts = {
        i["metadata"]["name"]
        for i in get(env, tmp_path, "member-a", "serviceaccounts", "-n", "kubesphere-system")[
            "items"
        ]
    }
    assert "ksmc-host-host-b" in accounts
    cluster = get(env, tmp_path, "host-b", "clusters", "member-a")
    given = yaml.safe_load(base64.b64decode(cluster["spec"]["connection"]["kubeconfig"]))
    users = given["users"]
    assert [u["name"] for u in users] == ["ksmc-host-host-b"]
    assert set(users[0]["user"]) == {"token"}  # self-contained: no exec, provider or file
    bot_tokens = {c.token for c in env.world.clusters.values()}
    assert users[0]["user"]["token"] not in bot_tokens, "host-b was handed the bot's identity"
    with env.world.lock:
        assert env.world.clusters["member-a"].store.peek(WORKSPACES, "", "team-x") is not None


def test_the_workspace_keeps_its_template_fields_on_the_new_host(
    bot: Any, env: Env, tmp_path: Path
) -> None:
    with env.world.lock:
        store = env.world.clusters["host-a"].store
        template = store.peek(WORKSPACETEMPLATES, "", "team-x")
        assert template is not None
        template["spec"]["template"]["spec"]["networkIsolation"] = True
        template["spec"]["template"].setdefault("metadata", {})["labels"] = {"tier": "gold"}
        store.update(WORKSPACETEMPLATES, "", "team-x", template)
    assert env.world.settle(15)
    rid = ask(bot, env, "migrate member-a to host-b keep ns1,ns2")
    bot.press("ksmc_approve", rid, DAVE)
    wait_state(env, rid, S.SUCCEEDED, timeout=60)
    made = get(env, tmp_path, "host-b", "workspacetemplates", "team-x")["spec"]["template"]
    assert made["spec"] == {"manager": "admin", "networkIsolation": True}
    assert made["metadata"]["labels"] == {"tier": "gold"}


def test_a_minor_version_skew_blocks(bot: Any, env: Env, tmp_path: Path) -> None:
    with env.world.lock:
        store = env.world.clusters["member-a"].store
        cc = store.peek(CLUSTERCONFIGURATIONS, "kubesphere-system", "ks-installer")
        assert cc is not None
        cc["metadata"]["labels"]["version"] = "v3.3.2"
        store.update(CLUSTERCONFIGURATIONS, "kubesphere-system", "ks-installer", cc)
    rid = ask(bot, env, "migrate member-a to host-b keep ns1,ns2", settled=S.BLOCKED)
    text = shown(env, rid, "v3.3.2")
    assert "supports a member only on the host's minor version" in text
    assert "member-a" in names(env, tmp_path, "host-a", "clusters")
