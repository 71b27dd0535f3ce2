"""Roll back through the bot's real HTTP endpoint: a migration fails after member-a has joined
host-b, the Roll back button appears beside Retry and Abandon, the requester may not press it,
an approver does, and every cluster ends as it was before the first write — checked with
kubectl on host-a, host-b and member-a — with each undo step in the audit log and the message.

Runs on SQLite and on the PostgreSQL server `make test` starts.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from bot_harness import (
    ALICE,
    BOB,
    CHANNEL,
    DAVE,
    Env,
    audit_actions,
    environment,
    in_process,
    latest_request_id,
    message_ts,
    wait_for,
    wait_state,
)
from kubectl import kubectl

from bot.states import RequestState as S

TEMPLATES = "^/apis/tenant.kubesphere.io/v1alpha2/workspacetemplates$"


@pytest.fixture
def env(tmp_path: Path, migrated_db_url: str) -> Iterator[Env]:
    with environment(tmp_path, migrated_db_url) as e:
        yield e


@pytest.fixture
def bot(env: Env) -> Iterator[Any]:
    with in_process(env) as (client, _app):
        yield client


def message(env: Env, rid: str) -> Any:
    ts = wait_for(lambda: message_ts(env, rid), 10, "the request's message")
    found = env.stub.message(CHANNEL, ts)
    assert found is not None
    return found


def action_ids(env: Env, rid: str) -> list[str]:
    return [
        el["action_id"]
        for block in message(env, rid).blocks
        if block.get("type") == "actions"
        for el in block.get("elements", [])
    ]


def cluster_names(env: Env, tmp_path: Path, context: str) -> set[str]:
    done = kubectl(env, tmp_path, "--context", context, "get", "clusters", "-o", "json")
    assert done.returncode == 0, done.stderr
    return {item["metadata"]["name"] for item in json.loads(done.stdout)["items"]}


def workspace_of(env: Env, tmp_path: Path, namespace: str) -> str | None:
    done = kubectl(env, tmp_path, "--context", "member-a", "get", "ns", namespace, "-o", "json")
    assert done.returncode == 0, done.stderr
    labels: dict[str, str] = json.loads(done.stdout)["metadata"].get("labels") or {}
    return labels.get("kubesphere.io/workspace")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_a_failed_migration_is_rolled_back_by_a_second_person(
    bot: Any, env: Env, tmp_path: Path
) -> None:
    before = latest_request_id(env)
    assert bot.command("migrate member-a to host-b keep ns1,ns2", user=BOB).status_code == 200
    rid = str(wait_for(lambda: (r := latest_request_id(env)) != before and r, 10, "the request"))
    wait_state(env, rid, S.PENDING)
    # host-b will refuse to create the workspace: the run fails after member-a joined host-b
    env.world.clusters["host-b"].add_fault({"method": "POST", "path": TEMPLATES, "status": 403})
    bot.press("ksmc_approve", rid, DAVE)  # an approver through the ops user group
    wait_state(env, rid, S.FAILED, timeout=60)
    assert "member-a" in cluster_names(env, tmp_path, "host-b")
    assert "member-a" not in cluster_names(env, tmp_path, "host-a")
    wait_for(lambda: "ksmc_rollback" in action_ids(env, rid), 10, "the Roll back button")
    assert action_ids(env, rid) == ["ksmc_retry", "ksmc_rollback", "ksmc_abandon"]
    with env.world.lock:
        env.world.clusters["host-b"].faults.clear()

    for who, said in (
        (ALICE, "Only an approver can roll back a failed migration."),
        (BOB, "you requested this migration; a second person must roll it back"),  # requester
    ):
        _, hook = bot.press("ksmc_rollback", rid, who)
        wait_for(partial(env.stub.responses, hook), 10, "the refusal")
        refusal = " ".join(str(r.get("text", "")) for r in env.stub.responses(hook))
        assert said in refusal
    assert audit_actions(env, rid).count("rollback.refused") == 2
    assert "member-a" in cluster_names(env, tmp_path, "host-b"), "a refusal changed something"

    bot.press("ksmc_rollback", rid, DAVE)
    wait_state(env, rid, S.ROLLED_BACK, timeout=90)

    assert "member-a" in cluster_names(env, tmp_path, "host-a")
    assert "member-a" not in cluster_names(env, tmp_path, "host-b")
    assert workspace_of(env, tmp_path, "ns1") == "team-x"
    assert workspace_of(env, tmp_path, "ns2") == "team-x"
    actions = audit_actions(env, rid)
    assert actions.count("rollback.started") == 1 and "rollback.succeeded" in actions
    assert "undo.failed" not in actions and actions.count("undo.finished") >= 5
    wait_for(lambda: "Rolled back" in str(message(env, rid).blocks), 10, "the updated message")
    shown = str(message(env, rid).blocks)
    assert "back as it was before the first change" in shown and "Verify member-a" in shown
    assert action_ids(env, rid) == []
