"""Bounded retries for cluster calls: exponential backoff with jitter, Retry-After, a deadline.

urllib3's own retries are switched off so that this is the one place deciding what may be
repeated: reads always, writes only when repeating them cannot change the outcome. The clock,
sleep and random source are injectable so the policy is tested without waiting.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from k8s.errors import ClusterError, Transient

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

    def attempts(self, mode: Mode, deadline: float | None = None) -> Iterator[Attempt]:
        """The attempts of one operation, for the caller's own loop, so the call stays in the
        caller's code (no callback into it from here)::

            for attempt in retrier.attempts(Mode.READ):
                with attempt:
                    return send()

        An attempt's `with` swallows a `ClusterError` worth retrying (after the backoff) and the
        loop goes on; any other outcome leaves the loop. `deadline` is an absolute time on
        `clock` that may end the operation sooner than the policy's own deadline. The last error
        is re-raised unchanged, marked `after_retry` when it was not the first attempt.
        """
        end = self.clock() + self.policy.deadline
        if deadline is not None:
            end = min(end, deadline)
        state = _Tries(end)
        while True:
            yield Attempt(self, mode, state)

    def delay(self, err: ClusterError, failures: int) -> float:
        retry_after = err.retry_after if isinstance(err, Transient) else None
        if retry_after is not None:
            return retry_after
        return self.policy.backoff(failures, self.rand())


@dataclass
class _Tries:
    end: float
    failures: int = 0


@dataclass
class Attempt:
    """One try (see `Retrier.attempts`): leaving its `with` by a retryable `ClusterError`
    sleeps the backoff and swallows the error, so the caller's loop tries again."""

    retrier: Retrier
    mode: Mode
    tries: _Tries

    def __enter__(self) -> Attempt:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, err: BaseException | None, tb: object
    ) -> bool:
        if not isinstance(err, ClusterError):
            return False  # success, or not ours to judge
        tries = self.tries
        tries.failures += 1
        if tries.failures > 1:
            err.after_retry = True
        if not should_retry(err, self.mode) or tries.failures >= self.retrier.policy.attempts:
            return False
        delay = self.retrier.delay(err, tries.failures)
        if self.retrier.clock() + delay > tries.end:
            return False
        self.retrier.sleep(delay)
        return True
