"""Migration steps: each has a read-only `is_done`, an idempotent `apply` and a recovery hint.

`apply` re-reads what it is about to change and writes only what is not done yet, so a step
interrupted half-way and run again repeats no write. Waiting for KubeSphere's controllers is
bounded and ends in a clear error naming what did not happen.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import ClassVar, TypeVar

from k8s.access import ClusterApi
from k8s.errors import AlreadyExists
from k8s.plan import Plan, Step

T = TypeVar("T")


class StepError(Exception):
    """A step cannot complete; a human has to look (the executor stops here)."""


class TemporaryStepError(StepError):
    """Worth another try after `delay` seconds."""

    def __init__(self, message: str, delay: float = 2.0) -> None:
        super().__init__(message)
        self.delay = delay


@dataclass(frozen=True)
class StepContext:
    """What steps may use: one API per cluster, the plan, and the knobs for waiting."""

    api: Callable[[str], ClusterApi]
    plan: Plan
    concurrency: int = 8
    wait_timeout: float = 180.0
    installer_timeout: float = 900.0  # ks-installer applying a ClusterConfiguration change
    poll_interval: float = 0.5
    progress: Callable[[str], None] = field(default=lambda _message: None)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def for_step(self, progress: Callable[[str], None]) -> StepContext:
        return replace(self, progress=progress)

    def wait_until(self, what: str, done: Callable[[], bool], timeout: float | None = None) -> None:
        """Poll `done` until it holds; raise StepError naming `what` after the timeout."""
        limit = self.wait_timeout if timeout is None else timeout
        deadline = self.clock() + limit
        # controllers usually react within milliseconds: look again soon, then back off
        pause = min(self.poll_interval, 0.02)
        while not done():
            if self.clock() >= deadline:
                raise StepError(f"timed out after {limit:.0f}s waiting for {what}")
            self.sleep(pause)
            pause = min(pause * 2, self.poll_interval)

    def each(self, items: Iterable[T], action: Callable[[T], object], noun: str) -> int:
        """Run `action` on items with bounded concurrency, reporting progress; returns a count."""
        todo = list(items)
        if not todo:
            return 0
        done = 0
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            for _ in pool.map(action, todo):
                done += 1
                if done == len(todo) or done % 50 == 0:
                    self.progress(f"{done}/{len(todo)} {noun}")
        return done


@contextlib.contextmanager
def created_by_us() -> Iterator[None]:
    """Around an idempotent create: an AlreadyExists on a retry means the earlier attempt was
    applied and only its answer was lost, so the object is ours; the step's wait checks it."""
    try:
        yield
    except AlreadyExists as e:
        if not e.after_retry:
            raise


class StepImpl:
    kind: ClassVar[str]

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        raise NotImplementedError

    def apply(self, ctx: StepContext, step: Step) -> str:
        """Do the step and wait for its effect; return a one-line summary."""
        raise NotImplementedError

    def hint(self, step: Step) -> str:
        return "fix the cause, then press Retry; the executor resumes at this step"


_REGISTRY: dict[str, StepImpl] = {}


def register(cls: type[StepImpl]) -> type[StepImpl]:
    _REGISTRY[cls.kind] = cls()
    return cls


def implementation(kind: str) -> StepImpl:
    if kind not in _REGISTRY:  # not "if empty": another module may have registered first
        from k8s.steps import clusters, hostside, namespaces, undo, workspaces  # noqa: F401
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise StepError(f"unknown step kind {kind!r}") from None
