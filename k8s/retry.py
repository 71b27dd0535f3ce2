"""Bounded retries for cluster calls: exponential backoff with jitter, Retry-After, a deadline.

urllib3's own retries are switched off so that this is the one place deciding what may be
repeated: reads always, writes only when repeating them cannot change the outcome. The clock,
sleep and random source are injectable so the policy is tested without waiting.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from k8s.errors import ClusterError, Transient

T = TypeVar("T")
Sleep = Callable[[float], None]
Clock = Callable[[], float]


class Mode(enum.Enum):
    """How safe a call is to repeat."""

    READ = "read"  # GET/LIST: always
    IDEMPOTENT = "idempotent"  # a write whose repetition cannot change the result
    ONCE = "once"  # e.g. a plain create: repeated only after 429, which the server rejects unread


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # calls in all, the first included
    base: float = 0.2  # seconds before the first retry (before jitter)
    factor: float = 2.0
    max_delay: float = 5.0  # cap on one backoff (a server's Retry-After may exceed it)
    deadline: float = 30.0  # seconds for the whole operation, retries included

    def backoff(self, failures: int, rand: float) -> float:
        """Delay after `failures` failed calls: "equal jitter", half fixed, half random."""
        ceiling = min(self.max_delay, self.base * self.factor ** max(failures - 1, 0))
        return ceiling / 2 + ceiling / 2 * rand


def should_retry(err: ClusterError, mode: Mode) -> bool:
    if not isinstance(err, Transient):
        return False
    if mode is Mode.ONCE:
        return err.status == 429
    return True


@dataclass(frozen=True)
class Retrier:
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Sleep = time.sleep
    clock: Clock = time.monotonic
    rand: Callable[[], float] = random.random

    def run(self, call: Callable[[], T], mode: Mode, deadline: float | None = None) -> T:
        """`call()` until it succeeds, fails for good, or attempts/time run out.

        `call` raises `ClusterError`s (already translated). `deadline` is an absolute time on
        `clock` that may end the operation sooner than the policy's own deadline. The last error
        is re-raised unchanged, marked `after_retry` when it was not the first attempt.
        """
        end = self.clock() + self.policy.deadline
        if deadline is not None:
            end = min(end, deadline)
        failures = 0
        while True:
            try:
                return call()
            except ClusterError as err:
                failures += 1
                if failures > 1:
                    err.after_retry = True
                if not should_retry(err, mode) or failures >= self.policy.attempts:
                    raise
                delay = self.delay(err, failures)
                if self.clock() + delay > end:
                    raise
                self.sleep(delay)

    def delay(self, err: ClusterError, failures: int) -> float:
        retry_after = err.retry_after if isinstance(err, Transient) else None
        if retry_after is not None:
            return retry_after
        return self.policy.backoff(failures, self.rand())
