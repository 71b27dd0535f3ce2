"""Abuse cases, each through the bot's real HTTP endpoint: forged, replayed and malformed Slack
requests, buttons pressed by the wrong people or naming the wrong request, and text built to
inject label selectors, paths, YAML/JSON, Slack mentions or log lines.

Each case asserts what the attacker gets (401/400/413 or a refusal) and that nothing changed
beyond what is meant to: no request rows, and audit events only where a refusal is audited.
Most run on SQLite against one bot per module; the races run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from bot_harness import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    DAVE,
    GONE,
    GUEST,
    OPS_GROUP,
    ROBOT,
    SECRET,
    BotProcess,
    Client,
    Env,
    current_button_value,
    environment,
    hook_of,
    in_process,
    latest_request_id,
    message_ts,
    state,
    wait_for,
    wait_state,
)
from slackstub import TEAM_ID, block_action_body, sign, slash_command_body
from sqlalchemy import func, select

from bot import db, store
from bot.db import Approval, AuditEvent, Request, SeenPayload, utcnow
from bot.logfilter import SafeLogFilter
from bot.states import RequestState as S

# ---- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One world, stand-in and SQLite bot for the cases that leave the world as it was."""
    tmp = tmp_path_factory.mktemp("abuse")
    url = f"sqlite:///{tmp / 'ksmc.db'}"
    db.upgrade(url)
    with environment(tmp, url) as env:
        yield env


@pytest.fixture(scope="module")
def shared(shared_env: Env) -> Iterator[Client]:
    with in_process(shared_env) as (client, _bot):
        yield client


def counts(env: Env) -> tuple[int, int, int]:
    """(requests, approvals, audit events) in the bot's database."""
    engine = db.make_engine(env.database_url)
    try:
        with db.session_factory(engine)() as session:
            return (
                session.scalar(select(func.count()).select_from(Request)) or 0,
                session.scalar(select(func.count()).select_from(Approval)) or 0,
                session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
            )
    finally:
        engine.dispose()


def events(env: Env, request_id: str | None = None, since: int = 0) -> list[dict[str, Any]]:
    """Audit events after id `since` (of one request, or all), oldest first."""
    engine = db.make_engine(env.database_url)
    try:
        with db.session_factory(engine)() as session:
            query = select(AuditEvent).where(AuditEvent.id > since).order_by(AuditEvent.id)
            if request_id is not None:
                query = query.where(AuditEvent.request_id == request_id)
            return [
                {
                    "id": e.id,
                    "action": e.action,
                    "actor": e.actor_id,
                    "request_id": e.request_id,
                    "details": json.loads(e.details),
                }
                for e in session.execute(query).scalars()
            ]
    finally:
        engine.dispose()


def last_event_id(env: Env) -> int:
    found = events(env)
    return int(found[-1]["id"]) if found else 0


def submit(client: Client, env: Env, text: str, user: str = ALICE) -> str:
    before = latest_request_id(env)
    response = client.command(text, user=user)
    assert response.status_code == 200
    found = wait_for(
        lambda: (rid := latest_request_id(env)) != before and rid, 10, f"a request for {text!r}"
    )
    return str(found)


def pending(client: Client, env: Env, text: str = "", user: str = ALICE) -> str:
    rid = submit(client, env, text or "migrate member-a to host-b keep ns1,ns2", user)
    wait_state(env, rid, S.PENDING)
    return rid


