"""The migration engine as the application calls it: one object, four verbs.

`RequestService` asks it for a preflight (whose report carries the plan) and the runner asks it
to execute a plan or roll one back; both receive it from the composition root (`bot/app.py`),
so a reader follows `engine.execute(...)` straight into `k8s.migration.execute`. On the way it
adds what the application owes the cluster side: credentials scrubbed from every text coming
back (`bot.scrub`), an unexpected crash turned into a failure that names only its type, and the
preflight's duration in the metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from bot import metrics
from bot.scrub import Scrub, ScrubbingSink, scrubbed_outcome, scrubbed_report
from k8s import migration
from k8s.executor import Outcome, ProgressSink
from k8s.plan import Plan
from k8s.preflight import PreflightReport
from k8s.registry import ClusterRegistry
from k8s.spec import MigrationSpec

log = logging.getLogger("ksmc.engine")

_T = TypeVar("_T")


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
        member_kubeconfig: Callable[[str], bytes],
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.scrub = scrub
        self.member_kubeconfig = member_kubeconfig
        self._timed_preflight = metrics.timed_preflight(
            self._preflight, lambda report: "blocked" if report.blocked else "passed"
        )

    def preflight(self, spec: MigrationSpec, busy: frozenset[str]) -> PreflightReport:
        """Read-only checks of `spec` against the fleet; `busy`: members other requests hold."""
        report: PreflightReport = self._timed_preflight(spec, busy)
        return report

    def execute(self, plan: Plan, sink: ProgressSink, busy: frozenset[str]) -> Outcome:
        """Run (or resume, from what `sink` recorded) the plan's steps."""
        outcome = _contained(
            lambda: migration.execute(
                self.registry,
                plan,
                ScrubbingSink(sink, self.scrub),
                self.member_kubeconfig,
                running_members=busy,
                settings=self.settings,
            )
        )
        return scrubbed_outcome(outcome, self.scrub)

    def roll_back(self, plan: Plan, ran: Iterable[int], sink: ProgressSink) -> Outcome:
        """Undo, in reverse, the writes of the steps in `ran` (resumable like `execute`)."""
        outcome = _contained(
            lambda: migration.roll_back(
                self.registry, plan, ran, ScrubbingSink(sink, self.scrub), settings=self.settings
            )
        )
        return scrubbed_outcome(outcome, self.scrub)

    def _preflight(self, spec: MigrationSpec, busy: frozenset[str]) -> PreflightReport:
        report = migration.preflight(self.registry, spec, busy, self.settings)
        return scrubbed_report(report, self.scrub)


def _contained(work: Callable[[], _T]) -> _T:
    """Run engine work; an unexpected exception is logged (through the filtered log handlers)
    and replaced by an `EngineCrashed` that names only its type."""
    try:
        return work()
    except Exception as e:
        log.exception("the migration engine crashed")
        raise EngineCrashed(f"{type(e).__name__}; the bot's log has the details") from None
