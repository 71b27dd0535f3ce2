"""Proves the Slack stand-in (``tests/support/slackstub``) behaves like Slack for the real clients.

Everything goes through the unpatched ``slack_sdk.WebClient``/``WebhookClient``/Socket Mode client
and slack_bolt over real sockets. Checked here: post/thread/update/delete and ephemeral flows and
their Slack errors; every Block Kit and message limit (at the limit passes, one over fails with
Slack's error and a recorded violation); the missing-fallback-text and per-channel write-rate
rules; 429 + Retry-After honoured by ``RateLimitErrorRetryHandler``; scripted failures; token
rules; ``users.info``/``usergroups.users.list``/``conversations.info``/``views.publish`` shapes;
response_url effects and limits; request signing against Slack's worked example,
``SignatureVerifier`` and Bolt's own verification; and a Socket Mode envelope round trip with
slack_sdk's builtin client and with Bolt's ``SocketModeHandler``.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qs, unquote

import pytest
from slack_bolt import Ack, App, BoltRequest, Respond
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.webhook import WebhookClient
from slackstub import (
    BOT_USER_ID,
    TEAM_ID,
    SlackStub,
    block_action_body,
    block_action_payload,
    sign,
    slash_command_body,
    slash_command_fields,
)

BOT_TOKEN = "xoxb-ksmc-test"
APP_TOKEN = "xapp-1-ksmc-test"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # slack_sdk reads HTTP(S)_PROXY itself and ignores NO_PROXY, so a proxy would swallow
    # requests to 127.0.0.1.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def stub() -> Iterator[SlackStub]:
    with SlackStub() as running:
        yield running


@pytest.fixture
def client(stub: SlackStub) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=stub.api_url)


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(action_id: str, text: str = "Approve", value: str = "req-1") -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }


def api_error(excinfo: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(excinfo.value.response["error"])


# --- messages -----------------------------------------------------------------------------------


def test_post_thread_update_delete(stub: SlackStub, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C0OPS", text="Migration plan", blocks=[section("x")])
    assert parent["ok"] and parent["channel"] == "C0OPS"
    assert parent["message"]["user"] == BOT_USER_ID and parent["message"]["bot_id"] == "B0BOT"
    reply = client.chat_postMessage(channel="C0OPS", text="step 1", thread_ts=parent["ts"])
    assert float(reply["ts"]) > float(parent["ts"])
    assert len(reply["ts"].split(".")[1]) == 6

    updated = client.chat_update(channel="C0OPS", ts=reply["ts"], text="step 1 done")
    assert updated["ts"] == reply["ts"] and updated["text"] == "step 1 done"
    client.chat_update(
        channel="C0OPS", ts=parent["ts"], text="Migration done", blocks=[section("done")]
    )

    [first, second] = stub.messages("C0OPS")
    assert (first.text, first.blocks[0]["text"]["text"]) == ("Migration done", "done")
    assert [e.text for e in first.edits] == ["Migration plan"]
    assert second.thread_ts == parent["ts"] and second.text == "step 1 done"
    assert stub.thread("C0OPS", parent["ts"]) == [second]

    client.chat_delete(channel="C0OPS", ts=reply["ts"])
    assert [m.ts for m in stub.messages("C0OPS")] == [parent["ts"]]

    [call] = stub.calls("chat.delete")
    assert call.args == {"channel": "C0OPS", "ts": reply["ts"]}
    assert call.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    assert call.ok and call.time <= time.time()
    assert stub.violations == []


def test_update_keeps_blocks_unless_given(stub: SlackStub, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C0OPS", text="a", blocks=[section("a")])
    client.chat_update(channel="C0OPS", ts=posted["ts"], text="b")
    message = stub.message("C0OPS", posted["ts"])
    assert message is not None
    assert (message.text, message.blocks) == ("b", [section("a")])
    assert message.edited and message.as_payload()["edited"]["user"] == BOT_USER_ID


def test_update_and_delete_errors(stub: SlackStub, client: WebClient) -> None:
    human = stub.add_message("C0OPS", "hello", user="UALICE")
    with pytest.raises(SlackApiError) as e:
        client.chat_update(channel="C0OPS", ts="1.000001", text="x")
    assert api_error(e) == "message_not_found"
    with pytest.raises(SlackApiError) as e:
        client.chat_update(channel="C0OPS", ts=human.ts, text="x")
    assert api_error(e) == "cant_update_message"
    with pytest.raises(SlackApiError) as e:
        client.chat_delete(channel="C0OPS", ts=human.ts)
    assert api_error(e) == "cant_delete_message"
    assert stub.messages("C0OPS") == [human]
    assert stub.violations == []


def test_ephemeral(stub: SlackStub, client: WebClient) -> None:
    stub.add_user("UALICE", "alice")
    answer = client.chat_postEphemeral(channel="C0OPS", user="UALICE", text="only you")
    assert answer["ok"] and "message_ts" in answer
    [shown] = stub.ephemerals("C0OPS", "UALICE")
    assert (shown.ts, shown.text) == (answer["message_ts"], "only you")
    assert stub.ephemerals("C0OPS", "UBOB") == [] and stub.messages("C0OPS") == []
    with pytest.raises(SlackApiError) as e:
        client.chat_postEphemeral(channel="C0OPS", user="UNOBODY", text="?")
    assert api_error(e) == "user_not_in_channel"
    assert stub.violations == []


def test_dm_and_membership(stub: SlackStub, client: WebClient) -> None:
    stub.add_user("UALICE", "alice")
    dm = client.chat_postMessage(channel="UALICE", text="approve?")
    assert dm["channel"] == stub.dm_channel("UALICE")
    assert [m.text for m in stub.messages("UALICE")] == ["approve?"]

    stub.add_channel("C0PRIV", "secret-ops", is_private=True, is_member=False)
    with pytest.raises(SlackApiError) as e:
        client.chat_postMessage(channel="C0PRIV", text="hi")
    assert api_error(e) == "not_in_channel"
    info = client.conversations_info(channel="C0PRIV")["channel"]
    assert (info["name"], info["is_private"], info["is_member"]) == ("secret-ops", True, False)
    assert stub.violations == []


# --- rules --------------------------------------------------------------------------------------

LIMIT_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    # name, kwargs at the limit (accepted), kwargs one over (rejected), Slack's error
    (
        "blocks per message",
        {"blocks": [{"type": "divider"}] * 50},
        {"blocks": [{"type": "divider"}] * 51},
        "invalid_blocks",
    ),
    (
        "section text",
        {"blocks": [section("x" * 3000)]},
        {"blocks": [section("x" * 3001)]},
        "invalid_blocks",
    ),
    (
        "section fields count",
        {"blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 10}]},
        {"blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}]},
        "invalid_blocks",
    ),
    (
        "section field text",
        {"blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2000}]}]},
        {"blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}]},
        "invalid_blocks",
    ),
    (
        "header text",
        {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 150}}]},
        {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]},
        "invalid_blocks",
    ),
    (
        "header is plain_text",
        {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h"}}]},
        {"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]},
        "invalid_blocks",
    ),
    (
        "button text",
        {"blocks": [{"type": "actions", "elements": [button("a", text="b" * 75)]}]},
        {"blocks": [{"type": "actions", "elements": [button("a", text="b" * 76)]}]},
        "invalid_blocks",
    ),
    (
        "action_id length",
        {"blocks": [{"type": "actions", "elements": [button("a" * 255)]}]},
        {"blocks": [{"type": "actions", "elements": [button("a" * 256)]}]},
        "invalid_blocks",
    ),
    (
        "action_id unique in block",
        {
            "blocks": [
                {"type": "actions", "elements": [button("a")]},
                {"type": "actions", "elements": [button("a")]},
            ]
        },
        {"blocks": [{"type": "actions", "elements": [button("a"), button("a")]}]},
        "invalid_blocks",
    ),
    (
        "button value",
        {"blocks": [{"type": "actions", "elements": [button("a", value="v" * 2000)]}]},
        {"blocks": [{"type": "actions", "elements": [button("a", value="v" * 2001)]}]},
        "invalid_blocks",
    ),
    (
        "actions elements",
        {"blocks": [{"type": "actions", "elements": [button(f"a{i}") for i in range(25)]}]},
        {"blocks": [{"type": "actions", "elements": [button(f"a{i}") for i in range(26)]}]},
        "invalid_blocks",
    ),
    (
        "block_id length",
        {"blocks": [section("x", block_id="b" * 255)]},
        {"blocks": [section("x", block_id="b" * 256)]},
        "invalid_blocks",
    ),
    (
        "block_id unique",
        {"blocks": [section("x", block_id="b1"), section("y", block_id="b2")]},
        {"blocks": [section("x", block_id="b1"), section("y", block_id="b1")]},
        "invalid_blocks",
    ),
    (
        "context elements",
        {"blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 10}]},
        {"blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}]},
        "invalid_blocks",
    ),
    (
        "text object type",
        {"blocks": [{"type": "section", "text": {"type": "plain_text", "text": "x"}}]},
        {"blocks": [{"type": "section", "text": {"type": "markdown", "text": "x"}}]},
        "invalid_blocks",
    ),
    (
        "text object not empty",
        {"blocks": [section("x")]},
        {"blocks": [section("")]},
        "invalid_blocks",
    ),
    (
        "emoji only on plain_text",
        {
            "blocks": [
                {"type": "section", "text": {"type": "plain_text", "text": "x", "emoji": True}}
            ]
        },
        {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x", "emoji": True}}]},
        "invalid_blocks",
    ),
    ("top-level text", {"text": "t" * 40000}, {"text": "t" * 40001}, "msg_too_long"),
    ("text or blocks", {"text": "t"}, {"text": ""}, "no_text"),
    ("channel", {"text": "t"}, {"text": "t", "channel": ""}, "channel_not_found"),
    ("channel exists", {"text": "t"}, {"text": "t", "channel": "#ops"}, "channel_not_found"),
]


@pytest.mark.parametrize(
    ("at_limit", "over_limit", "error"),
    [case[1:] for case in LIMIT_CASES],
    ids=[case[0] for case in LIMIT_CASES],
)
def test_limits(
    stub: SlackStub,
    client: WebClient,
    at_limit: dict[str, Any],
    over_limit: dict[str, Any],
    error: str,
) -> None:
    def post(kwargs: dict[str, Any]) -> Any:
        args = {"channel": "C0OPS", "text": "fallback"} | kwargs
        return client.api_call("chat.postMessage", json=args)

    assert post(at_limit)["ok"]
    assert stub.violations == []
    with pytest.raises(SlackApiError) as e:
        post(over_limit)
    assert api_error(e) == error
    assert len(stub.violations) >= 1 and all(error in v for v in stub.violations)
    if error == "invalid_blocks":
        assert e.value.response["response_metadata"]["messages"][0].startswith("[ERROR] ")
    assert len(stub.messages("C0OPS")) == 1


def test_slack_sdk_models_pass(stub: SlackStub, client: WebClient) -> None:
    """No false positives on what slack_sdk.models renders (the bot's renderers use them)."""
    blocks = [
        HeaderBlock(text="Migrate web"),
        SectionBlock(
            text="*plan*",
            fields=["from: a", "to: b"],
            accessory=ButtonElement(text="Details", action_id="details", value="r1"),
        ),
        DividerBlock(),
        ContextBlock(elements=[MarkdownTextObject(text="requested by <@UALICE>")]),
        ActionsBlock(
            block_id="decide",
            elements=[
                ButtonElement(
                    text="Approve",
                    action_id="approve",
                    value="r1",
                    style="primary",
                    confirm=ConfirmObject(title="Sure?", text="Migrate web?"),
                ),
                ButtonElement(text="Reject", action_id="reject", value="r1", style="danger"),
            ],
        ),
    ]
    client.chat_postMessage(channel="C0OPS", text="Migrate web?", blocks=blocks)
    client.chat_postEphemeral(channel="C0OPS", user=BOT_USER_ID, text="hint", blocks=blocks)
    client.views_publish(user_id="UALICE", view=View(type="home", blocks=blocks))
    assert stub.violations == []


def test_update_obeys_the_same_rules(stub: SlackStub, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C0OPS", text="a")
    with pytest.raises(SlackApiError) as e:
        client.chat_update(channel="C0OPS", ts=posted["ts"], text="a", blocks=[section("x" * 3001)])
    assert api_error(e) == "invalid_blocks"
    with pytest.raises(SlackApiError) as e, pytest.warns(UserWarning):
        client.chat_update(channel="C0OPS", ts=posted["ts"])
    assert api_error(e) == "no_text"
    assert len(stub.violations) == 2


def test_form_encoded_blocks(stub: SlackStub, client: WebClient) -> None:
    blocks = json.dumps([section("from a form")])
    client.api_call("chat.postMessage", params={"channel": "C0OPS", "text": "t", "blocks": blocks})
    assert stub.messages("C0OPS")[0].blocks == [section("from a form")]
    assert stub.calls("chat.postMessage")[0].args["blocks"] == [section("from a form")]
    with pytest.raises(SlackApiError) as e:
        client.api_call(
            "chat.postMessage", params={"channel": "C0OPS", "text": "t", "blocks": "[{"}
        )
    assert api_error(e) == "invalid_blocks_format"


def test_blocks_without_fallback_text_is_a_violation(stub: SlackStub, client: WebClient) -> None:
    with pytest.warns(UserWarning, match="top-level `text` argument is missing"):
        answer = client.chat_postMessage(channel="C0OPS", blocks=[section("no fallback")])
    assert answer["ok"]  # Slack accepts it ...
    [violation] = stub.violations  # ... but the bot must not do it
    assert "missing_text_fallback" in violation


def test_write_rate_per_channel() -> None:
    with SlackStub(write_window_s=5.0, max_writes_per_window=3) as stub:
        client = WebClient(token=BOT_TOKEN, base_url=stub.api_url)
        posted = client.chat_postMessage(channel="C0OPS", text="progress 0")
        for i in range(1, 3):
            client.chat_update(channel="C0OPS", ts=posted["ts"], text=f"progress {i}")
        client.chat_postMessage(channel="C0OTHER", text="elsewhere")
        assert stub.violations == []
        client.chat_update(channel="C0OPS", ts=posted["ts"], text="progress 3")
        [violation] = stub.violations
        assert "chat.update" in violation and "4 writes to C0OPS" in violation


def test_default_write_rate_allows_a_burst(stub: SlackStub, client: WebClient) -> None:
    for i in range(8):
        client.chat_postMessage(channel="C0OPS", text=f"m{i}")
    assert stub.violations == []
    client.chat_postMessage(channel="C0OPS", text="m8")
    assert len(stub.violations) == 1


# --- 429, injected failures, auth -----------------------------------------------------------------


def test_429_retry_after_is_honoured(stub: SlackStub) -> None:
    client = WebClient(
        token=BOT_TOKEN,
        base_url=stub.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    stub.rate_limit("chat.postMessage", times=1, retry_after=1)
    started = time.monotonic()
    answer = client.chat_postMessage(channel="C0OPS", text="after the wait")
    waited = time.monotonic() - started
    assert answer["ok"] and waited >= 1.0
    limited, passed = stub.calls("chat.postMessage")
    assert (limited.status, limited.response["error"]) == (429, "ratelimited")
    assert passed.ok and passed.time - limited.time >= 1.0
    assert [m.text for m in stub.messages("C0OPS")] == ["after the wait"]
    assert stub.violations == []


def test_429_without_retry_handler_surfaces(stub: SlackStub, client: WebClient) -> None:
    stub.rate_limit("users.info", retry_after=7)
    with pytest.raises(SlackApiError) as e:
        client.users_info(user=BOT_USER_ID)
    assert e.value.response.status_code == 429
    assert e.value.response.headers["Retry-After"] == "7"
    assert client.users_info(user=BOT_USER_ID)["ok"]


def test_injected_failure(stub: SlackStub, client: WebClient) -> None:
    stub.fail("chat.postMessage", error="internal_error", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as e:
            client.chat_postMessage(channel="C0OPS", text="x")
        assert api_error(e) == "internal_error"
    assert client.chat_postMessage(channel="C0OPS", text="x")["ok"]
    assert stub.violations == []


def test_auth_rules(stub: SlackStub) -> None:
    def error(token: str | None, method: str = "auth.test") -> str:
        with pytest.raises(SlackApiError) as e:
            WebClient(token=token, base_url=stub.api_url).api_call(method)
        return api_error(e)

    assert error(None) == "not_authed"
    assert error("garbage") == "invalid_auth"
    assert error(APP_TOKEN) == "not_allowed_token_type"
    assert error(BOT_TOKEN, "apps.connections.open") == "not_allowed_token_type"
    assert error(BOT_TOKEN, "chat.fly") == "unknown_method"
    assert len(stub.violations) == 5

    # A form-encoded token= works too (some clients still send it).
    request = urllib.request.Request(
        stub.api_url + "auth.test", data=f"token={BOT_TOKEN}".encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.load(response)["user_id"] == BOT_USER_ID


def test_auth_test_identity(client: WebClient) -> None:
    answer = client.auth_test()
    assert (answer["user_id"], answer["bot_id"], answer["team_id"]) == ("UBOT", "B0BOT", TEAM_ID)
    assert answer["url"].startswith("https://") and answer["team"]


# --- users, groups, views -------------------------------------------------------------------------


def test_users_info(stub: SlackStub, client: WebClient) -> None:
    stub.add_user("UALICE", "alice", real_name="Alice Doe", tz="Europe/Berlin")
    stub.add_user("UGUEST", "guest", is_restricted=True)
    stub.add_user("UGONE", "gone", deleted=True)
    alice = client.users_info(user="UALICE")["user"]
    assert (alice["id"], alice["name"], alice["real_name"]) == ("UALICE", "alice", "Alice Doe")
    assert alice["profile"]["display_name"] == "alice"
    assert alice["tz"] == "Europe/Berlin" and alice["tz_offset"] in (3600, 7200)
    assert not alice["deleted"] and not alice["is_bot"] and not alice["is_app_user"]
    assert client.users_info(user="UGUEST")["user"]["is_restricted"] is True
    assert client.users_info(user="UGONE")["user"]["deleted"] is True
    assert client.users_info(user=BOT_USER_ID)["user"]["is_bot"] is True
    with pytest.raises(SlackApiError) as e:
        client.users_info(user="UNOBODY")
    assert api_error(e) == "user_not_found"


def test_usergroups(stub: SlackStub, client: WebClient) -> None:
    stub.add_usergroup("S0APPROVERS", users=["UALICE", "UBOB"])
    answer = client.usergroups_users_list(usergroup="S0APPROVERS")
    assert answer["users"] == ["UALICE", "UBOB"]
    with pytest.raises(SlackApiError) as e:
        client.usergroups_users_list(usergroup="S0NONE")
    assert api_error(e) == "no_such_subteam"
    stub.free_plan = True
    with pytest.raises(SlackApiError) as e:
        client.usergroups_users_list(usergroup="S0APPROVERS")
    assert api_error(e) == "plan_upgrade_required"


def test_views_publish(stub: SlackStub, client: WebClient) -> None:
    view = {"type": "home", "blocks": [{"type": "divider"}] * 100}
    published = client.views_publish(user_id="UALICE", view=view)["view"]
    assert published["type"] == "home" and published["id"].startswith("V")
    home = stub.home_view("UALICE")
    assert home is not None and len(home["blocks"]) == 100
    for bad in (
        {"type": "home", "blocks": [{"type": "divider"}] * 101},
        {"type": "modal", "blocks": []},
    ):
        with pytest.raises(SlackApiError) as e:
            client.views_publish(user_id="UALICE", view=bad)
        assert api_error(e) == "invalid_arguments"
    with pytest.raises(SlackApiError) as e:
        client.views_publish(user_id="UALICE", view=view, hash="stale")
    assert api_error(e) == "hash_conflict"
    assert len(stub.violations) == 2


# --- response_url -------------------------------------------------------------------------------


def test_response_url(stub: SlackStub, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C0OPS", text="Approve?", blocks=[section("?")])
    url = stub.response_url("click", channel="C0OPS", message_ts=posted["ts"], user="UALICE")
    hook = WebhookClient(url)

    answer = hook.send(text="working on it")
    assert (answer.status_code, answer.body) == (200, "ok")
    assert [e.text for e in stub.ephemerals("C0OPS", "UALICE")] == ["working on it"]
    hook.send_dict({"replace_original": True, "text": "Approved by alice", "blocks": []})
    message = stub.message("C0OPS", posted["ts"])
    assert message is not None and message.text == "Approved by alice" and message.edited
    hook.send(text="Migration started", response_type="in_channel")
    assert [m.text for m in stub.messages("C0OPS")][-1] == "Migration started"
    assert stub.responses("click")[1]["replace_original"] is True
    assert stub.violations == []

    assert hook.send(text="4").status_code == 200
    assert hook.send(text="5").status_code == 200
    sixth = hook.send(text="6")
    assert (sixth.status_code, sixth.body) == (404, "used_url")
    assert len(stub.responses("click")) == 6 and len(stub.violations) == 1


def test_response_url_rules(stub: SlackStub) -> None:
    hook = WebhookClient(stub.response_url("cmd"))
    answer = hook.send_dict({"text": "x", "blocks": [section("x" * 3001)]})
    assert (answer.status_code, answer.body) == (400, "invalid_blocks")
    assert hook.send_dict({"response_type": "ephemeral"}).body == "no_text"
    assert len(stub.violations) == 2


# --- signing ------------------------------------------------------------------------------------

SLACK_EXAMPLE_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
    b"&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
    b"&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands"
    b"%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)


def test_signature_known_answer() -> None:
    headers = sign(SECRET, SLACK_EXAMPLE_BODY, 1531420618)
    assert headers["X-Slack-Request-Timestamp"] == "1531420618"
    assert headers["X-Slack-Signature"] == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )


def test_signature_matches_slack_sdk() -> None:
    body = slash_command_body("migrate web", "UALICE", "C0OPS", TEAM_ID, "http://x/webhook/a")
    headers = sign(SECRET, body)
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
    assert (
        verifier.generate_signature(timestamp=headers["X-Slack-Request-Timestamp"], body=body)
        == (headers["X-Slack-Signature"])
    )
    assert not SignatureVerifier("other-secret").is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )


def test_payload_shapes() -> None:
    fields = parse_qs(
        slash_command_body(
            "migrate web", "UALICE", "C0OPS", TEAM_ID, "http://x/webhook/a"
        ).decode(),
        keep_blank_values=True,
    )
    assert set(fields) == {
        "token", "team_id", "team_domain", "channel_id", "channel_name", "user_id",
        "user_name", "command", "text", "api_app_id", "is_enterprise_install",
        "response_url", "trigger_id",
    }  # fmt: skip
    assert fields["command"] == ["/ksmc"] and fields["text"] == ["migrate web"]

    body = block_action_body("approve", "req-1", "UBOB", "C0OPS", "1700000000.000100", "http://x")
    assert body.startswith(b"payload=")
    payload = json.loads(unquote(body.decode()[len("payload=") :]))
    assert payload["type"] == "block_actions"
    assert set(payload["user"]) == {"id", "username", "name", "team_id"}
    assert payload["container"] == {
        "type": "message",
        "message_ts": "1700000000.000100",
        "channel_id": "C0OPS",
        "is_ephemeral": False,
    }
    [action] = payload["actions"]
    assert (action["action_id"], action["value"], action["type"]) == ("approve", "req-1", "button")
    assert {"block_id", "action_ts", "text"} <= set(action)
    assert {"api_app_id", "token", "trigger_id", "team", "channel", "message"} <= set(payload)


def signed_request(body: str, secret: str = SECRET) -> BoltRequest:
    headers: dict[str, str | Sequence[str]] = dict(sign(secret, body.encode()))
    return BoltRequest(body=body, headers=headers)


def test_bolt_http_mode_accepts_signed_requests(stub: SlackStub, client: WebClient) -> None:
    """The builders and signature satisfy Bolt's own verification and payload parsing."""
    app = App(client=client, signing_secret=SECRET)
    seen: list[str] = []

    @app.command("/ksmc")
    def on_command(ack: Ack, respond: Respond, command: dict[str, Any]) -> None:
        ack()
        seen.append(command["user_id"])
        respond(text=f"got {command['text']}")

    @app.action("approve")
    def on_approve(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.chat_update(
            channel=body["channel"]["id"],
            ts=body["container"]["message_ts"],
            text=f"approved {body['actions'][0]['value']} by {body['user']['id']}",
            blocks=[],
        )

    body = slash_command_body(
        "migrate web", "UALICE", "C0OPS", TEAM_ID, stub.response_url("cmd")
    ).decode()
    response = app.dispatch(signed_request(body))
    assert response.status == 200
    stub.wait_for(lambda: stub.responses("cmd"))
    assert stub.responses("cmd")[0]["text"] == "got migrate web" and seen == ["UALICE"]

    bad = app.dispatch(signed_request(body, secret="not-the-secret"))
    assert bad.status == 401

    posted = client.chat_postMessage(
        channel="C0OPS",
        text="Approve?",
        blocks=[{"type": "actions", "block_id": "ask", "elements": [button("approve")]}],
    )
    message = stub.message("C0OPS", posted["ts"])
    assert message is not None
    click = block_action_body(
        "approve",
        "req-1",
        "UBOB",
        "C0OPS",
        posted["ts"],
        stub.response_url("click"),
        message=message.as_payload(),
    ).decode()
    assert app.dispatch(signed_request(click)).status == 200
    stub.wait_for(lambda: (m := stub.message("C0OPS", posted["ts"])) and m.edited)
    assert stub.messages("C0OPS")[0].text == "approved req-1 by UBOB"
    assert stub.violations == []


# --- Socket Mode --------------------------------------------------------------------------------


def test_socket_mode_round_trip_builtin_client(stub: SlackStub, client: WebClient) -> None:
    socket_client = SocketModeClient(app_token=APP_TOKEN, web_client=client)

    def on_request(sm: SocketModeClient, request: SocketModeRequest) -> None:
        sm.send_socket_mode_response(
            SocketModeResponse(envelope_id=request.envelope_id, payload={"text": "ok"})
        )

    socket_client.socket_mode_request_listeners.append(on_request)  # type: ignore[arg-type]
    socket_client.connect()
    try:
        assert stub.socket.wait_connected(timeout=5)
        [opened] = stub.calls("apps.connections.open")
        assert opened.headers["Authorization"] == f"Bearer {APP_TOKEN}"
        assert stub.socket.sent[0]["type"] == "hello"
        payload = slash_command_fields("status", "UALICE", "C0OPS", TEAM_ID, "http://x")
        envelope_id = stub.socket.send_envelope("slash_commands", payload)
        ack = stub.socket.wait_ack(envelope_id, timeout=5)
        assert ack == {"envelope_id": envelope_id, "payload": {"text": "ok"}}
    finally:
        socket_client.close()
    assert stub.violations == []


def test_socket_mode_rejects_unissued_tickets(stub: SlackStub) -> None:
    url = stub.socket.new_url().replace("ticket=", "ticket=forged-")
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus), connect(url, open_timeout=5):
        pass


def test_bolt_socket_mode_handler(stub: SlackStub, client: WebClient) -> None:
    app = App(client=client)
    clicked: list[str] = []

    @app.command("/ksmc")
    def on_command(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        ack(text="on it")
        client.chat_postMessage(channel=command["channel_id"], text=f"status for {command['text']}")

    @app.action("approve")
    def on_approve(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        clicked.append(body["user"]["id"])

    handler = SocketModeHandler(app, APP_TOKEN)
    handler.connect()  # type: ignore[no-untyped-call]
    try:
        assert stub.socket.wait_connected(timeout=5)
        payload = slash_command_fields("web", "UALICE", "C0OPS", TEAM_ID, "http://x")
        envelope_id = stub.socket.send_envelope("slash_commands", payload)
        ack = stub.socket.wait_ack(envelope_id, timeout=5)
        assert ack is not None and ack["payload"]["text"] == "on it"
        stub.wait_for(lambda: stub.messages("C0OPS"))
        assert stub.messages("C0OPS")[0].text == "status for web"

        action = block_action_payload("approve", "req-1", "UBOB", "C0OPS", "1.000001", "http://x")
        envelope_id = stub.socket.send_envelope("interactive", action)
        assert stub.socket.wait_ack(envelope_id, timeout=5) == {"envelope_id": envelope_id}
        assert clicked == ["UBOB"]
    finally:
        handler.close()  # type: ignore[no-untyped-call]
    assert stub.violations == []
