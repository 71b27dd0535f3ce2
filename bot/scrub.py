"""Credentials removed from everything the engine hands back to the application.

The k8s layer already scrubs a cluster's own credentials from that cluster's errors; this is
the bot-wide second line: every text the engine returns or records (preflight results, step
messages and hints, outcomes) passes through the bot's scrubber before it is stored, shown in
Slack or logged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from bot import logcontext, logfilter
from bot.settings import Settings
from k8s.executor import Outcome, ProgressSink, StepState
from k8s.plan import Step
from k8s.preflight import PreflightReport

Scrub = Callable[[str], str]


def credential_scrubber(settings: Settings) -> Scrub:
    """A function that removes every credential the bot holds from a text: the kubeconfig's
    tokens and keys (of all clusters, since one cluster's error can echo what the bot sent it
    about another, also base64-encoded as in a Cluster object) and the Slack secrets, plus the
    values of secret-named fields (see `bot.logfilter`)."""
    secrets = logfilter.kubeconfig_secrets(settings.kubeconfig)
    secrets += [
        settings.slack_bot_token.get_secret_value(),
        settings.slack_signing_secret.get_secret_value(),
    ]
    if settings.audit_key is not None:
        secrets.append(settings.audit_key.get_secret_value())
    return logfilter.SafeLogFilter(secrets).clean


class ScrubbingSink:
    """The executor's progress sink with credentials removed from every text it records."""

    def __init__(self, inner: ProgressSink, scrub: Scrub) -> None:
        self.inner = inner
        self.scrub = scrub

    def states(self) -> dict[int, StepState]:
        return self.inner.states()

    def started(self, index: int, step: Step) -> None:
        logcontext.set_step(f"{index + 1} {step.kind}")  # on the engine's log lines from here on
        self.inner.started(index, step)

    def progressed(self, index: int, step: Step, message: str) -> None:
        self.inner.progressed(index, step, self.scrub(message))

    def finished(self, index: int, step: Step, message: str) -> None:
        self.inner.finished(index, step, self.scrub(message))
        logcontext.set_step(None)

    def failed(self, index: int, step: Step, message: str, hint: str) -> None:
        self.inner.failed(index, step, self.scrub(message), self.scrub(hint))
        logcontext.set_step(None)


def scrubbed_outcome(outcome: Outcome, scrub: Scrub) -> Outcome:
    return replace(outcome, message=scrub(outcome.message), hint=scrub(outcome.hint))


def scrubbed_report(report: PreflightReport, scrub: Scrub) -> PreflightReport:
    return replace(
        report,
        results=tuple(
            replace(r, message=scrub(r.message), remedy=scrub(r.remedy)) for r in report.results
        ),
        cluster_errors={k: scrub(v) for k, v in report.cluster_errors.items()},
    )
