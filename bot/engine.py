"""The migration engine as the application calls it: one object, four verbs.

`RequestService` asks it for a preflight (whose report carries the plan) and the runner asks it
to execute a plan or roll one back; both receive it from the composition root (`bot/app.py`),
so a reader follows `engine.execute(...)` straight into `k8s.execution.execute`. On the way it
adds what the application owes the cluster side: credentials scrubbed from every text coming
back (`bot.scrub`), an unexpected crash turned into a failure that names only its type, and the
preflight's duration in the metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from bot import metrics
from bot.scrub import Scrub, ScrubbingSink, scrubbed_outcome, scrubbed_report
from k8s import execution, migration
from k8s.executor import Outcome, ProgressSink
from k8s.plan import Plan
from k8s.preflight import PreflightReport
from k8s.registry import ClusterRegistry
from k8s.spec import MigrationSpec

log = logging.getLogger("ksmc.engine")


class EngineCrashed(Exception):
    """The engine raised something it should not have. Its text is only the original type's
    name: an unexpected exception's message can hold anything (a kubeconfig line, a token, a
    jwtSecret quoted by a YAML parser), and this text is stored and shown in Slack."""


class Engine:
    def __init__(
        self,
        registry: ClusterRegistry,
        settings: migration.EngineSettings,
        scrub: Scrub,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.scrub = scrub

    def preflight(self, spec: MigrationSpec, busy: frozenset[str]) -> PreflightReport:
        """Read-only checks of `spec` against the fleet; `busy`: members other requests hold."""
        started = time.perf_counter()
        outcome = "crashed"
        try:
            report = migration.preflight(self.registry, spec, busy, self.settings)
            outcome = "blocked" if report.blocked else "passed"
        finally:
            metrics.observe_preflight(outcome, time.perf_counter() - started)
        return scrubbed_report(report, self.scrub)

    def execute(self, plan: Plan, sink: ProgressSink, busy: frozenset[str]) -> Outcome:
        """Run (or resume, from what `sink` recorded) the plan's steps."""
        with _contained():
            outcome = execution.execute(
                self.registry,
                plan,
                ScrubbingSink(sink, self.scrub),
                running_members=busy,
                settings=self.settings,
            )
        return scrubbed_outcome(outcome, self.scrub)

    def roll_back(self, plan: Plan, ran: Iterable[int], sink: ProgressSink) -> Outcome:
        """Undo, in reverse, the writes of the steps in `ran` (resumable like `execute`)."""
        with _contained():
            outcome = execution.roll_back(
                self.registry, plan, ran, ScrubbingSink(sink, self.scrub), settings=self.settings
            )
        return scrubbed_outcome(outcome, self.scrub)


@contextmanager
def _contained() -> Iterator[None]:
    """Engine work: an unexpected exception is logged (through the filtered log handlers) and
    replaced by an `EngineCrashed` that names only its type."""
    try:
        yield
    except Exception as e:
        log.exception("the migration engine crashed")
        raise EngineCrashed(f"{type(e).__name__}; the bot's log has the details") from None