def later() -> str:
    """An `at` time two days ahead: an approved request then waits (scheduled) and never runs."""
    return (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%MZ")


def answer_to(env: Env, hook: str, timeout: float = 10.0) -> str:
    """Everything posted to a response_url, as one string."""
    wait_for(lambda: env.stub.responses(hook), timeout, f"an answer on {hook}")
    return " ".join(json.dumps(r) for r in env.stub.responses(hook))


def press(
    client: Client,
    action_id: str,
    value: str,
    user: str,
    *,
    team: str = TEAM_ID,
    channel: str = CHANNEL,
    ts: str | None = None,
    trigger_id: str | None = None,
) -> tuple[bytes, str]:
    """A signed button click with every field under the caller's control; (body, hook). A value
    naming an existing request becomes that request's current button value (id, version, plan),
    as on a freshly drawn message; any other value is sent as it is."""
    value = current_button_value(client.env, value)
    client._seq += 1
    hook = f"abuse-press-{client._seq}-{time.monotonic_ns()}"
    url = client.env.stub.response_url(hook, channel=channel, user=user)
    body = block_action_body(
        action_id,
        value,
        user,
        channel,
        ts or "1700000000.000100",
        url,
        team_id=team,
        trigger_id=trigger_id,
    )
    response = client.post(body, sign(SECRET, body))
    assert response.status_code == 200
    return body, hook


def everything_sent(env: Env, hooks: Sequence[str] = ()) -> str:
    """Every Web API call's arguments and every response_url body the stand-in received."""
    calls = [json.dumps(c.args, ensure_ascii=False) for c in env.stub.calls()]
    bodies = [json.dumps(b, ensure_ascii=False) for h in hooks for b in env.stub.responses(h)]
    return "\n".join(calls + bodies)


# ---- forged and altered requests --------------------------------------------------------------


def _command_body(text: str = "migrate member-a to host-b keep ns1,ns2") -> bytes:
    return slash_command_body(text, ALICE, CHANNEL, TEAM_ID, "http://127.0.0.1:9/never")


def _forgeries() -> list[tuple[str, bytes, dict[str, str]]]:
    body = _command_body()
    good = sign(SECRET, body)
    now = int(time.time())
    return [
        ("tampered after signing", body.replace(b"keep", b"discard"), good),
        ("extra field after signing", body + b"&user_id=U0BOB", good),
        ("wrong secret", body, sign("not-the-secret", body)),
        ("stale timestamp (6 min)", body, sign(SECRET, body, timestamp=now - 360)),
        ("future timestamp (6 min)", body, sign(SECRET, body, timestamp=now + 360)),
        ("no headers", body, {}),
        ("no signature", body, {"X-Slack-Request-Timestamp": str(now)}),
        ("no timestamp", body, {"X-Slack-Signature": good["X-Slack-Signature"]}),
        ("timestamp not a number", body, {**good, "X-Slack-Request-Timestamp": "1e9"}),
        ("signature of another body", body, sign(SECRET, _command_body("help"))),
        ("signature truncated", body, {**good, "X-Slack-Signature": "v0="}),
        ("not UTF-8, unsigned", b"\xff\xfe" + body, good),
    ]


@pytest.mark.parametrize("case", [c[0] for c in _forgeries()])
def test_forged_requests_get_401_and_change_nothing(
    shared: Client, shared_env: Env, case: str
) -> None:
    # signed now, not at collection: with several workers a test may run minutes after it,
    # and a timestamp "6 minutes ahead" would by then be inside Slack's window
    _case, body, headers = next(c for c in _forgeries() if c[0] == case)
    before = counts(shared_env)
    calls = len(shared_env.stub.calls())
    response = shared.post(body, headers)
    assert response.status_code == 401, case
    time.sleep(0.2)  # anything the bot might have started would show by now
    assert counts(shared_env) == before
    assert len(shared_env.stub.calls()) == calls


def test_oversized_bodies_are_refused_before_they_are_read(shared: Client, shared_env: Env) -> None:
    before = counts(shared_env)
    big = _command_body() + b"&pad=" + b"x" * (2 * 1024 * 1024)
    assert shared.post(big, sign(SECRET, big)).status_code == 413
    assert shared.post(big, {}).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while reading
        for _ in range(40):
            yield b"x" * 65536

    response = httpx.post(
        f"{shared.base}/slack/events",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, b"")},
    )
    assert response.status_code == 413
    assert counts(shared_env) == before
    assert shared.get("/healthz").status_code == 200


