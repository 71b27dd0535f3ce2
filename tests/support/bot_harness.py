"""A running ksmc-bot for end-to-end tests: the simulated fleet, the Slack stand-in, a database,
and the bot serving HTTP on loopback — in this process, or as a real `ksmc-bot serve` process
that a test can SIGKILL and start again.

Requests reach the bot only through its HTTP endpoint, signed as Slack signs them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from slackstub import (
    TEAM_ID,
    SlackStub,
    block_action_body,
    sign,
    slash_command_body,
)
from sqlalchemy import select
from waiting import wait_for as wait_for  # re-exported: the tests import it from here

from bot import db
from bot.authority import button_value
from bot.db import AuditEvent, Request
from bot.states import RequestState
from k8s.plan import Plan
from k8s.sim import loader
from k8s.sim.world import World

SECRET = "test-signing-secret-0123456789abcdef"
TOKEN = "xoxb-" + "test-token-for-the-stand-in"  # split: not a real token
CHANNEL = "C0OPS"
ALICE, BOB, CAROL, DAVE = "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"
GUEST, ROBOT, GONE = "U0GUEST", "U0ROBOT", "U0GONE"
OPS_GROUP = "S0OPS"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed_users(stub: SlackStub) -> None:
    stub.add_user(ALICE, "alice", real_name="Alice Requester")
    stub.add_user(BOB, "bob", real_name="Bob Approver")
    stub.add_user(CAROL, "carol", real_name="Carol Bystander")
    stub.add_user(DAVE, "dave", real_name="Dave Ops")
    stub.add_user(GUEST, "gus", real_name="Gus Guest", is_restricted=True)
    stub.add_user(ROBOT, "robo", real_name="Robo", is_bot=True)
    stub.add_user(GONE, "gone", real_name="Gone User", deleted=True)
    stub.add_usergroup(OPS_GROUP, [DAVE])
    stub.add_channel(CHANNEL, "ksmc-ops")


@dataclass
class Env:
    world: World
    stub: SlackStub
    kubeconfig: Path
    database_url: str
    extra: dict[str, str] = field(default_factory=dict)

    def environ(self, port: int) -> dict[str, str]:
        return {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "KSMC_SLACK_API_URL": self.stub.api_url,
            "KSMC_DATABASE_URL": self.database_url,
            "KSMC_KUBECONFIG": str(self.kubeconfig),
            "KSMC_APPROVERS": f"{BOB},{OPS_GROUP},{GUEST},{ROBOT},{GONE}",
            "KSMC_PORT": str(port),
            "KSMC_POLL_INTERVAL": "0.05",
            "KSMC_WAIT_TIMEOUT": "20",
            "KSMC_GATHER_TIMEOUT": "5",
            # tests send many commands as one user quickly; the limits have tests of their own
            "KSMC_QUERY_LIMIT": "10000",
            "KSMC_REQUEST_LIMIT": "10000",
            **self.extra,
        }


#: where Client.command keeps, on the bot's HTTP answer, the name of the command's response_url
HOOK = "ksmc_test_hook"


def hook_of(response: httpx.Response) -> str:
    """The name of the response_url sent with the command that `response` answers: the bot's
    later answers to it are SlackStub.responses(name)."""
    name = response.extensions[HOOK]
    assert isinstance(name, str), "not an answer to Client.command"
    return name


class Client:
    """Talks to the bot's /slack/events the way Slack does."""

    def __init__(self, env: Env, base: str) -> None:
        self.env = env
        self.base = base
        self.http = httpx.Client(timeout=10)
        self._seq = 0

    def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.http.post(
            f"{self.base}/slack/events",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        )

    def command(self, text: str, user: str = ALICE, name: str | None = None) -> httpx.Response:
        self._seq += 1
        hook = name or f"cmd-{self._seq}"
        url = self.env.stub.response_url(hook, channel=CHANNEL, user=user)
        body = slash_command_body(text, user, CHANNEL, TEAM_ID, url)
        response = self.post(body, sign(SECRET, body))
        response.extensions[HOOK] = hook
        return response

    def press(
        self,
        action_id: str,
        request_id: str,
        user: str,
        team: str = TEAM_ID,
        value: str | None = None,
    ) -> tuple[httpx.Response, str]:
        """Press a button on the request's message as it stands now (its value binds the
        current version and plan, as a freshly drawn message's buttons do), or send `value`."""
        self._seq += 1
        hook = f"press-{self._seq}"
        ts = message_ts(self.env, request_id) or "0.0"
        url = self.env.stub.response_url(hook, channel=CHANNEL, message_ts=ts, user=user)
        shown = value if value is not None else current_button_value(self.env, request_id)
        body = block_action_body(action_id, shown, user, CHANNEL, ts, url, team_id=team)
        return self.post(body, sign(SECRET, body)), hook

    def get(self, path: str) -> httpx.Response:
        return self.http.get(f"{self.base}{path}")

    def close(self) -> None:
        """Close the pooled connections to the bot."""
        self.http.close()


