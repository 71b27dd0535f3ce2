"""The HTTP front door under attack (issue #12, findings 4 and 6), through the real endpoint.

Each body is parsed once, so a user, channel or workspace named "payload" is answered (their
commands used to be acked and then lost) and a signed JSON body sent as a form gets a clear 400
instead of a 500. A flood of half-sent bodies is bounded in time and log volume; a client that
disconnects mid-body is logged once at INFO; the log filter never raises.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bot_harness import (
    ALICE,
    CHANNEL,
    SECRET,
    Client,
    Env,
    environment,
    hook_of,
    in_process,
    latest_request_id,
    wait_for,
    wait_state,
)
from slackstub import TEAM_ID, sign, slash_command_body

from bot import db
from bot.logfilter import SafeLogFilter
from bot.states import RequestState as S


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, Env]]:
    tmp = tmp_path_factory.mktemp("front")
    url = f"sqlite:///{tmp / 'ksmc.db'}"
    db.upgrade(url)
    limits = {
        "KSMC_HTTP_MAX_CONNECTIONS": "50",
        "KSMC_HTTP_HEADER_TIMEOUT": "2",
        "KSMC_HTTP_BODY_TIMEOUT": "2",
    }
    with environment(tmp, url, **limits) as env, in_process(env) as (client, _bot):
        yield client, env


def answered(env: Env, hook: str) -> str:
    wait_for(lambda: env.stub.responses(hook), 10, f"an answer on {hook}")
    return " ".join(json.dumps(r) for r in env.stub.responses(hook))


@pytest.mark.parametrize(
    "names",
    [
        {"user_name": "payload"},
        {"channel_name": "payload-ops"},
        {"team_domain": "payloads"},
        {"user_name": "x&payload={"},
    ],
    ids=["user", "channel", "team", "form-looking"],
)
def test_payload_in_names_still_gets_an_answer(
    bot: tuple[Client, Env], names: dict[str, str]
) -> None:
    client, env = bot
    for text in ("help", "cancel nosuchreq"):
        hook = f"named-{len(env.stub.calls())}-{time.monotonic_ns()}"
        url = env.stub.response_url(hook, channel=CHANNEL, user=ALICE)
        body = slash_command_body(text, ALICE, CHANNEL, TEAM_ID, url, **names)
        assert client.post(body, sign(SECRET, body)).status_code == 200
        assert answered(env, hook), text


def test_cancel_by_a_user_named_payload_cancels(bot: tuple[Client, Env]) -> None:
    client, env = bot
    client.command("migrate member-a to host-b keep ns1,ns2", user=ALICE)
    rid = str(wait_for(lambda: latest_request_id(env), 15, "the request"))
    wait_state(env, rid, S.PENDING, timeout=30)
    url = env.stub.response_url("cancel-payload", channel=CHANNEL, user=ALICE)
    body = slash_command_body(f"cancel {rid}", ALICE, CHANNEL, TEAM_ID, url, user_name="payload")
    assert client.post(body, sign(SECRET, body)).status_code == 200
    wait_state(env, rid, S.CANCELLED)
    assert "cancelled" in answered(env, "cancel-payload")


def test_signed_json_sent_as_a_form_gets_a_clear_400(bot: tuple[Client, Env]) -> None:
    client, _env = bot
    body = json.dumps({"type": "block_actions", "payload": {"x": 1}}).encode()
    response = client.post(body, sign(SECRET, body))  # Content-Type: x-www-form-urlencoded
    assert response.status_code == 400
    assert "application/json" in response.json()["error"]
    odd = b"hello=world"
    response = client.post(odd, sign(SECRET, odd))
    assert response.status_code == 400 and "not a Slack request" in response.json()["error"]


def _half_sent(port: int) -> socket.socket | None:
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(
            b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n" + b"{" * 10
        )
    except OSError:
        s.close()
        return None
    return s


def test_a_flood_of_half_sent_bodies_is_bounded_in_time_and_log(
    bot: tuple[Client, Env], caplog: pytest.LogCaptureFixture
) -> None:
    """1,100 connections each send headers and 10 bytes of a 100 kB body, and stop. Beyond the
    cap they get 503 at once, the rest 408 after the 2 s body timeout; /healthz answers again
    within a few seconds, a signed command is answered, and the log holds no traceback."""
    client, env = bot
    port = int(client.base.rsplit(":", 1)[1])
    caplog.set_level(logging.INFO)
    started = time.monotonic()
    held = [s for s in (_half_sent(port) for _ in range(1100)) if s is not None]
    assert len(held) > 1000
    recovered = wait_for(lambda: _healthz(client.base), 15, "/healthz to answer during the flood")
    took = time.monotonic() - started
    assert recovered and took < 15
    hook = hook_of(client.command("help"))
    assert answered(env, hook)
    for s in held:
        s.close()
    records = [r for r in caplog.records if r.name.startswith(("uvicorn", "ksmc", "starlette"))]
    assert not [r for r in records if r.exc_info or r.levelno >= logging.ERROR]
    assert len(records) < 50, [r.getMessage() for r in records[:5]]


def _refused_slow(client: Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith('ksmc_http_refused_total{reason="slow"}'):
            return float(line.split()[-1])
    return 0.0


def _closed_while_trickling(s: socket.socket, request: bytes, limit: float) -> float:
    """Send `request` a byte every 0.2 s; the seconds until the server closed the connection."""
    started = time.monotonic()
    s.settimeout(0.2)
    for byte in request:
        try:
            s.sendall(bytes([byte]))
            if s.recv(1024) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass
        except OSError:
            return time.monotonic() - started
        if time.monotonic() - started > limit:
            break
    raise AssertionError(f"the connection was still open after {limit} s of trickled headers")


def test_headers_sent_a_byte_at_a_time_are_cut_off(bot: tuple[Client, Env]) -> None:
    """Slowloris: a request's headers must arrive within KSMC_HTTP_HEADER_TIMEOUT (2 s here),
    on a new connection and on a keep-alive one whose earlier request was answered."""
    client, env = bot
    port = int(client.base.rsplit(":", 1)[1])
    before = _refused_slow(client)
    trickle = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200
    with socket.create_connection(("127.0.0.1", port)) as fresh:
        assert 1.5 < _closed_while_trickling(fresh, trickle, 10) < 5
    with socket.create_connection(("127.0.0.1", port)) as kept:
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert kept.recv(1024).startswith(b"HTTP/1.1 200")
        assert 1.5 < _closed_while_trickling(kept, trickle, 10) < 5
    assert _refused_slow(client) == before + 2
    hook = hook_of(client.command("help"))  # and the endpoint still answers
    assert answered(env, hook)


def _healthz(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_client_disconnect_mid_body_is_logged_once_at_info(
    bot: tuple[Client, Env], caplog: pytest.LogCaptureFixture
) -> None:
    client, _env = bot
    port = int(client.base.rsplit(":", 1)[1])
    caplog.set_level(logging.INFO)
    time.sleep(2.5)  # let connections of earlier tests run out their body timeout
    caplog.clear()
    s = _half_sent(port)
    assert s is not None
    time.sleep(0.3)
    s.close()
    wait_for(
        lambda: any("disconnected" in r.getMessage() for r in caplog.records), 5, "the log line"
    )
    time.sleep(0.3)
    lines = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


class _Hostile(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


class _BadArg:
    def __str__(self) -> str:
        raise ValueError("nope")


def test_the_log_filter_never_raises(tmp_path: Path) -> None:
    safe = SafeLogFilter(["s3cr3t-value-123"])
    try:
        raise _Hostile()
    except _Hostile:
        hostile = sys.exc_info()
    for record in (
        logging.LogRecord("x", logging.ERROR, __file__, 1, "boom s3cr3t-value-123", None, hostile),
        logging.LogRecord("x", logging.INFO, __file__, 1, "arg %s %d", (_BadArg(), "x"), None),
        logging.LogRecord("x", logging.INFO, __file__, 1, object(), None, None),
    ):
        assert safe.filter(record) is True
        assert "s3cr3t-value-123" not in str(record.msg) + str(record.exc_text or "")
