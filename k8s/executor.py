"""Walk an approved plan step by step, resumably.

Every transition is handed to a `ProgressSink` before the next thing happens, so the bot can
persist it first and report it second. Started again on a partly executed plan, the executor
trusts the steps recorded as done, asks the step itself whether an interrupted one is already
done, and never continues past a failed step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from k8s.errors import ClusterError, Transient, Unreachable
from k8s.plan import Plan, Step
from k8s.steps import StepContext, StepError, TemporaryStepError, implementation

log = logging.getLogger("ksmc.executor")


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ProgressSink(Protocol):
    """Where the executor records progress; the bot persists it, tests keep it in memory."""

    def states(self) -> dict[int, StepState]: ...

    def started(self, index: int, step: Step) -> None: ...

    def progressed(self, index: int, step: Step, message: str) -> None: ...

    def finished(self, index: int, step: Step, message: str) -> None: ...

    def failed(self, index: int, step: Step, message: str, hint: str) -> None: ...


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    failed_step: int | None = None
    message: str = ""
    hint: str = ""


class WorldChanged(Exception):
    """The plan computed now differs from the approved one; nothing was written."""

    def __init__(self, differences: list[str]) -> None:
        super().__init__("; ".join(differences))
        self.differences = differences


Replan = Callable[[], Plan | None]


class Executor:
    def __init__(
        self,
        ctx: StepContext,
        plan: Plan,
        sink: ProgressSink,
        *,
        replan: Replan | None = None,
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ctx = ctx
        self.plan = plan
        self.sink = sink
        self.replan = replan
        self.attempts = attempts
        self.sleep = sleep

    def guard(self) -> None:
        """Before the first write: refuse if the world no longer gives the approved plan."""
        if self.replan is None:
            return
        fresh = self.replan()
        if fresh is None:
            raise WorldChanged(["preflight now blocks this migration"])
        if fresh.digest() != self.plan.digest():
            raise WorldChanged(self.plan.differences(fresh) or ["the plan differs"])

    def run(self) -> Outcome:
        states = self.sink.states()
        # a failed step may have written too: only a plan that never started is re-checked
        if all(s is StepState.PENDING for s in states.values()):
            try:
                self.guard()
            except WorldChanged as e:
                return Outcome(
                    False,
                    None,
                    f"the clusters changed since approval: {e}",
                    "run the migration command again to see a fresh preflight and plan",
                )
        for index, step in enumerate(self.plan.steps):
            if states.get(index) == StepState.DONE:
                continue
            outcome = self._run_step(index, step)
            if outcome is not None:
                return outcome
        return Outcome(True)

    def _run_step(self, index: int, step: Step) -> Outcome | None:
        self.sink.started(index, step)
        try:
            impl = implementation(step.kind)
        except StepError as e:  # e.g. a plan stored by another version of the bot
            return self._fail(index, step, str(e), "run the migration command again")

        def progress(message: str) -> None:
            self.sink.progressed(index, step, message)

        ctx = self.ctx.for_step(progress)
        failures = 0
        while True:
            try:
                if impl.is_done(ctx, step):
                    self.sink.finished(index, step, "already done")
                    return None
                message = impl.apply(ctx, step)
                self.sink.finished(index, step, message)
                return None
            except (TemporaryStepError, Transient, Unreachable) as e:
                failures += 1
                if failures >= self.attempts:
                    return self._fail(index, step, str(e), impl.hint(step))
                delay = e.delay if isinstance(e, TemporaryStepError) else min(2.0 * failures, 10.0)
                log.info("step %s: %s; retrying in %.1fs", step.kind, e, delay)
                self.sleep(delay)
            except (StepError, ClusterError) as e:
                return self._fail(index, step, str(e), impl.hint(step))

    def _fail(self, index: int, step: Step, message: str, hint: str) -> Outcome:
        self.sink.failed(index, step, message, hint)
        return Outcome(False, index, message, hint)


class MemorySink:
    """A ProgressSink that keeps everything in memory (tests, dry runs, the console)."""

    def __init__(self, initial: dict[int, StepState] | None = None) -> None:
        self._states: dict[int, StepState] = dict(initial or {})
        self.events: list[tuple[str, int, str]] = []

    def states(self) -> dict[int, StepState]:
        return dict(self._states)

    def started(self, index: int, step: Step) -> None:
        self._states[index] = StepState.RUNNING
        self.events.append(("started", index, step.title))

    def progressed(self, index: int, step: Step, message: str) -> None:
        self.events.append(("progress", index, message))

    def finished(self, index: int, step: Step, message: str) -> None:
        self._states[index] = StepState.DONE
        self.events.append(("finished", index, message))

    def failed(self, index: int, step: Step, message: str, hint: str) -> None:
        self._states[index] = StepState.FAILED
        self.events.append(("failed", index, message))
