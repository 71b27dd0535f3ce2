"""`ksmc-bot serve` acks Slack from a front-door process of its own (bot/frontdoor.py): a press
and a command are acked while the bot's process is frozen and take effect once it runs again;
what only Bolt can answer, /readyz and /metrics go through the pipe; and either process ending
ends the other, so a killed bot never leaves its port held. The bot's threads run at a lower
CPU priority than the front door's, whose threads ask the kernel for short time slices, and
presses and cancels are handed to Bolt ahead of the rest, as the lanes run them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bot_harness import (
    ALICE,
    BOB,
    CHANNEL,
    SECRET,
    BotProcess,
    Env,
    current_button_value,
    environment,
    hook_of,
    latest_request_id,
    message_ts,
    wait_for,
    wait_state,
)
from slackstub import block_action_body, sign

from bot.cpu import SHORT_SLICE_NS, slice_of
from bot.dispatch import Forwarded
from bot.states import RequestState as S
from bot.work import Lane
from handlers.commands import lane_of


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with environment(tmp_path, f"sqlite:///{tmp_path / 'ksmc.db'}") as e:
        yield e


def front_door_pid(bot_pid: int) -> int:
    """The bot's child that multiprocessing spawned (its resource tracker is the other one)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == bot_pid and b"spawn_main" in cmdline:
            return int(entry.name)
    raise AssertionError(f"no front-door process under {bot_pid}")


def alive(pid: int) -> bool:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def refused(base: str) -> bool:
    try:
        httpx.get(f"{base}/healthz", timeout=1)
    except httpx.ConnectError:
        return True
    except httpx.HTTPError:
        return False
    return False


def test_acks_while_the_bots_process_is_frozen(env: Env, tmp_path: Path) -> None:
    bot = BotProcess(env, tmp_path / "bot.log")
    client = bot.start()
    assert bot.proc is not None
    try:
        client.command("migrate member-a to host-b keep ns1,ns2", user=ALICE)
        rid = str(wait_for(lambda: latest_request_id(env), 15, "the request row"))
        wait_state(env, rid, S.PENDING)
        # the press as Slack would send it, made before the freeze: reading the database while
        # the bot is stopped could meet a lock it holds
        ts = message_ts(env, rid) or "0.0"
        url = env.stub.response_url("frozen-press", channel=CHANNEL, message_ts=ts, user=BOB)
        value = current_button_value(env, rid)
        press = block_action_body("ksmc_reject", value, BOB, CHANNEL, ts, url)
        os.kill(bot.proc.pid, signal.SIGSTOP)  # the bot's interpreter does nothing at all now
        try:
            assert client.post(press, sign(SECRET, press)).status_code == 200
            assert client.command("help", user=ALICE).status_code == 200
            assert client.get("/healthz").status_code == 200
        finally:
            os.kill(bot.proc.pid, signal.SIGCONT)
        wait_state(env, rid, S.REJECTED)  # what was acked was handed on, not lost
    finally:
        bot.stop()


def niceness(pid: int, tid: int | None = None) -> int:
    stat = Path("/proc", str(pid), *(("task", str(tid)) if tid else ()), "stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


def test_the_bots_threads_yield_the_cpu_to_the_front_door(env: Env, tmp_path: Path) -> None:
    bot = BotProcess(env, tmp_path / "bot.log")
    client = bot.start()
    assert bot.proc is not None
    try:
        # answered: threads the lanes, Bolt and the cluster reads started after the front door
        hook = hook_of(client.command("clusters", user=ALICE))
        wait_for(lambda: env.stub.responses(hook), 30, "the answer to clusters")
        door = front_door_pid(bot.proc.pid)
        threads = [int(t.name) for t in Path("/proc", str(bot.proc.pid), "task").iterdir()]
        assert len(threads) > 5
        assert all(niceness(bot.proc.pid, t) > niceness(door) for t in threads)
    finally:
        bot.stop()


def kernel_keeps_short_slices() -> bool:
    probe = "from bot.cpu import ask_for_short_slices as a; raise SystemExit(0 if a() else 1)"
    return subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0


@pytest.mark.skipif(not kernel_keeps_short_slices(), reason="custom time slices: Linux >= 6.12")
def test_the_front_doors_threads_run_on_short_time_slices(env: Env, tmp_path: Path) -> None:
    bot = BotProcess(env, tmp_path / "bot.log")
    client = bot.start()
    assert bot.proc is not None
    try:
        assert client.get("/healthz").status_code == 200
        door = front_door_pid(bot.proc.pid)
        # the event loop that acks, the pipe's threads, and those its first requests started
        threads = [int(t.name) for t in Path("/proc", str(door), "task").iterdir()]
        assert len(threads) >= 3
        assert {slice_of(t) for t in threads} == {SHORT_SLICE_NS}
        bots = [int(t.name) for t in Path("/proc", str(bot.proc.pid), "task").iterdir()]
        assert SHORT_SLICE_NS not in {slice_of(t) for t in bots}  # the bot's work does not
    finally:
        bot.stop()


def test_bolt_answers_readiness_and_metrics_go_through_the_pipe(env: Env, tmp_path: Path) -> None:
    bot = BotProcess(env, tmp_path / "bot.log")
    client = bot.start()
    try:
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"ready": True})
        body = json.dumps({"type": "url_verification", "challenge": "c-42", "token": "t"}).encode()
        headers = {**sign(SECRET, body), "Content-Type": "application/json"}
        answered = client.http.post(f"{client.base}/slack/events", content=body, headers=headers)
        assert answered.status_code == 200 and "c-42" in answered.text
        assert client.command("help", user=ALICE).status_code == 200

        def acks_counted() -> bool:
            text = client.get("/metrics").text
            return 'ksmc_ack_latency_seconds_count{kind="command"} 1.0' in text

        wait_for(acks_counted, 10, "the front door's ack latency in the bot's /metrics")
    finally:
        bot.stop()


def test_either_process_ending_ends_the_other(env: Env, tmp_path: Path) -> None:
    bot = BotProcess(env, tmp_path / "bot.log")
    client = bot.start()
    assert bot.proc is not None
    try:
        os.kill(front_door_pid(bot.proc.pid), signal.SIGKILL)
        proc = bot.proc
        status = wait_for(lambda: proc.poll(), 20, "the bot to exit without its front door")
        assert status != 0
        bot.proc = None

        client = bot.start()
        assert bot.proc is not None
        door = front_door_pid(bot.proc.pid)
        bot.kill()  # SIGKILL: no cleanup code runs in the bot
        wait_for(lambda: not alive(door), 10, "the front door to exit with the bot")
        assert refused(client.base)
    finally:
        bot.stop()


@pytest.mark.parametrize("text", ["cancel abcd1234", "CANCEL x", "clusters", "help", "", "cancelx"])
def test_the_commands_dispatched_first_are_those_the_lanes_run_first(text: str) -> None:
    body = {"command": "/ksmc", "text": text}
    assert Forwarded(body, "", {}).urgent is (lane_of(text) is Lane.URGENT)


def test_every_press_is_dispatched_first_and_nothing_else() -> None:
    assert Forwarded({"type": "block_actions", "actions": [{}]}, "", {}).urgent
    for other in ("view_submission", "block_suggestion", "event_callback"):
        assert not Forwarded({"type": other}, "", {}).urgent
