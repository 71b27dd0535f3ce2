"""Issue #12's two latency goals for the worker lanes, each a ratio against a baseline measured in
the same run on the same machine (never a timed threshold):

(a) presses under a query burst: the p99 time to ack a Reject or Cancel press while a guest's
    burst of `/ksmc clusters` runs against a slow cluster, within 1.5x of the same presses' p99
    when the bot is idle. The time until the press took effect (the request's state changed in
    the database) is reported beside it, with the same ratio.
(b) slash commands with 200 preflights queued: the p99 time to ack `/ksmc` commands, within
    1.5x of a minimal Bolt app that only acks — Bolt's `App` with one `ack()` listener behind
    `slack_bolt.adapter.wsgi` on a threading `wsgiref` server, the fastest stock setup. Both are
    measured in alternating rounds while the bot's preflights run, so both see the same load.

The load comes from processes other than the one that times the acks: the fleet runs as
`ksmc-bot sim`, the baseline as `--serve-baseline`, the query burst's 20 senders as
`--burst-client`, and the presses are timed by `--press-client` (benchmarks/priority_clients.py).
(The burst used to be sent by 20 threads here, and they held this process's GIL while its
client waited to read a press's answer: about half of the busy p99 measured then was this
process's queueing, not the bot's. The presses were timed here too, beside the Slack stand-in
taking the bot's answers to the burst, and a garbage collection of this process's heap paused
some of them by 25-35 ms.)

Each round has 200 presses by default: a p99 here is the value at rank int(0.99 n) of n sorted,
so of fewer than 200 it is the slowest one, and the ratio of two maxima of 30 (what this bench
used to take) went from 0.80 to 1.65 over seven runs on one machine.

Run with `python -m benchmarks.priority [--presses 200 --burst 200 --preflights 200]`; `ksmc-bot
serve` runs in HTTP mode on PostgreSQL from KSMC_TEST_PG_URL when set, else SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1] / "tests" / "support"
if str(_TESTS) not in sys.path:  # the Slack stand-in and the bot harness live with the tests
    sys.path.insert(0, str(_TESTS))

import httpx  # noqa: E402
from bot_harness import (  # noqa: E402
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    DAVE,
    GUEST,
    BotProcess,
    Client,
    Env,
    free_port,
    seed_users,
    wait_for,
)
from slackstub import TEAM_ID, SlackStub, block_action_body, slash_command_body  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from benchmarks.ack_latency import percentile  # noqa: E402
from benchmarks.priority_clients import burst_client, post, press_client, serve_baseline  # noqa: E402
from benchmarks.soak import database  # noqa: E402
from bot import db  # noqa: E402
from bot.authority import button_value  # noqa: E402
from bot.db import Request  # noqa: E402
from bot.states import RequestState as S  # noqa: E402
from k8s.plan import Plan  # noqa: E402

#: The goal for both ratios.
MAX_RATIO = 1.5
#: What is sent while the preflights are queued: a question, help, a cancel of nothing, history.
COMMANDS = ("clusters", "help", "cancel zzzzzzzz", "history 3")


def command_body(stub: SlackStub, text: str, user: str, hook: str) -> bytes:
    url = stub.response_url(hook, channel=CHANNEL, user=user)
    return slash_command_body(text, user, CHANNEL, TEAM_ID, url)


def stats(name: str, times: list[float]) -> float:
    p99 = percentile(times, 0.99)
    print(
        f"  {name:<34} n={len(times):<4} p50 {percentile(times, 0.5) * 1000:7.1f} ms   "
        f"p99 {p99 * 1000:7.1f} ms   max {max(times) * 1000:7.1f} ms",
        flush=True,
    )
    return p99


class SimFleet:
    """The simulated fleet in a process of its own (`ksmc-bot sim`), so that serving the burst's
    reads does not compete with this process's timing for the GIL; faults go through its
    control API."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self.clusters = {name: SimCluster(url) for name, url in urls.items()}


class SimCluster:
    def __init__(self, url: str) -> None:
        self.url = url

    def add_fault(self, spec: dict[str, object]) -> None:
        httpx.post(f"{self.url}/_sim/faults", json=spec).raise_for_status()


