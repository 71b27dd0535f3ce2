"""What the Slack handlers (and the console) are given: the services, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.clusters import ClusterReads
from bot.ratelimit import RateLimiter
from bot.runner import Runner
from bot.service import RequestService
from bot.work import Lane, Lanes


@dataclass
class BotContext:
    service: RequestService
    runner: Runner
    #: The fleet as questions, App Home and the migration form read it.
    clusters: ClusterReads
    #: The workers, one set per kind of work, so presses never queue behind queries.
    lanes: Lanes = field(default_factory=Lanes)
    #: Per-user limits on questions ("query") and migration requests ("request").
    limits: RateLimiter = field(default_factory=lambda: RateLimiter({}))

    def background(self, work: Callable[[], None], lane: Lane = Lane.INTAKE) -> None:
        """Run work after Slack's 3-second ack, off the listener, on the lane its kind has."""
        self.lanes.submit(lane, work)

    def first_time(self, key: str) -> bool:
        """False when this Slack payload (trigger id) was handled before: a replay."""
        return self.service.first_time(key)
