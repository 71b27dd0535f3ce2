"""`ksmc-bot serve`'s HTTP front door in a process of its own, so that acking Slack never waits
for the bot's interpreter (issue #12, finding 5; `benchmarks/priority.py` measures it).

Why a process: profiled with py-spy while 200 preflights were queued, the bot's lane threads
(loading request rows and their plans, parsing the clusters' JSON into kubernetes models,
starting gather threads) held the GIL about half of the time and the event loop that acks about
4 %. Each time the loop gave the GIL up (every socket call) it queued behind them, so a slash
command's ack took 4-7x a bare Bolt app's; a shorter switch interval did not change that. The
ack path itself does no slow work (no lock, database or log write before the 200).

So the front door (uvicorn and bot/http.py's `slack_app`: read, verify, parse once, ack) runs
in a child process and sends each parsed request over a pipe; here, `Worker` hands it to Bolt
exactly as the one-process front door did. What Bolt must answer itself (events, modal
submissions, options), /readyz and /metrics are asked over the same pipe, and the front door's
metric observations are sent back, so /metrics stays one registry. Pickles cross only this
pipe, between the bot's own two processes. Either end going away ends the other: the front
door exits when the pipe closes (even after a SIGKILL of the bot, so it never holds the port
for a bot that is gone), and `serve` raises when the front door exits unasked.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from bot import cpu
from bot.dispatch import Forwarded, Reply, bolt_reply, dispatch_acked, metrics_reply, readiness
from bot.metrics import ACK_LATENCY, HTTP_REFUSED

if TYPE_CHECKING:
    from bot.app import Bot
    from bot.settings import Settings

log = logging.getLogger("ksmc.frontdoor")

#: Threads handing acked requests to Bolt, by kind, each kind queueing apart (a burst of
#: commands queues only behind itself): presses and `/ksmc cancel` (`Forwarded.urgent`); the
#: other acked requests; and what an HTTP answer waits for (Bolt's answers to options and
#: submissions, /readyz, /metrics). A dispatch holds its thread until Bolt's listener has
#: acked, and Bolt runs listeners on 5 threads of its own: more threads here would only add
#: threads waiting for the GIL.
DISPATCH_THREADS = {"urgent": 4, "acked": 8, "answers": 8}
#: How long the front door waits for an answer only Bolt can give: Slack gives up after 3 s,
#: so waiting longer would only hold a connection.
ANSWER_TIMEOUT = 10.0
#: Once the bot's process is gone, the time the front door's connections get to close.
EXIT_GRACE = 3.0

#: The answer when the bot's process does not answer (gone, or too slow).
UNAVAILABLE = Reply(
    503, b'{"error": "the bot is not answering"}', {"Content-Type": "application/json"}
)

# The messages. Front door to bot: ("acked", Forwarded), ("answer", n, Forwarded), ("ready", n),
# ("metrics", n, accept), ("ack_latency", kind, seconds), ("refused", reason).
# Bot to front door: (n, Reply).


class FrontDoorExited(RuntimeError):
    """The front door's process ended without being asked: Slack can no longer reach the bot,
    so `serve` ends too (and its supervisor restarts it)."""


class PipeBackend:
    """The front door's side of the pipe (a `bot.dispatch.Backend`). Sends go through one thread,
    because a send blocks while the pipe is full and the event loop must never block; answers
    come back on another thread and wake the request waiting for them."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._outbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._waiting: dict[int, asyncio.Future[Reply]] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self.closed = threading.Event()
        for run, name in ((self._send_all, "send"), (self._receive_all, "receive")):
            threading.Thread(target=run, name=f"ksmc-front-{name}", daemon=True).start()

    def acked(self, request: Forwarded) -> None:
        self._outbox.put(("acked", request))

    async def answer(self, request: Forwarded) -> Reply:
        return await self._ask("answer", request)

    async def ready(self) -> Reply:
        return await self._ask("ready")

    async def metrics(self, accept: str | None) -> Reply:
        return await self._ask("metrics", accept)

    def observe_ack(self, kind: str, seconds: float) -> None:
        self._outbox.put(("ack_latency", kind, seconds))

    def refused(self, reason: str) -> None:
        self._outbox.put(("refused", reason))

    async def _ask(self, what: str, *args: Any) -> Reply:
        if self.closed.is_set():
            return UNAVAILABLE
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        number = next(self._numbers)
        with self._lock:
            self._waiting[number] = future
        self._outbox.put((what, number, *args))
        try:
            return await asyncio.wait_for(future, ANSWER_TIMEOUT)
        except TimeoutError:
            log.warning("the bot did not answer a %s request within %.0f s", what, ANSWER_TIMEOUT)
            return UNAVAILABLE
        finally:
            with self._lock:
                self._waiting.pop(number, None)

    def _send_all(self) -> None:
        while True:
            message = self._outbox.get()
            try:
                self._conn.send(message)
            except (OSError, ValueError):  # the bot's process is gone
                self._close()
                return

    def _receive_all(self) -> None:
        while True:
            try:
                number, reply = self._conn.recv()
            except (EOFError, OSError):
                self._close()
                return
            with self._lock:
                future = self._waiting.get(number)
            if future is not None:
                future.get_loop().call_soon_threadsafe(_settle, future, reply)

    def _close(self) -> None:
        self.closed.set()
        with self._lock:
            waiting = list(self._waiting.values())
        for future in waiting:
            future.get_loop().call_soon_threadsafe(_settle, future, UNAVAILABLE)


