"""The migration form (handlers/migrate_form.py, handlers/migrate_modal.py), end to end: signed
slash commands, App Home presses, `block_suggestion` and `view_submission` payloads through the
bot's HTTP endpoint, with the Slack stand-in enforcing how Slack runs modals (trigger ids once
and within 3 s, view limits, only offered options can be picked, answers within 3 s).

Checks: a submitted form becomes the very request the typed command makes (same approval
message, showing the command text); an invalid one gets errors under its fields and stores and
audits nothing; 5,000 namespaces are searched as the user types; App Home's button opens the
form (which then asks for the channel); KSMC_CHANNELS is checked when the form is filled and
again on submit; an expired trigger id is explained to the user; and the same through
`ksmc-bot serve` (its front door is a process of its own) and over Socket Mode, where options and
the submission's answer travel in the envelope acks.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bot_harness import (
    ALICE,
    CHANNEL,
    BotProcess,
    Client,
    Env,
    audit_actions,
    environment,
    free_port,
    in_process,
    latest_request_id,
    message_ts,
    wait_for,
    wait_state,
)
from form_harness import (
    choose_member,
    filled_form,
    host_options,
    post_payload,
    submit,
    suggest,
    type_command,
)
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slackstub import APP_ID, TEAM_ID, slash_command_fields
from test_home import open_home

from bot import app, db, settings
from bot.states import RequestState as S
from handlers.migrate_form import (
    AT,
    DISCARD,
    FLAGS,
    HOST,
    KEEP,
    MEMBER,
    OPEN_ACTION,
)
from handlers.migrate_form import (
    CHANNEL as CHANNEL_INPUT,
)
from handlers.migrate_modal import EXPIRED
from k8s.sim.resources import NAMESPACES


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    db.upgrade(url)
    with environment(tmp_path, url) as e:
        yield e


@pytest.fixture
def bot(env: Env) -> Iterator[Client]:
    with in_process(env) as (client, _bot):
        yield client
    assert env.stub.violations == []


def request_message(env: Env, request_id: str, showing: str = "pending approval") -> str:
    """The request message's text as people read it once it shows `showing`, with what differs
    between two requests (their ids and times) blanked."""

    def shown() -> str | None:
        ts = message_ts(env, request_id)
        message = env.stub.message(CHANNEL, ts) if ts else None
        text = " ".join(str(b) for b in message.blocks) if message else ""
        return text if showing in text else None

    text = str(wait_for(shown, 15, f"the request message showing {showing}"))
    text = text.replace(request_id, "<id>")
    return re.sub(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?( UTC)?|<!date[^>]*>", "<time>", text)


def test_a_submitted_form_is_the_typed_command(bot: Client, env: Env) -> None:
    type_command(bot, env, "migrate")
    form = filled_form(env)
    assert host_options(form) == ["host-a", "host-b"]  # no member chosen yet: every host
    form = choose_member(bot, env, form.id, "member-a")
    assert host_options(form) == ["host-b"]  # not the host member-a is bound to now
    env.stub.modals.choose(form.id, HOST, "host-b")
    assert {str(o["value"]) for o in suggest(bot, env, form.id, KEEP, "ns")} == {
        "ns1",
        "ns2",
        "ns3",
    }
    env.stub.modals.choose(form.id, KEEP, ["ns1", "ns2"])
    answer = submit(bot, env, form.id)
    assert answer["response_action"] == "update"
    by_form = wait_for(lambda: latest_request_id(env), 10, "the form's request")
    wait_state(env, by_form, S.PENDING)

    hook = type_command(bot, env, "migrate member-a to host-b keep ns1,ns2")
    typed = wait_for(lambda: (r := latest_request_id(env)) != by_form and r, 10, "the typed one")
    wait_state(env, typed, S.PENDING)

    shown = request_message(env, by_form)
    assert "`/ksmc migrate member-a to host-b keep ns1,ns2`" in shown  # the grammar, to learn
    assert "ksmc_approve" in shown
    assert shown == request_message(env, typed)
    assert audit_actions(env, by_form)[:1] == audit_actions(env, typed)[:1]
    # the form now says what happened, and how to type it next time
    outcome = wait_for(
        lambda: "received" in str((v := env.stub.modals.view(form.id)) and v.view), 10, "outcome"
    )
    assert outcome
    assert "/ksmc migrate member-a to host-b keep ns1,ns2" in str(env.stub.modals.view(form.id))
    assert env.stub.responses(hook)  # the typed one answered through its response_url


def test_an_invalid_form_gets_field_errors_and_nothing_changes(bot: Client, env: Env) -> None:
    type_command(bot, env, "migrate")
    form = filled_form(env)
    env.stub.modals.choose(form.id, HOST, "host-a")  # chosen before the member: still offered
    form = choose_member(bot, env, form.id, "member-a")  # member-a is bound to host-a already
    suggest(bot, env, form.id, KEEP, "")
    suggest(bot, env, form.id, DISCARD, "ns1")
    env.stub.modals.choose(form.id, KEEP, ["ns1"])
    env.stub.modals.choose(form.id, DISCARD, ["ns1"])
    env.stub.modals.choose(form.id, AT, int(time.time()) - 3600)
    before = audit_actions(env)

    answer = submit(bot, env, form.id)

    assert answer["response_action"] == "errors"
    errors = answer["errors"]
    assert set(errors) == {HOST, DISCARD, AT}
    assert "already a member of host-a" in errors[HOST]
    assert "ns1" in errors[DISCARD] and "not both" in errors[DISCARD]
    assert "passed" in errors[AT]
    assert latest_request_id(env) is None  # no request stored
    assert audit_actions(env) == before  # and nothing audited
    modal = env.stub.modals.view(form.id)
    assert modal is not None and not modal.closed


def test_keep_all_cannot_be_combined_with_a_list(bot: Client, env: Env) -> None:
    type_command(bot, env, "migrate")
    form = choose_member(bot, env, filled_form(env).id, "member-a")
    env.stub.modals.choose(form.id, HOST, "host-b")
    suggest(bot, env, form.id, KEEP, "ns")
    env.stub.modals.choose(form.id, KEEP, ["ns1"])
    env.stub.modals.choose(form.id, FLAGS, ["keep-all", "dry-run"])
    answer = submit(bot, env, form.id)
    assert answer["response_action"] == "errors" and set(answer["errors"]) == {KEEP}
    assert latest_request_id(env) is None


def test_5000_namespaces_are_searched_as_the_user_types(bot: Client, env: Env) -> None:
    member = env.world.clusters["member-a"]
    with env.world.lock:
        for i in range(5000):
            member.store.create(NAMESPACES, "", {"metadata": {"name": f"team-{i:04d}"}})
    type_command(bot, env, "migrate")
    form = choose_member(bot, env, filled_form(env, timeout=30).id, "member-a")
    env.stub.modals.choose(form.id, HOST, "host-b")

    first = suggest(bot, env, form.id, KEEP, "")  # the menu opened: Slack shows 100 at most
    assert len(first) == 100
    narrowed = suggest(bot, env, form.id, KEEP, "team-42")
    assert [o["value"] for o in narrowed] == [f"team-42{i:02d}" for i in range(100)]
    exact = suggest(bot, env, form.id, KEEP, "TEAM-4321")
    assert [o["value"] for o in exact] == ["team-4321"]

    env.stub.modals.choose(form.id, KEEP, ["team-4321"])
    env.stub.modals.choose(form.id, FLAGS, ["dry-run"])
    assert submit(bot, env, form.id)["response_action"] == "update"
    request_id = wait_for(lambda: latest_request_id(env), 10, "the request")
    assert "keep team-4321 dry-run" in request_message(env, request_id, "dry run")


def test_app_home_button_opens_the_form_which_asks_for_the_channel(bot: Client, env: Env) -> None:
    assert open_home(bot, ALICE, "Ev-form-1") == 200
    home = wait_for(lambda: env.stub.home_view(ALICE), 10, "the Home tab")
    button = next(
        (b, e)
        for b in home["blocks"]
        if b.get("type") == "actions"
        for e in b["elements"]
        if e.get("action_id") == OPEN_ACTION
    )
    press: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": ALICE, "username": "alice", "name": "alice", "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "xyzz0WbapA4vBCDEFasx0q6G",
        "container": {"type": "view", "view_id": home["id"]},
        "trigger_id": env.stub.modals.trigger(ALICE),
        "team": {"id": TEAM_ID, "domain": "ksmc-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": home,
        "actions": [
            {
                "action_id": OPEN_ACTION,
                "block_id": button[0]["block_id"],
                "type": "button",
                "value": button[1]["value"],
                "text": button[1]["text"],
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    assert post_payload(bot, press)[0] == 200
    form = choose_member(bot, env, filled_form(env).id, "member-a")
    assert CHANNEL_INPUT in form.inputs()  # no channel to carry: the form asks for one
    env.stub.modals.choose(form.id, HOST, "host-b")
    env.stub.modals.choose(form.id, FLAGS, ["keep-all", "dry-run"])
    env.stub.modals.choose(form.id, CHANNEL_INPUT, CHANNEL)
    assert submit(bot, env, form.id)["response_action"] == "update"
    request_id = wait_for(lambda: latest_request_id(env), 10, "the request")
    assert "migrate member-a to host-b keep all dry-run" in request_message(
        env, request_id, "dry run"
    )


def test_the_channel_is_checked_when_filled_and_again_when_submitted(tmp_path: Path) -> None:
    """KSMC_CHANNELS: typed elsewhere, the form says where instead of asking; a submission whose
    private_metadata names another channel than where it was typed (the form carries it; Slack
    only signs the request) is refused by the service, audited, and nothing is stored."""
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    db.upgrade(url)
    with environment(tmp_path, url, KSMC_CHANNELS=CHANNEL) as env, in_process(env) as (bot, _):
        type_command(bot, env, "migrate", channel="C0ELSEWHERE")
        refused = wait_for(lambda: env.stub.modals.open_views(ALICE), 10, "the form")[0]
        wait_for(
            lambda: "can only be requested in" in str(env.stub.modals.view(refused.id)), 10, "why"
        )
        assert not env.stub.modals.view(refused.id).inputs()  # type: ignore[union-attr]

        type_command(bot, env, "migrate")
        form = choose_member(bot, env, filled_form(env).id, "member-a")
        env.stub.modals.choose(form.id, HOST, "host-b")
        env.stub.modals.choose(form.id, FLAGS, ["keep-all"])
        payload = env.stub.modals.submission(form.id)
        payload["view"]["private_metadata"] = json.dumps({"channel": "C0ELSEWHERE"})
        status, answer, elapsed = post_payload(bot, payload)
        env.stub.modals.submission_answered(form.id, status, answer, elapsed)
        wait_for(
            lambda: "can only be requested in" in str(env.stub.modals.view(form.id)), 10, "why"
        )
        assert latest_request_id(env) is None
        assert "request.refused" in audit_actions(env)
        assert env.stub.violations == []


def test_an_expired_trigger_id_is_explained(bot: Client, env: Env) -> None:
    hook = type_command(bot, env, "migrate", trigger_age=3.5)
    answers = wait_for(lambda: env.stub.responses(hook), 10, "the answer")
    assert answers[0]["text"] == EXPIRED
    assert answers[0].get("response_type") == "ephemeral"
    assert env.stub.modals.open_views(ALICE) == []
    assert latest_request_id(env) is None


def test_the_form_over_socket_mode(tmp_path: Path) -> None:
    """Socket Mode: options and the submission's response_action travel in the envelope acks."""
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    db.upgrade(url)
    with environment(tmp_path, url) as env:
        environ = env.environ(free_port())
        environ["SLACK_APP_TOKEN"] = "xapp-1-A0KSMC-123-socketmodetoken"
        bot = app.build(settings.load(environ))
        handler = SocketModeHandler(bot.slack, environ["SLACK_APP_TOKEN"])
        bot.start_background()
        handler.connect()  # type: ignore[no-untyped-call]
        socket = env.stub.socket

        def send(kind: str, payload: dict[str, Any]) -> tuple[Any, float]:
            started = time.monotonic()
            ack = socket.wait_ack(socket.send_envelope(kind, payload), 5.0)
            assert ack is not None
            return ack.get("payload"), time.monotonic() - started

        try:
            socket.wait_connected()
            hook = env.stub.response_url("sm-form", channel=CHANNEL, user=ALICE)
            trigger = env.stub.modals.trigger(ALICE)
            send(
                "slash_commands",
                slash_command_fields("migrate", ALICE, CHANNEL, TEAM_ID, hook, trigger),
            )
            form = filled_form(env)
            env.stub.modals.choose(form.id, MEMBER, "member-a")
            before = form.hash
            send("interactive", env.stub.modals.action(form.id, MEMBER))
            wait_for(lambda: env.stub.modals.view(form.id).hash != before, 10, "the redraw")  # type: ignore[union-attr]
            env.stub.modals.choose(form.id, HOST, "host-b")
            suggestion = env.stub.modals.suggestion(form.id, KEEP, "ns")
            answer, elapsed = send("interactive", suggestion)
            offered = env.stub.modals.options_answered(
                form.id, suggestion["action_id"], 200, answer, elapsed
            )
            assert {o["value"] for o in offered} == {"ns1", "ns2", "ns3"}
            env.stub.modals.choose(form.id, KEEP, ["ns1", "ns2"])
            answer, elapsed = send("interactive", env.stub.modals.submission(form.id))
            assert (
                env.stub.modals.submission_answered(form.id, 200, answer, elapsed)[
                    "response_action"
                ]
                == "update"
            )
            request_id = wait_for(lambda: latest_request_id(env), 10, "the request")
            shown = request_message(env, request_id)
            assert "`/ksmc migrate member-a to host-b keep ns1,ns2`" in shown
        finally:
            handler.close()  # type: ignore[no-untyped-call]
            bot.close()
        assert env.stub.violations == []


def test_the_form_through_ksmc_bot_serve(tmp_path: Path) -> None:
    """`ksmc-bot serve` acks from a front-door process of its own: the options and the
    submission's answer, which are the HTTP responses themselves, come back across it in time."""
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    db.upgrade(url)
    with environment(tmp_path, url) as env:
        process = BotProcess(env, tmp_path / "bot.log")
        client = process.start()
        try:
            type_command(client, env, "migrate")
            form = choose_member(client, env, filled_form(env, timeout=30).id, "member-a")
            env.stub.modals.choose(form.id, HOST, "host-b")
            assert len(suggest(client, env, form.id, KEEP, "ns")) == 3
            env.stub.modals.choose(form.id, KEEP, ["ns1", "ns2"])
            assert submit(client, env, form.id)["response_action"] == "update"
            request_id = wait_for(lambda: latest_request_id(env), 10, "the request")
            assert "`/ksmc migrate member-a to host-b keep ns1,ns2`" in request_message(
                env, request_id
            )
        finally:
            process.stop()
        assert env.stub.violations == []
