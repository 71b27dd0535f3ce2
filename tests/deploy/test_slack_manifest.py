"""The Slack app manifests (slack/manifest.yaml, HTTP; slack/manifest.socket.yaml, Socket Mode)
grant and subscribe exactly what the code uses — no scope too many (an admin approving the app
sees only what it needs), none missing (a call would fail with `missing_scope` at 2 a.m.).

What the code uses is read from its source, not listed by hand: every Web API call made through
a Slack client (`client.chat_postMessage(…)`, `self.client.users_info(…)`) in bot/ and handlers/,
every `@app.command` and `@app.event`, and the button actions handlers/actions.py registers. The
scope each method needs is the small table below, from each method's page in Slack's reference.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient

from bot import http
from handlers import actions

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = {
    "http": ROOT / "slack" / "manifest.yaml",
    "socket": ROOT / "slack" / "manifest.socket.yaml",
}
SOURCES = [*sorted((ROOT / "bot").rglob("*.py")), *sorted((ROOT / "handlers").rglob("*.py"))]

#: Bot-token scope each Web API method needs (None: no scope), from Slack's method reference
#: (https://docs.slack.dev/reference/methods/<method>, "Required scopes"):
#: chat.postMessage, chat.update → chat:write; users.info → users:read; usergroups.users.list →
#: usergroups:read; views.publish needs none (a bot publishes its own App Home); views.open and
#: views.update need none either (a trigger_id from the user's own interaction is the permission).
METHOD_SCOPES: dict[str, str | None] = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "users.info": "users:read",
    "usergroups.users.list": "usergroups:read",
    "views.publish": None,
    "views.open": None,
    "views.update": None,
}
#: A slash command needs the `commands` scope (https://docs.slack.dev/interactivity/implementing-slash-commands).
COMMAND_SCOPE = "commands"
#: Events and the scope each needs (https://docs.slack.dev/reference/events/<event>):
#: app_home_opened needs none.
EVENT_SCOPES: dict[str, str | None] = {"app_home_opened": None}


#: WebClient's own methods are the Web API's, one each (`api_call` and the rest are inherited).
WEB_API = {name for name in vars(WebClient) if not name.startswith("_")}


def _calls() -> list[ast.Call]:
    found = []
    for path in SOURCES:
        found += [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)]
    return found


def _receiver_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def web_api_methods() -> set[str]:
    """Calls of a WebClient method (one per Web API method, `chat_postMessage`) on anything
    named like a Slack client, as Slack spells the method (`chat.postMessage`)."""
    return {
        call.func.attr.replace("_", ".")
        for call in _calls()
        if isinstance(call.func, ast.Attribute)
        and _receiver_name(call.func.value).endswith("client")
        and call.func.attr in WEB_API
    }


def decorated(kind: str) -> set[str]:
    """The string arguments of `app.<kind>("…")` calls (`@app.command("/ksmc")`)."""
    return {
        str(call.args[0].value)
        for call in _calls()
        if isinstance(call.func, ast.Attribute)
        and call.func.attr == kind
        and _receiver_name(call.func.value) == "app"
        and call.args
        and isinstance(call.args[0], ast.Constant)
    }


def registers(kind: str) -> bool:
    """Whether the code registers any `app.<kind>(…)` listener (`app.options(action_id)`)."""
    return any(
        isinstance(call.func, ast.Attribute)
        and call.func.attr == kind
        and _receiver_name(call.func.value) == "app"
        for call in _calls()
    )


def manifest(mode: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(MANIFESTS[mode].read_text())
    return loaded


def test_the_code_is_read_as_expected() -> None:
    """The derivation finds what the bot is known to do: a failing guard here means the source
    reading broke, not that the manifest is wrong."""
    assert {"chat.postMessage", "chat.update", "users.info", "views.publish"} <= web_api_methods()
    assert decorated("command") == {"/ksmc"}
    assert "app_home_opened" in decorated("event")
    assert {"views.open", "views.update"} <= web_api_methods()  # the migration form
    assert registers("options") and registers("view")


@pytest.mark.parametrize("mode", MANIFESTS)
def test_scopes_are_exactly_what_the_code_calls(mode: str) -> None:
    methods = web_api_methods()
    unknown = methods - METHOD_SCOPES.keys()
    assert not unknown, f"add {sorted(unknown)} to METHOD_SCOPES with the scope Slack's docs name"
    needed = {METHOD_SCOPES[m] for m in methods} | {EVENT_SCOPES[e] for e in decorated("event")}
    if decorated("command"):
        needed.add(COMMAND_SCOPE)
    granted = manifest(mode)["oauth_config"]["scopes"]["bot"]
    assert sorted(granted) == sorted(s for s in needed if s is not None)
    assert "user" not in manifest(mode)["oauth_config"]["scopes"]  # no user-token scopes


@pytest.mark.parametrize("mode", MANIFESTS)
def test_command_events_and_interactivity(mode: str) -> None:
    m = manifest(mode)
    commands = m["features"]["slash_commands"]
    assert {c["command"] for c in commands} == decorated("command") == {http.COMMAND}
    assert set(m["settings"]["event_subscriptions"]["bot_events"]) == decorated("event")
    assert m["features"]["app_home"]["home_tab_enabled"] is True  # app_home_opened publishes it
    # buttons need interactivity; the front door acks every one of them at once
    assert actions.ACTIONS and m["settings"]["interactivity"]["is_enabled"] is True
    assert set(actions.ACTIONS) == set(http.ACTIONS)


def test_http_mode_sends_everything_to_the_events_endpoint_and_socket_mode_nowhere() -> None:
    http_m, socket_m = manifest("http"), manifest("socket")
    urls = {
        http_m["features"]["slash_commands"][0]["url"],
        http_m["settings"]["event_subscriptions"]["request_url"],
        http_m["settings"]["interactivity"]["request_url"],
    }
    if registers("options"):  # external selects load options from this URL in HTTP mode
        urls.add(http_m["settings"]["interactivity"]["message_menu_options_url"])
    else:
        assert "message_menu_options_url" not in http_m["settings"]["interactivity"]
    assert urls == {"https://ksmc.example.com/slack/events"}
    assert http_m["settings"]["socket_mode_enabled"] is False
    assert socket_m["settings"]["socket_mode_enabled"] is True
    assert "url" not in socket_m["features"]["slash_commands"][0]
    assert "request_url" not in socket_m["settings"]["event_subscriptions"]
    assert "request_url" not in socket_m["settings"]["interactivity"]
    assert "message_menu_options_url" not in socket_m["settings"]["interactivity"]


def test_readme_creates_the_app_from_the_manifests() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Creating the Slack app", 1)[1].split("\n## ", 1)[0]
    assert "slack/manifest.yaml" in section and "slack/manifest.socket.yaml" in section
    assert "From an app manifest" in section