def _settle(future: asyncio.Future[Reply], reply: Reply) -> None:
    if not future.done():
        future.set_result(reply)


def front_door(settings: Settings, conn: Connection, bot_pid: int) -> None:
    """The front door's process: uvicorn with the bot's limits (bot/http_server.py), Slack requests
    forwarded over `conn`, logging set up as the bot's (same format, same secrets filtered)."""
    import uvicorn

    from bot import http, http_server, logcontext, logfilter

    die_with(bot_pid)
    logcontext.configure(settings.log_level, settings.log_format)
    logfilter.install_for(settings)
    cpu.ask_for_short_slices()  # before any thread starts: they inherit it
    backend = PipeBackend(conn)
    app = http.slack_app(settings, backend)
    config = http_server.uvicorn_config(settings, app, backend.refused)
    config.load()  # uvicorn's protocol and loop modules, imported now rather than after the freeze
    server = uvicorn.Server(config)

    def exit_with_the_bot() -> None:
        backend.closed.wait()
        server.should_exit = True
        time.sleep(EXIT_GRACE)
        os._exit(0)  # connections that would not close in time

    threading.Thread(target=exit_with_the_bot, name="ksmc-front-exit", daemon=True).start()
    http_server.freeze_start_up_objects()
    server.run()


#: prctl(2)'s option: a signal for this process when its parent ends.
PR_SET_PDEATHSIG = 1


def die_with(bot_pid: int) -> None:
    """On Linux, have the kernel SIGKILL this process the moment the bot's process ends, however
    it ends: a bot restarted right after a SIGKILL must find its port free, as it was when one
    process served. Elsewhere the pipe's end (`exit_with_the_bot`) does it, a little later."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed (errno %d)", ctypes.get_errno())
    if os.getppid() != bot_pid:  # the bot ended before the prctl above
        os._exit(0)


class Worker:
    """The bot's side of the pipe: Bolt handles what the front door forwards, on threads of its
    own; answers go back tagged with the number they were asked under."""

    def __init__(self, bot: Bot, conn: Connection) -> None:
        self.bot = bot
        self.conn = conn
        self.pools = {
            kind: ThreadPoolExecutor(size, thread_name_prefix=f"ksmc-dispatch-{kind}")
            for kind, size in DISPATCH_THREADS.items()
        }
        self._sending = threading.Lock()

    def run(self) -> None:
        """Until the front door's end of the pipe closes."""
        try:
            while True:
                try:
                    message = self.conn.recv()
                except (EOFError, OSError):
                    return
                self.handle(message)
        finally:
            for pool in self.pools.values():
                pool.shutdown(wait=False, cancel_futures=True)

    def handle(self, message: tuple[Any, ...]) -> None:
        what = message[0]
        slack, answers = self.bot.slack, self.pools["answers"]
        if what == "acked":
            request: Forwarded = message[1]
            pool = self.pools["urgent" if request.urgent else "acked"]
            pool.submit(dispatch_acked, slack, request.bolt())
        elif what == "answer":
            asked: Forwarded = message[2]
            answers.submit(self._reply, message[1], lambda: bolt_reply(slack, asked.bolt()))
        elif what == "ready":
            answers.submit(self._reply, message[1], lambda: readiness(self.bot))
        elif what == "metrics":
            accept = message[2]
            answers.submit(self._reply, message[1], lambda: metrics_reply(accept))
        elif what == "ack_latency":
            ACK_LATENCY.labels(message[1]).observe(message[2])
        elif what == "refused":
            HTTP_REFUSED.labels(message[1]).inc()
        else:
            log.warning("ignored an unknown message from the front door: %r", what)

    def _reply(self, number: int, make: Callable[[], Reply]) -> None:
        try:
            reply = make()
        except Exception:
            log.exception("answering a forwarded request failed")
            reply = Reply(500)
        # the front door may be gone: `serve` notices that it has exited
        with self._sending, contextlib.suppress(OSError, ValueError):
            self.conn.send((number, reply))


def serve(bot: Bot, stop: threading.Event) -> None:
    """Run the front door's process and answer it until `stop` is set; `FrontDoorExited` when
    it ends on its own. The caller closes the bot."""
    context = multiprocessing.get_context("spawn")  # never fork a process that has threads
    ours, theirs = context.Pipe()
    child = context.Process(
        target=front_door, args=(bot.settings, theirs, os.getpid()), name="ksmc-front"
    )
    child.start()
    theirs.close()
    if child.pid is not None:
        cpu.yield_cpu_to(child.pid)
    worker = Worker(bot, ours)
    threading.Thread(target=worker.run, name="ksmc-front-worker", daemon=True).start()
    log.info("the HTTP front door is process %s", child.pid)
    try:
        while not stop.wait(0.2):
            if not child.is_alive():
                raise FrontDoorExited(f"the HTTP front door exited with status {child.exitcode}")
    finally:
        if child.is_alive():
            child.terminate()  # SIGTERM: uvicorn finishes its requests and closes connections
            child.join(10)
        if child.is_alive():
            child.kill()
            child.join(5)
        ours.close()
