"""Socket Mode: with SLACK_APP_TOKEN set the bot opens a WebSocket through apps.connections.open
(the Slack stand-in), acks a slash command envelope and a button-press envelope, and acts on
them exactly as in HTTP mode; it serves no /slack/events endpoint."""

from __future__ import annotations

from pathlib import Path

from bot_harness import (
    ALICE,
    BOB,
    CHANNEL,
    current_button_value,
    environment,
    free_port,
    latest_request_id,
    wait_for,
)
from bot_harness import state as request_state
from slackstub import TEAM_ID, block_action_payload, slash_command_fields

from bot import app, http, settings
from bot.states import RequestState as S


def test_slash_command_and_button_over_socket_mode(tmp_path: Path) -> None:
    with environment(tmp_path, f"sqlite:///{tmp_path / 'ksmc.db'}") as env:
        port = free_port()
        environ = env.environ(port)
        environ["SLACK_APP_TOKEN"] = "xapp-1-A0KSMC-123-socketmodetoken"
        bot = app.build(settings.load(environ))
        assert "/slack/events" not in http.http_app(bot).routes
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        handler = SocketModeHandler(bot.slack, environ["SLACK_APP_TOKEN"])
        bot.start_background()
        handler.connect()  # type: ignore[no-untyped-call]
        try:
            env.stub.socket.wait_connected()
            url = env.stub.response_url("sm", channel=CHANNEL, user=ALICE)
            fields = slash_command_fields(
                "migrate member-a to host-b keep ns1,ns2", ALICE, CHANNEL, TEAM_ID, url
            )
            envelope = env.stub.socket.send_envelope("slash_commands", fields)
            assert env.stub.socket.wait_ack(envelope, 3.0) is not None
            rid = str(wait_for(lambda: latest_request_id(env), 15, "the request"))
            wait_for(lambda: request_state(env, rid) is S.PENDING, 20, "pending")
            ts = wait_for(lambda: bot.service.snapshot(rid).message_ts, 10, "message")  # type: ignore[union-attr]
            press_url = env.stub.response_url("smp", channel=CHANNEL, message_ts=ts, user=BOB)
            shown = current_button_value(env, rid)  # the version and plan the approver saw
            payload = block_action_payload("ksmc_approve", shown, BOB, CHANNEL, ts, press_url)
            envelope = env.stub.socket.send_envelope("interactive", payload)
            assert env.stub.socket.wait_ack(envelope, 3.0) is not None
            wait_for(lambda: request_state(env, rid) is S.SUCCEEDED, 60, "the migration")
        finally:
            handler.close()  # type: ignore[no-untyped-call]
            bot.close()
        assert env.stub.violations == []
