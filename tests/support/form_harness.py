"""Driving the migration form the way a person in Slack does, against a bot from
`bot_harness`: type `/ksmc migrate` (or press App Home's button) with a trigger id the Slack
stand-in issued, wait for the modal, type in its selects (each keystroke a signed
`block_suggestion` to the bot), pick, and submit (a signed `view_submission`). The stand-in
checks every view the bot opens or updates and every answer it gives, within Slack's 3 s.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from bot_harness import ALICE, CHANNEL, SECRET, Client, Env, wait_for
from slackstub import TEAM_ID, sign, slash_command_body
from slackstub.modals import OpenModal

from handlers.migrate_form import HOST, MEMBER


def post_payload(client: Client, payload: dict[str, Any]) -> tuple[int, Any, float]:
    """POST an interaction payload, signed; (status, decoded answer, seconds it took)."""
    body = b"payload=" + quote(json.dumps(payload, separators=(",", ":"))).encode("ascii")
    started = time.monotonic()
    response = client.post(body, sign(SECRET, body))
    elapsed = time.monotonic() - started
    try:
        answer: Any = response.json() if response.content else None
    except ValueError:
        answer = response.text
    return response.status_code, answer, elapsed


def type_command(
    client: Client,
    env: Env,
    text: str,
    user: str = ALICE,
    trigger_age: float = 0.0,
    channel: str = CHANNEL,
) -> str:
    """A slash command whose trigger id the stand-in issued `trigger_age` seconds ago; returns
    the name of its response_url hook."""
    hook = f"form-cmd-{time.monotonic_ns()}"
    url = env.stub.response_url(hook, channel=channel, user=user)
    trigger = env.stub.modals.trigger(user, age=trigger_age)
    body = slash_command_body(text, user, channel, TEAM_ID, url, trigger_id=trigger)
    assert client.post(body, sign(SECRET, body)).status_code == 200
    return hook


def filled_form(env: Env, user: str = ALICE, timeout: float = 15.0) -> OpenModal:
    """The user's open modal once the bot has filled it (it has a member select)."""

    def ready() -> OpenModal | None:
        views = env.stub.modals.open_views(user)
        return next((v for v in views if MEMBER in v.inputs()), None)

    found: OpenModal = wait_for(ready, timeout, "the filled migration form")
    return found


def suggest(client: Client, env: Env, view_id: str, block_id: str, typed: str) -> list[Any]:
    """Type in an external select: the options the bot answers with (the stand-in records
    them as what the user may pick)."""
    payload = env.stub.modals.suggestion(view_id, block_id, typed)
    status, answer, elapsed = post_payload(client, payload)
    return env.stub.modals.options_answered(view_id, payload["action_id"], status, answer, elapsed)


def choose_member(client: Client, env: Env, view_id: str, member: str) -> OpenModal:
    """Pick the member; the bot redraws the form with the hosts it may move to."""
    before = env.stub.modals.view(view_id)
    assert before is not None
    env.stub.modals.choose(view_id, MEMBER, member)
    status, _, _ = post_payload(client, env.stub.modals.action(view_id, MEMBER))
    assert status == 200

    def redrawn() -> OpenModal | None:
        now = env.stub.modals.view(view_id)
        return now if now is not None and now.hash != before.hash else None

    found: OpenModal = wait_for(redrawn, 10, "the form redrawn for the member")
    return found


def host_options(modal: OpenModal) -> list[str]:
    element = modal.inputs()[HOST]["element"]
    return [str(o["value"]) for o in element.get("options") or []]


def submit(client: Client, env: Env, view_id: str) -> dict[str, Any]:
    """Press the form's submit button; the bot's answer, as the stand-in applied it."""
    payload = env.stub.modals.submission(view_id)
    status, answer, elapsed = post_payload(client, payload)
    return env.stub.modals.submission_answered(view_id, status, answer, elapsed)
