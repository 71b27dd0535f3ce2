"""What the Slack handlers (and the console) are given: the services, nothing else."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from bot import store
from bot.ratelimit import RateLimiter
from bot.runner import Runner
from bot.service import RequestService
from bot.work import Lane, Lanes
from k8s.registry import ClusterRegistry

#: Clusters read at once for questions and the Home tab (KSMC_MAX_CLUSTER_READS).
DEFAULT_CLUSTER_READS = 16


def unchanged(text: str) -> str:
    return text


@dataclass
class BotContext:
    service: RequestService
    runner: Runner
    sessions: sessionmaker[Session]
    known_clusters: Callable[[], list[str]]
    registry: ClusterRegistry | None = None
    gather_timeout: float = 15.0
    #: The workers, one set per kind of work, so presses never queue behind queries.
    lanes: Lanes = field(default_factory=Lanes)
    #: Per-user limits on questions ("query") and migration requests ("request").
    limits: RateLimiter = field(default_factory=lambda: RateLimiter({}))
    #: Cluster reads in flight for questions: a burst of them waits here (within each
    #: cluster's time budget) instead of opening ever more connections to a slow cluster.
    read_slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(DEFAULT_CLUSTER_READS)
    )
    #: Removes every credential the bot holds from text read from a cluster (an error message
    #: can echo what the bot sent it), before a query shows it.
    scrub: Callable[[str], str] = unchanged

    def background(self, work: Callable[[], None], lane: Lane = Lane.INTAKE) -> None:
        """Run work after Slack's 3-second ack, off the listener, on the lane its kind has."""
        self.lanes.submit(lane, work)

    def first_time(self, key: str) -> bool:
        """False when this Slack payload (trigger id) was handled before: a replay."""
        if not key:
            return True
        with self.sessions() as session, session.begin():
            return store.mark_seen(session, key[:128])