def _malformed() -> list[tuple[str, bytes, str]]:
    form = "application/x-www-form-urlencoded"
    return [
        ("payload is not JSON", b"payload=%7Bnot-json", form),
        ("payload is a JSON list", b"payload=" + quote("[1,2]").encode(), form),
        (
            "payload with wrongly typed parts",
            b"payload=" + quote('{"type":"block_actions","user":"U0BOB","actions":"x"}').encode(),
            form,
        ),
        ("payload nested past recursion", b"payload=" + quote("[" * 100_000).encode(), form),
        ("two payloads", b"payload=%7B%7D&payload=%7B%7D", form),
        ("repeated command fields", _command_body() + b"&user_id=U0BOB", form),
        ("not UTF-8", b"text=\xff\xfe", form),
        ("JSON body cut short", b'{"type":"block_actions"', "application/json"),
        ("JSON body not an object", b'"hello"', "application/json"),
    ]


@pytest.mark.parametrize(
    ("case", "body", "content_type"), _malformed(), ids=[c[0] for c in _malformed()]
)
def test_malformed_signed_payloads_get_400_and_change_nothing(
    shared: Client, shared_env: Env, case: str, body: bytes, content_type: str
) -> None:
    before = counts(shared_env)
    headers = {**sign(SECRET, body), "Content-Type": content_type}
    response = shared.post(body, headers)
    assert response.status_code == 400, (case, response.text)
    time.sleep(0.2)
    assert counts(shared_env) == before


# ---- replays within the 5-minute window ---------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path, migrated_db_url: str) -> Iterator[Env]:
    with environment(tmp_path, migrated_db_url, KSMC_REQUIRED_APPROVALS="2") as e:
        yield e


@pytest.fixture
def bot(env: Env) -> Iterator[Client]:
    with in_process(env) as (client, _bot):
        yield client


def _all_at_once(n: int, send: Any) -> list[Any]:
    results: list[Any] = [None] * n
    gate = threading.Barrier(n)

    def run(i: int) -> None:
        gate.wait()
        results[i] = send()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_replayed_command_and_press_act_once(bot: Client, env: Env) -> None:
    """The same signed bytes sent again (at once and later, inside the window) are acked but
    dropped: one request, one approval, and no refusal either (the replay never got that far)."""
    url = env.stub.response_url("replayed", channel=CHANNEL, user=ALICE)
    body = slash_command_body(
        "migrate member-a to host-b keep ns1,ns2", ALICE, CHANNEL, TEAM_ID, url
    )
    headers = sign(SECRET, body)
    statuses = _all_at_once(4, lambda: bot.post(body, headers).status_code)
    assert statuses == [200] * 4
    rid = wait_for(lambda: latest_request_id(env), 10, "the request")
    wait_state(env, rid, S.PENDING)
    assert bot.post(body, headers).status_code == 200  # and once more, later
    time.sleep(0.5)
    assert counts(env)[0] == 1
    assert [e["action"] for e in events(env)].count("command.received") == 1

    ts = message_ts(env, rid) or "0.0"
    hook_url = env.stub.response_url("press", channel=CHANNEL, message_ts=ts, user=BOB)
    value = current_button_value(env, rid)
    click = block_action_body("ksmc_approve", value, BOB, CHANNEL, ts, hook_url)
    click_headers = sign(SECRET, click)
    statuses = _all_at_once(4, lambda: bot.post(click, click_headers).status_code)
    assert statuses == [200] * 4
    wait_for(lambda: counts(env)[1] == 1, 10, "the approval")
    assert bot.post(click, click_headers).status_code == 200
    time.sleep(0.5)
    assert counts(env)[1] == 1  # two approvals are required: a counted replay would approve it
    assert state(env, rid) is S.PENDING
    actions = [e["action"] for e in events(env, rid)]
    assert actions.count("approval.added") == 1
    assert "approval.refused" not in actions


def seen_keys(env: Env) -> set[str]:
    engine = db.make_engine(env.database_url)
    try:
        with db.session_factory(engine)() as session:
            return set(session.execute(select(SeenPayload.key)).scalars())
    finally:
        engine.dispose()


