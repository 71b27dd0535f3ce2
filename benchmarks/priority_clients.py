"""The processes benchmarks/priority.py runs beside the bot, each apart from the process that
keeps the results: the minimal Bolt app (the baseline), the burst's 20 senders, and the client
that times the presses.

Why the presses are timed from a process of their own: the bench's main process also runs the
Slack stand-in (which takes the bot's 200 answers to the burst on threads sharing its GIL) and
polls the database for each press's effect; and a gen-2 garbage collection of its large heap
(the harness, SQLAlchemy, the stand-in) paused a timed request by 25-35 ms now and then, in idle
and busy rounds alike. Here the heap is frozen before timing and the collector is off while a
request is in flight, so what is timed is the bot's answer.
"""

from __future__ import annotations

import gc
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

_TESTS = Path(__file__).resolve().parents[1] / "tests" / "support"
if str(_TESTS) not in sys.path:  # the Slack stand-in's signing lives with the tests
    sys.path.insert(0, str(_TESTS))

import httpx  # noqa: E402
from bot_harness import SECRET, TOKEN  # noqa: E402
from slackstub import sign  # noqa: E402

if TYPE_CHECKING:
    from slack_bolt import App


def post(http: httpx.Client, base: str, body: bytes) -> float:
    """Seconds until the signed `body` is answered 200."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, body)}
    started = time.perf_counter()
    response = http.post(f"{base}/slack/events", content=body, headers=headers)
    took = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code} {response.text[:100]}")
    return took


def minimal_bolt_app(api_url: str) -> App:
    """The benchmarks' baseline: a Bolt app that verifies the signature and acks `/ksmc`,
    nothing else (each benchmark puts it behind the server its goal names)."""
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    app = App(
        client=WebClient(token=TOKEN, base_url=api_url),
        signing_secret=SECRET,
        token_verification_enabled=False,
    )

    @app.command("/ksmc")
    def only_ack(ack: Ack) -> None:
        ack()

    return app


def serve_baseline(port: int, api_url: str) -> None:
    """The minimal Bolt app behind `slack_bolt.adapter.wsgi` on a threading wsgiref server."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from slack_bolt.adapter.wsgi import SlackRequestHandler

    app = minimal_bolt_app(api_url)

    class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        # socketserver's listen backlog is 5: with 20 clients connecting at once (wsgiref closes
        # every connection) dropped SYNs cost the baseline 1 s retransmits; a fair baseline has
        # a backlog like uvicorn's
        request_queue_size = 2048

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # no line per request
            pass

    server = make_server(
        "127.0.0.1",
        port,
        SlackRequestHandler(app),
        server_class=ThreadingWSGIServer,
        handler_class=QuietHandler,
    )
    server.serve_forever()


def burst_client(base: str) -> None:
    """Post the bodies on stdin (a JSON list), 20 at a time, signed as they are sent; a line on
    stdout for each one answered."""
    bodies: list[str] = json.load(sys.stdin)
    lock = threading.Lock()
    with httpx.Client(timeout=30) as http, ThreadPoolExecutor(max_workers=20) as pool:

        def one(body: str) -> None:
            post(http, base, body.encode())
            with lock:
                print("sent", flush=True)

        list(pool.map(one, bodies))


def press_client(base: str) -> None:
    """For each body on stdin (a JSON string per line): post it on one keep-alive connection
    and write `{"started": <perf_counter>, "ack": <seconds>}` (perf_counter is the system's
    monotonic clock, so the parent can time the press's effect from the same start)."""
    with httpx.Client(timeout=30) as http:
        gc.collect()
        gc.freeze()  # what is left now is never collected again: no long pauses later
        for line in sys.stdin:
            body = json.loads(line).encode()
            gc.disable()
            started = time.perf_counter()
            try:
                ack = post(http, base, body)
            finally:
                gc.enable()
            print(json.dumps({"started": started, "ack": ack}), flush=True)
