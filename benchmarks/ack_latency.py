"""How fast ksmc-bot acknowledges slash commands while its clusters are slow, against a minimal
Bolt app that does nothing but ack — same machine, same run, same client.

Run with `python -m benchmarks.ack_latency [--commands 200 --concurrency 50 --delay 0.2]`.
The simulated fleet adds `--delay` seconds to every Kubernetes call; `ksmc-bot serve` (HTTP mode,
PostgreSQL from KSMC_TEST_PG_URL when set, else SQLite) and the baseline (slack_bolt's starlette
adapter under uvicorn, one listener that only acks) each get the same signed slash commands,
`--concurrency` in flight at a time, on 127.0.0.1. Reported: p50/p99/max time to HTTP 200 for
both, and the bot's p99 as a multiple of the baseline's. Goals: that ratio at most 2, and every
ack well under Slack's 3 seconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1] / "tests" / "support"
if str(_TESTS) not in sys.path:  # the Slack stand-in and the bot harness live with the tests
    sys.path.insert(0, str(_TESTS))

import httpx  # noqa: E402
from bot_harness import (  # noqa: E402  # noqa: E402
    ALICE,
    CHANNEL,
    SECRET,
    BotProcess,
    Env,
    free_port,
    seed_users,
    wait_for,
)
from slackstub import TEAM_ID, SlackStub, sign, slash_command_body  # noqa: E402

from benchmarks.priority_clients import minimal_bolt_app  # noqa: E402
from benchmarks.soak import database  # noqa: E402
from bot import db  # noqa: E402
from k8s.sim import loader  # noqa: E402

#: What users type, in turn: queries and dry-run migrations both make the bot call clusters.
COMMANDS = (
    "status",
    "migrate member-a to host-b keep ns1,ns2 dry-run",
    "clusters",
    "workspaces member-a",
)
#: The goal: the bot's p99 at most this multiple of a bare ack's p99.
MAX_RATIO = 2.0


def serve_baseline(port: int, api_url: str) -> None:
    """The minimal Bolt app behind Bolt's Starlette adapter on uvicorn (run in a child process)."""
    import uvicorn
    from slack_bolt.adapter.starlette import SlackRequestHandler
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    app = minimal_bolt_app(api_url)
    handler = SlackRequestHandler(app)

    async def events(request: Request) -> Response:
        response: Response = await handler.handle(request)
        return response

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [Route("/slack/events", events, methods=["POST"]), Route("/healthz", healthz)]
    uvicorn.run(Starlette(routes=routes), host="127.0.0.1", port=port, log_level="warning")


def fire(base: str, stub: SlackStub, commands: int, concurrency: int, tag: str) -> list[float]:
    """Send `commands` signed slash commands, `concurrency` at a time; seconds to each 200."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(timeout=30, limits=limits) as http:

        def one(i: int) -> float:
            url = stub.response_url(f"{tag}-{i}", channel=CHANNEL, user=ALICE)
            body = slash_command_body(COMMANDS[i % len(COMMANDS)], ALICE, CHANNEL, TEAM_ID, url)
            headers = sign(SECRET, body)
            started = time.perf_counter()
            response = http.post(f"{base}/slack/events", content=body, headers=headers)
            took = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"{tag}: HTTP {response.status_code} {response.text[:100]}")
            return took

        for i in range(3):  # warm up: first-request costs (auth.test, connections) are not acks
            one(-1 - i)
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(one, range(commands)))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(commands: int, concurrency: int, delay: float) -> dict[str, float]:
    results: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="ksmc-ack-") as tmp,
        database(os.environ.get("KSMC_TEST_PG_URL")) as (url, kind),
    ):
        db.upgrade(url)
        world = loader.start("demo", Path(tmp) / "kubeconfig", join_delay=0.05)
        stub = SlackStub()
        stub.start()
        seed_users(stub)
        bot = BotProcess(Env(world, stub, Path(tmp) / "kubeconfig", url), Path(tmp) / "bot.log")
        port = free_port()
        baseline = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.ack_latency",
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
            for cluster in world.clusters.values():
                cluster.add_fault({"path": ".*", "delay": delay})  # every call, every cluster
            print(
                f"ack latency: {commands} slash commands, {concurrency} at a time; every "
                f"Kubernetes call +{delay * 1000:.0f} ms; bot on {kind}",
                flush=True,
            )
            for name, target in (("baseline", base), ("ksmc-bot", client.base)):
                times = fire(target, stub, commands, concurrency, name)
                results[f"{name}_p50"] = percentile(times, 0.5)
                results[f"{name}_p99"] = percentile(times, 0.99)
                results[f"{name}_max"] = max(times)
                print(
                    f"{name:<10} p50 {results[f'{name}_p50'] * 1000:7.1f} ms   "
                    f"p99 {results[f'{name}_p99'] * 1000:7.1f} ms   "
                    f"max {results[f'{name}_max'] * 1000:7.1f} ms",
                    flush=True,
                )
        finally:
            baseline.terminate()
            baseline.wait(10)
            bot.stop()
            stub.stop()
            world.stop()
    results["p99_ratio"] = results["ksmc-bot_p99"] / results["baseline_p99"]
    met = results["p99_ratio"] <= MAX_RATIO and results["ksmc-bot_max"] < 3.0
    print(
        f"p99 ratio ksmc-bot / baseline: {results['p99_ratio']:.2f} (goal ≤ {MAX_RATIO:g}); "
        f"slowest ack {results['ksmc-bot_max'] * 1000:.0f} ms (Slack allows 3000): "
        f"{'met' if met else 'NOT met'}",
        flush=True,
    )
    return results


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument(
        "--serve-baseline", nargs=2, metavar=("PORT", "API_URL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.serve_baseline:
        serve_baseline(int(args.serve_baseline[0]), args.serve_baseline[1])
        return 0
    results = run(args.commands, args.concurrency, args.delay)
    return 0 if results["p99_ratio"] <= MAX_RATIO and results["ksmc-bot_max"] < 3.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
