"""The request service: every change to a migration request, each one guarded transaction.

Each public method checks who is asking, moves the request with a compare-and-set transition
that writes its audit event in the same transaction, commits, and only then tells the notifier
(Slack, the console). A refusal changes nothing but the audit log.
"""

from bot.service.core import ACTIVE, STALE_PREFLIGHT, Answer, Policy
from bot.service.decisions import Decisions
from bot.service.execution import Execution
from bot.service.intake import Intake

__all__ = ["ACTIVE", "STALE_PREFLIGHT", "Answer", "Policy", "RequestService"]


class RequestService(Intake, Decisions, Execution):
    """Every change to a migration request. Its methods live by purpose: intake.py (submit,
    preflight), decisions.py (approve, reject, cancel, expire, remind), execution.py (the
    executor's check, run and roll-back transitions, Retry/Abandon); people.py says who may act
    and core.py holds the reads and the transaction helper they share."""