def test_the_leader_forgets_replay_keys_slack_can_no_longer_send_and_keeps_the_rest(
    env: Env,
) -> None:
    """The keys that refuse replays are kept an hour (a signed request is refused once its
    timestamp is 5 minutes old, and Slack retries an event for about 5 minutes), then the
    leader forgets them: without that the table grew by a row for every command and press,
    forever. A replay inside the window is still dropped."""
    engine = db.make_engine(env.database_url)
    try:
        with db.session_factory(engine).begin() as session:
            assert store.mark_seen(session, "two-hours-ago", at=utcnow() - timedelta(hours=2))
            assert store.mark_seen(session, "a-minute-ago", at=utcnow() - timedelta(minutes=1))
    finally:
        engine.dispose()
    with in_process(env) as (client, _bot):
        wait_for(lambda: "two-hours-ago" not in seen_keys(env), 15, "the old key to be forgotten")
        assert "a-minute-ago" in seen_keys(env)
        url = env.stub.response_url("kept", channel=CHANNEL, user=ALICE)
        body = slash_command_body(
            "migrate member-a to host-b keep ns1,ns2", ALICE, CHANNEL, TEAM_ID, url
        )
        headers = sign(SECRET, body)
        assert client.post(body, headers).status_code == 200
        rid = wait_for(lambda: latest_request_id(env), 10, "the request")
        wait_state(env, rid, S.PENDING)
        assert client.post(body, headers).status_code == 200
        time.sleep(0.5)
        assert counts(env)[0] == 1
        assert [e["action"] for e in events(env)].count("command.received") == 1


def test_concurrent_presses_by_requester_and_approvers_count_once_each(
    bot: Client, env: Env
) -> None:
    """Two approvals required; the requester presses from two channels, BOB three times and DAVE
    twice, all at once: the requester never counts, nobody counts twice, and the request is
    approved exactly once (a press that loses a race is told to look again)."""
    rid = pending(bot, env, f"migrate member-a to host-b keep ns1,ns2 at {later()}")
    presses = [(ALICE, CHANNEL), (ALICE, "C0ELSEWHERE"), (BOB, CHANNEL), (BOB, CHANNEL)]
    presses += [(BOB, "C0ELSEWHERE"), (DAVE, CHANNEL), (DAVE, CHANNEL)]
    gate = threading.Barrier(len(presses))

    def go(user: str, channel: str) -> None:
        gate.wait()
        press(bot, "ksmc_approve", rid, user, channel=channel)

    threads = [threading.Thread(target=go, args=p) for p in presses]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    decided = {"approval.refused", "approval.added", "request.approved"}
    wait_for(
        lambda: len([e for e in events(env, rid) if e["action"] in decided]) == len(presses),
        20,
        "every press to be decided",
    )
    approvers = _approvers(env, rid)
    assert set(approvers) <= {BOB, DAVE} and len(approvers) == len(set(approvers))
    for missing in sorted({BOB, DAVE} - set(approvers)):  # lost every race: press once more
        press(bot, "ksmc_approve", rid, missing)
    wait_state(env, rid, S.SCHEDULED)
    assert sorted(_approvers(env, rid)) == sorted([BOB, DAVE])
    found = events(env, rid)
    assert [e["action"] for e in found].count("request.approved") == 1
    alice = [e for e in found if e["actor"] == ALICE and e["action"].startswith("approv")]
    assert len(alice) == 2
    assert all(e["action"] == "approval.refused" for e in alice)
    assert all("own request" in e["details"]["reason"] for e in alice)


def _approvers(env: Env, request_id: str) -> list[str]:
    engine = db.make_engine(env.database_url)
    try:
        with db.session_factory(engine)() as session:
            query = select(Approval.approver_id).where(Approval.request_id == request_id)
            return list(session.execute(query).scalars())
    finally:
        engine.dispose()


