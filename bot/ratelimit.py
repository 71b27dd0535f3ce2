"""Per-user rate limits on questions and on migration requests (issue #12, finding 5).

Every question reads the whole fleet and every request runs a preflight that does too, so one
user repeating them could keep the clusters and the bot's workers busy for everyone. A user over
the limit is told to slow down and when to try again, and nothing else happens: no cluster is
read, no row is written. Presses and `/ksmc cancel` are never limited: they stop things.

The windows are sliding and kept in memory, per replica: with several replicas behind a load
balancer a user gets up to the limit on each, which still bounds a burst.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """At most `count` attempts per user in any `window` seconds."""

    count: int
    window: float


class RateLimiter:
    """Sliding windows of attempts per (kind, user). Only allowed attempts are counted, so the
    wait a refused user is told is the true one: the oldest counted attempt leaving the window."""

    def __init__(
        self, limits: dict[str, Limit], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = dict(limits)
        self.clock = clock
        self._seen: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, kind: str, user: str) -> float:
        """0 when `user` may go ahead with a `kind` now (and counts it); otherwise the seconds
        until they may. A kind without a limit is always allowed."""
        limit = self.limits.get(kind)
        if limit is None:
            return 0.0
        now = self.clock()
        with self._lock:
            times = self._seen.setdefault((kind, user), deque())
            while times and times[0] <= now - limit.window:
                times.popleft()
            if len(times) >= limit.count:
                return max(times[0] + limit.window - now, 0.001)
            times.append(now)
            if len(self._seen) > 10_000:  # forget users whose windows have emptied
                self._forget(now)
            return 0.0

    def _forget(self, now: float) -> None:
        longest = max(limit.window for limit in self.limits.values())
        for key in [k for k, v in self._seen.items() if not v or v[-1] <= now - longest]:
            del self._seen[key]
