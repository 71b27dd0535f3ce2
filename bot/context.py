"""What the Slack handlers (and the console) are given: the services, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from bot import store
from bot.runner import Runner
from bot.service import RequestService
from k8s.registry import ClusterRegistry


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
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=8, thread_name_prefix="ksmc-bg")
    )
    #: Removes every credential the bot holds from text read from a cluster (an error message
    #: can echo what the bot sent it), before a query shows it.
    scrub: Callable[[str], str] = unchanged

    def background(self, work: Callable[[], None]) -> None:
        """Run slow work (preflight, queries) after Slack's 3-second ack, off the listener."""
        self.pool.submit(work)

    def first_time(self, key: str) -> bool:
        """False when this Slack payload (trigger id) was handled before: a replay."""
        if not key:
            return True
        with self.sessions() as session, session.begin():
            return store.mark_seen(session, key[:128])