# ---- what a button's value names ---------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["r-does-not-exist", "' OR 1=1 --", "../../requests/1", "x" * 5000, ""],
    ids=["unknown", "sql", "path", "5000 chars", "empty"],
)
def test_press_naming_no_request_is_refused_and_audited(
    shared: Client, shared_env: Env, value: str
) -> None:
    mark = last_event_id(shared_env)
    before = counts(shared_env)
    _body, hook = press(shared, "ksmc_approve", value, BOB)
    assert "no such request" in answer_to(shared_env, hook)
    refused = [e for e in events(shared_env, since=mark) if e["action"] == "approval.refused"]
    assert len(refused) == 1
    assert refused[0]["request_id"] is None
    assert len(refused[0]["details"]["pressed"]) <= 64
    assert counts(shared_env)[:2] == before[:2]


def test_press_on_another_message_naming_own_request_is_refused(
    shared: Client, shared_env: Env
) -> None:
    """BOB's button on ALICE's message, altered to name BOB's own request: the value is checked
    against the request it names, never against the message it was on."""
    alices = pending(shared, shared_env)
    bobs = pending(shared, shared_env, user=BOB)
    _body, hook = press(
        shared, "ksmc_approve", bobs, BOB, ts=message_ts(shared_env, alices) or "1.2"
    )
    assert "cannot approve your own request" in answer_to(shared_env, hook)
    assert state(shared_env, bobs) is S.PENDING
    assert "approval.refused" in [e["action"] for e in events(shared_env, bobs)]
    for rid in (alices, bobs):
        press(shared, "ksmc_reject", rid, DAVE)
        wait_state(shared_env, rid, S.REJECTED)


def test_press_from_another_team_is_refused_and_audited(shared: Client, shared_env: Env) -> None:
    rid = pending(shared, shared_env)
    for action in ("ksmc_approve", "ksmc_reject", "ksmc_cancel", "ksmc_retry", "ksmc_abandon"):
        _body, hook = press(shared, action, rid, BOB, team="T0INTRUDER")
        assert "workspace" in answer_to(shared_env, hook)
    assert state(shared_env, rid) is S.PENDING
    actions = [e["action"] for e in events(shared_env, rid)]
    assert "approval.refused" in actions
    assert "approval.added" not in actions and "request.approved" not in actions
    press(shared, "ksmc_cancel", rid, ALICE)
    wait_state(shared_env, rid, S.CANCELLED)


def test_presses_on_finished_requests_are_refused_and_audited(
    shared: Client, shared_env: Env
) -> None:
    rid = pending(shared, shared_env)
    press(shared, "ksmc_reject", rid, BOB)
    wait_state(shared_env, rid, S.REJECTED)
    mark = last_event_id(shared_env)
    expected = {
        "ksmc_approve": ("approval.refused", "rejected, not pending"),
        "ksmc_reject": ("rejected.refused", "cannot be rejected"),
        "ksmc_cancel": ("cancelled.refused", "cannot be cancelled"),
        "ksmc_retry": ("retry.refused", "not failed"),
        "ksmc_abandon": ("abandon.refused", "not failed"),
    }
    for action, (_audited, said) in expected.items():
        _body, hook = press(shared, action, rid, BOB)
        assert said in answer_to(shared_env, hook), action
    assert state(shared_env, rid) is S.REJECTED
    actions = [e["action"] for e in events(shared_env, rid, since=mark)]
    assert sorted(actions) == sorted(a for a, _ in expected.values())


def test_press_on_expired_request_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    db.upgrade(url)
    with environment(tmp_path, url, KSMC_APPROVAL_TTL="2s") as env, in_process(env) as (bot, _):
        rid = pending(bot, env)
        wait_state(env, rid, S.EXPIRED, timeout=15)
        _body, hook = press(bot, "ksmc_approve", rid, BOB)
        assert "expired, not pending" in answer_to(env, hook)
        assert state(env, rid) is S.EXPIRED
        assert "approval.refused" in [e["action"] for e in events(env, rid)]
        assert counts(env)[1] == 0


