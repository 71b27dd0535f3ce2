"""The engine's front door, second half: execute an approved plan, or roll one back, with the
executor (resumable, each step recorded through the sink before it is reported).
`k8s.migration` is the first half: the preflight and the world-changed guard.
"""

from __future__ import annotations

from collections.abc import Iterable

from k8s.executor import Executor, Outcome, ProgressSink
from k8s.migration import EngineSettings, world_guard
from k8s.plan import Plan
from k8s.registry import ClusterRegistry
from k8s.rollback import rollback_plan
from k8s.steps import StepContext


def execute(
    registry: ClusterRegistry,
    plan: Plan,
    sink: ProgressSink,
    *,
    running_members: frozenset[str] = frozenset(),
    settings: EngineSettings | None = None,
    guard: bool = True,
) -> Outcome:
    """Run `plan`; before the first write, refuse if a fresh preflight gives another plan."""
    settings = settings or EngineSettings()
    replan = world_guard(registry, plan.spec, running_members, settings) if guard else None
    ctx = StepContext(
        api=registry.api,
        plan=plan,
        concurrency=settings.concurrency,
        wait_timeout=settings.wait_timeout,
        installer_timeout=settings.installer_timeout,
        poll_interval=settings.poll_interval,
    )
    executor = Executor(ctx, plan, sink, replan=replan, attempts=settings.step_attempts)
    return executor.run()


def roll_back(
    registry: ClusterRegistry,
    plan: Plan,
    ran: Iterable[int],
    sink: ProgressSink,
    *,
    settings: EngineSettings | None = None,
) -> Outcome:
    """Undo the steps of `plan` at the indexes in `ran`, newest first (k8s/rollback.py), with
    the same executor: resumable, each undo recorded before it is reported. `sink` records the
    roll back plan's own steps (`rollback_plan(plan, ran).steps`)."""
    settings = settings or EngineSettings()
    undo = rollback_plan(plan, ran)
    ctx = StepContext(
        api=registry.api,
        plan=undo,
        concurrency=settings.concurrency,
        wait_timeout=settings.wait_timeout,
        installer_timeout=settings.installer_timeout,
        poll_interval=settings.poll_interval,
    )
    return Executor(ctx, undo, sink, replan=None, attempts=settings.step_attempts).run()
