"""Who may request, where, and whom the reminder calls (issue #12, finding 7): requester group
membership is confirmed with Slack like an approver's, `KSMC_CHANNELS` limits where migrations
may be requested, and the half-TTL reminder mentions only people who could approve."""

from __future__ import annotations

import json
from pathlib import Path

from bot_harness import (
    ALICE,
    BOB,
    CHANNEL,
    DAVE,
    GONE,
    GUEST,
    OPS_GROUP,
    ROBOT,
    SECRET,
    Env,
    audit_actions,
    environment,
    hook_of,
    in_process,
    latest_request_id,
    message_ts,
    wait_for,
    wait_state,
)
from slackstub import TEAM_ID, sign, slash_command_body

from bot.states import RequestState as S

REQUESTERS = "S0REQ"
MIGRATE = "migrate member-a to host-b keep ns1,ns2"


def answer_to(env: Env, hook: str) -> str:
    wait_for(lambda: env.stub.responses(hook), 10, f"an answer on {hook}")
    return " ".join(json.dumps(r) for r in env.stub.responses(hook))


def test_requester_removed_from_the_requesters_group_is_refused_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    with environment(tmp_path, url, KSMC_REQUESTERS=REQUESTERS) as env:
        env.stub.add_usergroup(REQUESTERS, [ALICE])
        with in_process(env) as (client, _bot):
            client.command(MIGRATE, user=ALICE)  # allowed: the group cache is now warm
            first = wait_for(lambda: latest_request_id(env), 15, "the first request")
            env.stub.add_usergroup(REQUESTERS, [])  # ALICE leaves the group
            response = client.command(MIGRATE + " dry-run", user=ALICE)
            assert "not allowed to request" in answer_to(env, hook_of(response))
            assert latest_request_id(env) == first
            assert "request.refused" in audit_actions(env)


def test_channels_setting_refuses_other_channels_clearly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    with environment(tmp_path, url, KSMC_CHANNELS=CHANNEL) as env, in_process(env) as (c, _):
        hook = "elsewhere"
        response_url = env.stub.response_url(hook, channel="C0RANDOM", user=ALICE)
        body = slash_command_body(MIGRATE, ALICE, "C0RANDOM", TEAM_ID, response_url)
        assert c.post(body, sign(SECRET, body)).status_code == 200
        said = answer_to(env, hook)
        assert "can only be requested in" in said and CHANNEL in said
        assert latest_request_id(env) is None
        assert "request.refused" in audit_actions(env)
        c.command(MIGRATE, user=ALICE)  # the allowed channel still works
        wait_for(lambda: latest_request_id(env), 15, "the request in the allowed channel")


def test_reminder_mentions_only_eligible_approvers(tmp_path: Path) -> None:
    """KSMC_APPROVERS lists BOB, the ops group (DAVE and the requester ALICE), a guest, a bot and
    a deactivated account: the reminder calls BOB and DAVE by name, nobody else, and no group
    mention that would reach the requester."""
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    with environment(tmp_path, url, KSMC_APPROVAL_TTL="6s") as env:
        env.stub.add_usergroup(OPS_GROUP, [DAVE, ALICE])
        with in_process(env) as (client, _bot):
            client.command(MIGRATE, user=ALICE)
            rid = str(wait_for(lambda: latest_request_id(env), 15, "the request"))
            wait_state(env, rid, S.PENDING, timeout=30)
            ts = wait_for(lambda: message_ts(env, rid), 10, "the message")

            def reminder() -> str:
                replies = env.stub.thread(CHANNEL, ts)
                found = [m for m in replies if "⏰" in m.text]
                return found[0].text if found else ""

            said = wait_for(reminder, 15, "the reminder")
    called = said.split("⏰", 1)[1].split(": ", 1)[0]  # "⏰ <@…> <@…>: Migration …"
    assert f"<@{BOB}>" in called and f"<@{DAVE}>" in called
    for nobody in (ALICE, GUEST, ROBOT, GONE, OPS_GROUP):
        assert nobody not in called