def start_sim(tmp: Path) -> tuple[subprocess.Popen[str], SimFleet]:
    kubeconfig = tmp / "kubeconfig"
    args = ["-m", "bot.cli", "sim", "--world", "demo", "--join-delay", "0.05"]
    sim = subprocess.Popen(
        [sys.executable, *args, "--kubeconfig-out", str(kubeconfig)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sim.stdout is not None
    urls: dict[str, str] = {}
    for line in sim.stdout:
        if line.startswith("READY"):
            continue
        parts = line.split()
        if len(parts) == 2 and parts[1].startswith("http"):
            urls[parts[0]] = parts[1]
        elif urls:
            break
    threading.Thread(target=sim.stdout.read, daemon=True).start()  # never block the sim
    return sim, SimFleet(urls)


# ---- (a) presses under a query burst ----------------------------------------------------------


def make_pending(client: Client, env: Env, count: int) -> list[str]:
    """`count` pending requests from alice (read while every cluster is quick)."""
    users = (ALICE,)
    for i in range(count):
        client.command("migrate member-a to host-b keep ns1,ns2", user=users[i % len(users)])
    ids = wait_for(lambda: _ids_in(env, S.PENDING, count), 300, f"{count} pending requests")
    return list(ids)


def _ids_in(env: Env, wanted: S, count: int) -> list[str] | None:
    engine = db.make_engine(env.database_url)
    try:
        with db.session_factory(engine)() as session:
            ids = list(session.execute(select(Request.id).where(Request.state == wanted)).scalars())
    finally:
        engine.dispose()
    return ids if len(ids) >= count else None


class Rows:
    """This process's reads of the bot's database, on one pooled connection for the whole run.
    (Each read used to open an engine and a connection of its own: every 20 ms poll for a
    press's effect forked a PostgreSQL backend, and the backends exited while the next press
    was timed, in idle and busy rounds alike.)"""

    def __init__(self, url: str) -> None:
        self.engine = db.make_engine(url)
        self.sessions = db.session_factory(self.engine)

    def row(self, request_id: str) -> Request | None:
        with self.sessions() as session:
            return session.get(Request, request_id)

    def state(self, request_id: str) -> S | None:
        row = self.row(request_id)
        return row.state if row else None

    def buttons(self, request_id: str) -> tuple[str, str]:
        """The request message's ts and what its buttons carry (`current_button_value`)."""
        row = self.row(request_id)
        if row is None:
            return "0.0", request_id
        plan = Plan.from_json(row.plan_json) if row.plan_json else None
        return row.message_ts or "0.0", button_value(row.id, row.version, plan)

    def close(self) -> None:
        self.engine.dispose()


def press_all(client: Client, env: Env, ids: list[str]) -> tuple[list[float], list[float]]:
    """Reject (bob) or Cancel (alice, the requester) each request in turn: ack and effect times.
    The presses are sent and timed by a child process (`--press-client`, benchmarks/
    priority_clients.py says why); this one waits for each press's effect before the next."""
    rows = Rows(env.database_url)
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.priority", "--press-client", client.base],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert child.stdin is not None and child.stdout is not None
    acks: list[float] = []
    effects: list[float] = []
    try:
        for i, rid in enumerate(ids):
            action, user, done = (
                ("ksmc_reject", BOB, S.REJECTED)
                if i % 2 == 0
                else ("ksmc_cancel", ALICE, S.CANCELLED)
            )
            ts, value = rows.buttons(rid)
            url = env.stub.response_url(f"press-{rid}", channel=CHANNEL, message_ts=ts, user=user)
            body = block_action_body(action, value, user, CHANNEL, ts, url)
            child.stdin.write(json.dumps(body.decode()) + "\n")
            child.stdin.flush()
            timed = json.loads(child.stdout.readline())
            acks.append(timed["ack"])
            wait_for(lambda r=rid, d=done: rows.state(r) == d, 60, f"{rid} {done.value}")  # type: ignore[misc]
            effects.append(time.perf_counter() - timed["started"])
            time.sleep(0.05)
    finally:
        child.stdin.close()
        child.wait(10)
        rows.close()
    return acks, effects


def query_burst(
    base: str, stub: SlackStub, count: int
) -> tuple[subprocess.Popen[str], Callable[[], int]]:
    """A guest's `/ksmc clusters`, `count` of them 20 at a time, sent by a child process
    (`--burst-client`): 20 sending threads in this process would compete for its GIL with the
    client timing the presses, and the press acks measured would be this process's queueing,
    not the bot's. The bodies (their response_urls registered on the stub) are made here."""
    bodies = [command_body(stub, "clusters", GUEST, f"burst-{i}").decode() for i in range(count)]
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.priority", "--burst-client", base],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(json.dumps(bodies))
    child.stdin.close()
    sent = [0]
    out = child.stdout

    def count_sent() -> None:
        for _line in out:  # one line per answered post
            sent[0] += 1

    threading.Thread(target=count_sent, daemon=True).start()
    return child, lambda: sent[0]


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, in clock ticks (/proc/stat)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    total = sum(ticks[:8])  # guest time is already counted in user
    return total - idle, total


def wait_until_quiet(share: float = 0.10, timeout: float = 120) -> float:
    """Wait until the machine's CPUs are less than `share` busy over two seconds in a row:
    after the pending requests are stored the bot still posts their messages and PostgreSQL
    vacuums what they wrote, and the idle round must be idle, not a tail of the set-up. The
    seconds waited."""
    started = time.monotonic()
    before = cpu_jiffies()
    calm = 0
    while time.monotonic() - started < timeout and calm < 2:
        time.sleep(1.0)
        now = cpu_jiffies()
        busy, total = now[0] - before[0], now[1] - before[1]
        calm = calm + 1 if total and busy / total < share else 0
        before = now
    return time.monotonic() - started


def presses(client: Client, env: Env, count: int, burst: int) -> dict[str, float]:
    ids = make_pending(client, env, 2 * count)
    waited = wait_until_quiet()
    print(
        f"(a) {count} presses idle (the machine quiet after {waited:.0f} s), then {count} during a "
        f"burst of {burst} `clusters`",
        flush=True,
    )
    idle_acks, idle_effects = press_all(client, env, ids[:count])
    in_order = " ".join(f"{a * 1000:.0f}" for a in idle_acks)
    print(f"  press acks idle, in the order sent (ms): {in_order}", flush=True)
    env.world.clusters["member-b"].add_fault({"method": "GET", "path": ".*", "delay": 2.0})
    sender, sent = query_burst(client.base, env.stub, burst)
    try:
        wait_for(lambda: sent() >= 20, 30, "the burst to start")
        busy_acks, busy_effects = press_all(client, env, ids[count:])
        answered = sum(1 for i in range(burst) if env.stub.responses(f"burst-{i}"))
    finally:
        sender.kill()
        sender.wait(10)
    print(f"  burst: {sent()} sent, {answered} answered while the presses ran", flush=True)
    in_order = " ".join(f"{a * 1000:.0f}" for a in busy_acks)
    print(f"  press acks under the burst, in the order sent (ms): {in_order}", flush=True)
    effects = " ".join(f"{e * 1000:.0f}" for e in busy_effects)
    print(f"  press effects under the burst, in the order sent (ms): {effects}", flush=True)
    results = {
        "ack_ratio": stats("press ack, under the burst", busy_acks)
        / stats("press ack, idle", idle_acks),
        "effect_ratio": stats("press effect, under the burst", busy_effects)
        / stats("press effect, idle", idle_effects),
    }
    httpx.delete(f"{env.world.clusters['member-b'].url}/_sim/faults")
    return results


# ---- (b) slash commands with preflights queued ------------------------------------------------


def queued_preflights(env: Env) -> int:
    engine = db.make_engine(env.database_url)
    try:
        with db.session_factory(engine)() as session:
            waiting = (S.RECEIVED, S.PREFLIGHTING)
            query = select(func.count()).select_from(Request).where(Request.state.in_(waiting))
            return int(session.scalar(query) or 0)
    finally:
        engine.dispose()


def dry_runs(env: Env) -> int:
    engine = db.make_engine(env.database_url)
    try:
        with db.session_factory(engine)() as session:
            query = select(func.count()).select_from(Request).where(Request.dry_run.is_(True))
            return int(session.scalar(query) or 0)
    finally:
        engine.dispose()


def commands(
    client: Client, env: Env, baseline: str, preflights: int, count: int
) -> dict[str, float]:
    for cluster in env.world.clusters.values():
        cluster.add_fault({"path": ".*", "delay": 0.2})  # every call, every cluster
    users = (ALICE, CAROL, DAVE, BOB)
    with httpx.Client(timeout=30) as http:
        for i in range(preflights):
            text = "migrate member-a to host-b keep ns1,ns2 dry-run"
            post(http, client.base, command_body(env.stub, text, users[i % 4], f"pre-{i}"))
    wait_for(lambda: dry_runs(env) >= preflights, 120, f"{preflights} requests stored")
    queued = queued_preflights(env)
    print(f"(b) {count} slash commands each, with {queued} preflights queued", flush=True)
    times: dict[str, list[float]] = {"baseline": [], "ksmc-bot": []}
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
    rounds = 8
    with httpx.Client(timeout=30, limits=limits) as http, ThreadPoolExecutor(20) as pool:
        for r in range(rounds):  # alternating, so both see the same load over time
            for name, base in (("baseline", baseline), ("ksmc-bot", client.base)):

                def one(i: int, name: str = name, base: str = base) -> float:
                    text = COMMANDS[i % len(COMMANDS)]
                    return post(http, base, command_body(env.stub, text, ALICE, f"{name}-{i}"))

                per = count // rounds
                times[name] += pool.map(one, range(r * per, (r + 1) * per))
    left = queued_preflights(env)
    print(f"  preflights still queued at the end: {left}", flush=True)
    for cluster in env.world.clusters.values():
        httpx.delete(f"{cluster.url}/_sim/faults")
    return {
        "command_ratio": stats("ksmc-bot", times["ksmc-bot"]) / stats("baseline", times["baseline"])
    }


def run(presses_each: int, burst: int, preflights: int, count: int) -> dict[str, float]:
    results: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="ksmc-priority-") as tmp,
        database(os.environ.get("KSMC_TEST_PG_URL")) as (url, kind),
    ):
        db.upgrade(url)
        sim, world = start_sim(Path(tmp))
        stub = SlackStub()
        stub.start()
        seed_users(stub)
        extra = {"KSMC_APPROVAL_TTL": "1d"}
        # the fleet runs in its own process: Env's world is only used here, for faults
        env = Env(world, stub, Path(tmp) / "kubeconfig", url, extra)  # type: ignore[arg-type]
        bot = BotProcess(env, Path(tmp) / "bot.log")
        port = free_port()
        baseline = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.priority",
                "--serve-baseline",
                str(port),
                stub.api_url,
            ],
            cwd=Path(__file__).resolve().parents[1],
        )
        try:
            client = bot.start()
            base = f"http://127.0.0.1:{port}"
            wait_for(lambda: _up(base), 30, "the baseline Bolt app")
            print(f"bot on {kind}", flush=True)
            results |= presses(client, env, presses_each, burst)
            results |= commands(client, env, base, preflights, count)
        finally:
            baseline.terminate()
            baseline.wait(10)
            bot.stop()
            stub.stop()
            sim.terminate()
            sim.wait(10)
    for name, ratio in results.items():
        print(f"{name}: {ratio:.2f} (goal ≤ {MAX_RATIO:g})", flush=True)
    return results


def _up(base: str) -> bool:
    try:
        httpx.get(f"{base}/slack/events", timeout=1)
    except httpx.HTTPError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--preflights", type=int, default=200)
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument(
        "--serve-baseline", nargs=2, metavar=("PORT", "API_URL"), help=argparse.SUPPRESS
    )
    parser.add_argument("--burst-client", metavar="BASE", help=argparse.SUPPRESS)
    parser.add_argument("--press-client", metavar="BASE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.burst_client:
        burst_client(args.burst_client)
        return 0
    if args.press_client:
        press_client(args.press_client)
        return 0
    if args.serve_baseline:
        serve_baseline(int(args.serve_baseline[0]), args.serve_baseline[1])
        return 0
    results = run(args.presses, args.burst, args.preflights, args.commands)
    goals = ("ack_ratio", "command_ratio")
    return 0 if all(results[g] <= MAX_RATIO for g in goals) else 1


if __name__ == "__main__":
    raise SystemExit(main())