# ---- who may do what ---------------------------------------------------------------------------


def test_approver_removed_from_group_or_deactivated_cannot_approve(tmp_path: Path) -> None:
    """Membership and account state are read from Slack at the moment of a decision: a cached
    "yes" from a minute ago does not approve."""
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    db.upgrade(url)
    with environment(tmp_path, url) as env, in_process(env) as (bot, _):
        first = pending(bot, env, f"migrate member-a to host-b keep ns1,ns2 at {later()}")
        press(bot, "ksmc_approve", first, DAVE)  # DAVE approves through S0OPS: cache is warm
        wait_state(env, first, S.SCHEDULED)
        press(bot, "ksmc_cancel", first, DAVE)
        wait_state(env, first, S.CANCELLED)

        env.stub.add_usergroup(OPS_GROUP, [])  # DAVE leaves the ops group
        second = pending(bot, env)
        _body, hook = press(bot, "ksmc_approve", second, DAVE)
        assert "not one of the approvers" in answer_to(env, hook)
        _body, hook = press(bot, "ksmc_reject", second, DAVE)
        assert "Only the requester or an approver" in answer_to(env, hook)
        assert state(env, second) is S.PENDING

        env.stub.add_user(BOB, "bob", real_name="Bob Approver", deleted=True)  # deactivated
        _body, hook = press(bot, "ksmc_approve", second, BOB)
        assert "deactivated" in answer_to(env, hook)
        assert state(env, second) is S.PENDING
        assert counts(env)[1] == 1  # DAVE's approval of the first request, nothing since


@pytest.mark.parametrize("user", [GUEST, ROBOT, GONE], ids=["guest", "bot", "deactivated"])
def test_guests_bots_and_deactivated_users_hold_no_power(
    shared: Client, shared_env: Env, user: str
) -> None:
    """They are even listed in KSMC_APPROVERS here: still no approve, reject, cancel (of
    another's request), retry or abandon, and no requests of their own."""
    rid = pending(shared, shared_env)
    for action in ("ksmc_approve", "ksmc_reject", "ksmc_cancel", "ksmc_abandon", "ksmc_retry"):
        _body, hook = press(shared, action, rid, user)
        answer_to(shared_env, hook)
    response = shared.command(f"cancel {rid}", user=user)
    answer_to(shared_env, hook_of(response))
    assert state(shared_env, rid) is S.PENDING
    before = counts(shared_env)[0]
    response = shared.command("migrate member-a to host-b keep ns1,ns2", user=user)
    assert "cannot request" in answer_to(shared_env, hook_of(response))
    assert counts(shared_env)[0] == before
    refused = {e["action"] for e in events(shared_env, rid) if e["actor"] == user}
    assert refused == {
        "approval.refused",
        "rejected.refused",
        "cancelled.refused",
        "abandon.refused",
        "retry.refused",
    }
    press(shared, "ksmc_cancel", rid, ALICE)
    wait_state(shared_env, rid, S.CANCELLED)


