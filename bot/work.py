"""Separate workers for what the bot does after Slack's ack, so that stopping a migration never
waits behind reading the fleet (issue #12, finding 5: with one shared pool, a guest's burst of
`/ksmc clusters` while one cluster was slow delayed a Reject from 0.3 s to 15 s).

Each lane has threads of its own; a lane's queue is first come, first served, and no lane ever
lends its threads to another. Presses and `/ksmc cancel` go to `URGENT`, whose work is a database
transaction and a Slack update, never a cluster read; questions and the Home tab go to `QUERY`,
preflights to `PREFLIGHT`. Python threads have no priorities, so the priority is structural: the
slow lanes can fill their queues, never the urgent lane's threads.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger("ksmc.work")


class Lane(enum.Enum):
    #: Button presses (approve, reject, cancel, retry, abandon, roll back) and `/ksmc cancel`.
    URGENT = "urgent"
    #: A slash command's first look: replay check, parse, rate limit, storing a request.
    INTAKE = "intake"
    #: Questions that read the clusters or the request history, and the Home tab.
    QUERY = "query"
    #: A request's preflight checks (they read every cluster).
    PREFLIGHT = "preflight"


#: Threads per lane. URGENT and INTAKE work is short (a transaction, a Slack call); QUERY and
#: PREFLIGHT work waits on clusters for up to KSMC_GATHER_TIMEOUT, so more threads there would
#: only put more reads in flight (KSMC_MAX_CLUSTER_READS bounds those anyway).
DEFAULT_SIZES: Mapping[Lane, int] = {
    Lane.URGENT: 4,
    Lane.INTAKE: 4,
    Lane.QUERY: 4,
    Lane.PREFLIGHT: 4,
}


class Lanes:
    """One thread pool per lane, and the work each still has (for `wait_idle` and `queued`)."""

    def __init__(self, sizes: Mapping[Lane, int] = DEFAULT_SIZES) -> None:
        self._pools = {
            lane: ThreadPoolExecutor(
                max_workers=sizes.get(lane, DEFAULT_SIZES[lane]),
                thread_name_prefix=f"ksmc-{lane.value}",
            )
            for lane in Lane
        }
        self._pending: dict[Lane, set[Future[Any]]] = {lane: set() for lane in Lane}
        self._guard = threading.Lock()

    def submit(self, lane: Lane, work: Callable[[], None]) -> Future[None]:
        """Run `work` on `lane`; an exception it raises is logged, never lost silently (by the
        future's callback, after the work: no frame of this module sits under the work, so
        work that queues more work never re-enters it)."""
        future = self._pools[lane].submit(work)
        with self._guard:
            self._pending[lane].add(future)
        future.add_done_callback(lambda f: self._done(lane, f))
        return future

    def _done(self, lane: Lane, future: Future[Any]) -> None:
        error = None if future.cancelled() else future.exception()
        if error is not None:
            log.error("background work on the %s lane failed", lane.value, exc_info=error)
        with self._guard:
            self._pending[lane].discard(future)

    def queued(self, lane: Lane) -> int:
        """Work on `lane` that has not finished (running or waiting for a thread)."""
        with self._guard:
            return len(self._pending[lane])

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every lane has finished its work (work may start more work); False when
        `timeout` passes first. The console waits so for the answer a command started."""
        deadline = time.monotonic() + timeout
        while True:
            with self._guard:
                pending = [f for futures in self._pending.values() for f in futures]
            if not pending:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with contextlib.suppress(Exception):
                pending[0].result(timeout=left)

    def shutdown(self, timeout: float = 0.0) -> bool:
        """Start nothing more (queued work is dropped) and wait up to `timeout` seconds for the
        work running now; False when some is still running."""
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        return self.wait_idle(timeout)