def _row(env: Env, request_id: str) -> Request | None:
    engine = db.make_engine(env.database_url)
    try:
        with db.session_factory(engine)() as session:
            return session.get(Request, request_id)
    finally:
        engine.dispose()


def current_button_value(env: Env, request_id: str) -> str:
    """What the buttons of the request's message carry once it shows the current version."""
    row = _row(env, request_id)
    if row is None:
        return request_id
    plan = Plan.from_json(row.plan_json) if row.plan_json else None
    return button_value(row.id, row.version, plan)


def message_ts(env: Env, request_id: str) -> str | None:
    row = _row(env, request_id)
    return row.message_ts if row else None


def state(env: Env, request_id: str) -> RequestState | None:
    row = _row(env, request_id)
    return row.state if row else None


def latest_request_id(env: Env) -> str | None:
    engine = db.make_engine(env.database_url)
    try:
        with db.session_factory(engine)() as session:
            row = session.execute(
                select(Request.id).order_by(Request.created_at.desc()).limit(1)
            ).scalar_one_or_none()
            return row
    finally:
        engine.dispose()


def audit_actions(env: Env, request_id: str | None = None) -> list[str]:
    engine = db.make_engine(env.database_url)
    try:
        with db.session_factory(engine)() as session:
            query = select(AuditEvent.action).order_by(AuditEvent.id)
            if request_id is not None:
                query = query.where(AuditEvent.request_id == request_id)
            return list(session.execute(query).scalars())
    finally:
        engine.dispose()


def wait_state(env: Env, request_id: str, wanted: RequestState, timeout: float = 30.0) -> None:
    wait_for(
        lambda: state(env, request_id) == wanted,
        timeout,
        lambda: f"request {request_id} to be {wanted.value} (is {state(env, request_id)})",
    )


@contextmanager
def environment(tmp_path: Path, database_url: str, **extra: str) -> Iterator[Env]:
    world = loader.start("demo", tmp_path / "kubeconfig", join_delay=0.05)
    stub = SlackStub()
    stub.start()
    seed_users(stub)
    try:
        yield Env(world, stub, tmp_path / "kubeconfig", database_url, dict(extra))
    finally:
        stub.stop()
        world.stop()


@contextmanager
def in_process(env: Env) -> Iterator[tuple[Client, Any]]:
    """The bot built and served in this process (fast); yields (client, bot)."""
    import uvicorn

    from bot import app, http, http_server, settings

    port = free_port()
    config = settings.load(env.environ(port))
    bot = app.build(config)
    server = uvicorn.Server(http_server.server_config(bot, http.http_app(bot)))  # the real limits
    thread = threading.Thread(target=server.run, daemon=True)
    base = f"http://127.0.0.1:{port}"
    client = Client(env, base)
    try:  # stopped and closed even when it never came up
        bot.start_background()
        thread.start()
        wait_for(lambda: _healthy(base), 10, "the bot's /healthz")
        yield client, bot
    finally:
        client.close()
        server.should_exit = True
        if thread.is_alive():
            thread.join(timeout=5)
        bot.close()


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


class BotProcess:
    """`ksmc-bot serve` as a child process, to be killed with SIGKILL and started again."""

    def __init__(self, env: Env, log_path: Path) -> None:
        self.env = env
        self.port = free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        # every Client that start() returned: a test may go on using one across kill() and
        # start() (the port stays the same), so they are closed by stop()
        self.clients: list[Client] = []

    def start(self) -> Client:
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "KSMC_"))}
        environ.update(self.env.environ(self.port))
        # the child writes to its own copy of the descriptor: this one is closed at once
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve"], env=environ, stdout=log, stderr=log
            )
        base = f"http://127.0.0.1:{self.port}"
        try:
            wait_for(lambda: _healthy(base), 30, "ksmc-bot serve to answer /healthz")
        except BaseException:
            self.stop()  # not left running (and unwaited for) when it never answered
            raise
        client = Client(self.env, base)
        self.clients.append(client)
        return client

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None