def test_requesters_setting_limits_who_may_ask(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    db.upgrade(url)
    extra = {"KSMC_REQUESTERS": f"{ALICE},{OPS_GROUP}"}
    with environment(tmp_path, url, **extra) as env, in_process(env) as (bot, _):
        response = bot.command("migrate member-a to host-b keep ns1,ns2", user=CAROL)
        assert "not allowed to request" in answer_to(env, hook_of(response))
        assert counts(env)[0] == 0
        refused = [e for e in events(env) if e["action"] == "request.refused"]
        assert [e["actor"] for e in refused] == [CAROL]
        dave = submit(bot, env, "migrate member-a to host-b keep ns1,ns2 dry-run", user=DAVE)
        alice = submit(bot, env, "migrate member-a to host-b keep ns1,ns2 dry-run", user=ALICE)
        assert dave != alice
        assert counts(env)[0] == 2


def test_bystander_cannot_cancel_or_reject_anothers_request(
    shared: Client, shared_env: Env
) -> None:
    rid = pending(shared, shared_env)
    response = shared.command(f"cancel {rid}", user=CAROL)
    assert "Only the requester or an approver" in answer_to(
        shared_env,
        hook_of(response),
    )
    for action in ("ksmc_cancel", "ksmc_reject"):
        _body, hook = press(shared, action, rid, CAROL)
        assert "Only the requester or an approver" in answer_to(shared_env, hook)
    assert state(shared_env, rid) is S.PENDING
    actions = [e["action"] for e in events(shared_env, rid) if e["actor"] == CAROL]
    assert actions == ["cancelled.refused", "cancelled.refused", "rejected.refused"]
    shared.command(f"cancel {rid}", user=ALICE)
    wait_state(shared_env, rid, S.CANCELLED)


# ---- injection ---------------------------------------------------------------------------------

INJECTIONS = {
    "label selector in keep": ("migrate member-a to host-b keep app=web", "namespace"),
    "set-based selector": ("migrate member-a to host-b keep env!=prod", "namespace"),
    "selector with parens": ("migrate member-a to host-b keep tier in (a,b)", "namespace"),
    "negation": ("migrate member-a to host-b keep !ns1", "namespace"),
    "path traversal member": ("migrate ../member-a to host-b", "cluster"),
    "path traversal keep": ("migrate member-a to host-b keep ../../etc", "namespace"),
    "encoded traversal": ("migrate member-a to host-b keep ns1%2F..", "namespace"),
    "slash in workspace": ("migrate member-a to host-b keep ns1 into team/../x", "workspace"),
    "JSON object": ('migrate member-a to host-b keep {"ns1":1}', "namespace"),
    "JSON list": ('migrate member-a to host-b keep ["ns1"]', "namespace"),
    "YAML mapping": ("migrate member-a to host-b keep ns1: {kind: Secret}", "namespace"),
    "YAML list on a new line": ("migrate member-a to host-b keep ns1\n- ns2", "namespace"),
    "YAML anchor": ("migrate member-a to host-b keep &a ns1", "namespace"),
    "uppercase": ("migrate member-a to host-b keep NS1", "namespace"),
    "64 characters": ("migrate member-a to host-b keep " + "a" * 64, "namespace"),
    "selector as status cluster": ("status env=prod", "cluster"),
}


@pytest.mark.parametrize(("text", "kind"), INJECTIONS.values(), ids=INJECTIONS.keys())
def test_injected_names_are_rejected_with_a_clear_message_and_nothing_stored(
    shared: Client, shared_env: Env, text: str, kind: str
) -> None:
    before = counts(shared_env)
    mark = last_event_id(shared_env)
    response = shared.command(text)
    assert response.status_code == 200
    said = answer_to(shared_env, hook_of(response))
    assert f"is not a valid {kind} name" in said, said
    assert "Usage" in said
    assert counts(shared_env)[:2] == before[:2]
    assert [e["action"] for e in events(shared_env, since=mark)] == ["command.usage_error"]


RAW = ("<!channel>", "<!here>", "<!everyone>", "<@U0CAROL>", "<!subteam^S0OPS>", "<https://evil")


@pytest.mark.parametrize(
    "text",
    [
        "migrate <!channel> to host-b",
        "migrate member-a to host-b keep <@U0CAROL>",
        "<!here> *bold* `code` <https://evil.example|click me>",
        "status <!everyone>",
        "migrate member-a to host-b keep ns1 <!subteam^S0OPS>",
    ],
)
def test_mentions_and_formatting_in_command_text_are_escaped(
    shared: Client, shared_env: Env, text: str
) -> None:
    calls = len(shared_env.stub.calls())
    response = shared.command(text)
    hook = hook_of(response)
    said = answer_to(shared_env, hook)
    assert "&lt;" in said
    sent = everything_sent(shared_env, [hook]) + "".join(
        json.dumps(c.args) for c in shared_env.stub.calls()[calls:]
    )
    for raw in RAW:
        assert raw not in sent


def test_mentions_in_cluster_supplied_text_are_escaped(tmp_path: Path) -> None:
    """A cluster's error messages reach Slack (preflight's unreadable clusters, a failed step):
    whatever they contain is shown as text, never as a broadcast, mention or link."""
    evil = "<!channel> <!here> <@U0CAROL> <https://evil.example|fix> *urgent* `x`"
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    db.upgrade(url)
    with environment(tmp_path, url) as env, in_process(env) as (bot, _):
        host_a = env.world.clusters["host-a"]
        host_a.add_fault(
            {
                "method": "GET",
                "path": "/namespaces/kubesphere-system/configmaps",
                "status": 403,
                "message": evil,
            }
        )
        blocked = submit(bot, env, "migrate member-a to host-b keep ns1,ns2")
        wait_for(lambda: state(env, blocked) in (S.BLOCKED, S.PENDING), 20, "preflight")
        with env.world.lock:
            host_a.faults.clear()
        if state(env, blocked) is S.PENDING:
            bot.command(f"cancel {blocked}")
            wait_state(env, blocked, S.CANCELLED)

        host_b = env.world.clusters["host-b"]
        host_b.add_fault({"method": "POST", "path": "/clusters$", "status": 403, "message": evil})
        rid = pending(bot, env)
        press(bot, "ksmc_approve", rid, BOB)
        wait_state(env, rid, S.FAILED, timeout=60)
        ts = wait_for(lambda: message_ts(env, rid), 10, "the request message")
        wait_for(lambda: env.stub.thread(CHANNEL, ts), 10, "the failure reply")
        time.sleep(1.5)  # the last throttled edit of the request message
        sent = everything_sent(env)
        assert "&lt;!channel&gt;" in sent
        for raw in RAW:
            assert raw not in sent, raw
        assert env.stub.violations == []


def test_newlines_in_logged_values_cannot_forge_log_lines(
    shared: Client, shared_env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """A value from Slack that reaches a log line (here a user id Slack does not know) is written
    on one line, and a secret in a log line is redacted."""
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(SafeLogFilter([SECRET]))
    forged = "U0X\n2026-01-01 00:00:00 INFO ksmc.service: request approved by admin"
    url = shared_env.stub.response_url("forged-user", channel=CHANNEL, user=ALICE)
    body = slash_command_body("migrate member-a to host-b keep ns1", forged, CHANNEL, TEAM_ID, url)
    assert shared.post(body, sign(SECRET, body)).status_code == 200
    wait_for(lambda: shared_env.stub.responses("forged-user"), 10, "the answer")
    logging.getLogger("ksmc.test").warning("the secret is %s", SECRET)
    text = caplog.text
    assert "U0X\\n2026-01-01" in text
    assert "\n2026-01-01 00:00:00 INFO ksmc.service" not in text
    assert SECRET not in text
    for record in caplog.records:
        assert "\n" not in record.getMessage()


def test_serve_installs_the_log_filter(tmp_path: Path) -> None:
    """`ksmc-bot serve` itself writes one line per record and redacts its own secrets."""
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    db.upgrade(url)
    log_path = tmp_path / "bot.log"
    with environment(tmp_path, url, KSMC_LOG_LEVEL="DEBUG") as env:
        process = BotProcess(env, log_path)
        client = process.start()
        try:
            forged = "U0X\nFORGED LINE"
            hook = env.stub.response_url("serve-forged", channel=CHANNEL, user=ALICE)
            body = slash_command_body(
                "migrate member-a to host-b keep ns1", forged, CHANNEL, TEAM_ID, hook
            )
            assert client.post(body, sign(SECRET, body)).status_code == 200
            wait_for(lambda: env.stub.responses("serve-forged"), 10, "the answer")
        finally:
            process.stop()
    logged = log_path.read_text()
    assert "U0X\\nFORGED LINE" in logged
    assert "\nFORGED LINE" not in logged
    assert SECRET not in logged
