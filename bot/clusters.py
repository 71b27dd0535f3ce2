"""The application service for reading the fleet when someone asks (questions, App Home, the
migration form): the one way handlers reach the clusters.

Each cluster is read within a time budget (`KSMC_GATHER_TIMEOUT`; a slow or dead cluster comes
back unreachable instead of holding up the answer) while holding one of a bounded number of
read slots (`KSMC_MAX_CLUSTER_READS`, so a burst of questions waits here instead of opening ever
more connections to a slow cluster), and every credential the bot holds is removed from the text
the clusters wrote before a handler sees it (one cluster's error can echo what the bot sent
another).

Questions asked at the same moment share their reads: a question joins the read of a cluster
that another question started less than `SHARE_WINDOW` ago, with the same budget, instead of
reading the cluster again. During a burst of questions (or when a team opens App Home at once)
each cluster is read once per moment, not once per question; an answer is never older than a
read started that short a time before it was asked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from bot.scrub import Scrub
from k8s.facts import ClusterFacts
from k8s.gather import gather_all
from k8s.registry import ClusterRegistry

#: Clusters read at once for questions and the Home tab (KSMC_MAX_CLUSTER_READS).
DEFAULT_CLUSTER_READS = 16
#: How long after a read of a cluster starts a question asked may still take its answer.
SHARE_WINDOW = 1.0


def _unchanged(text: str) -> str:
    return text


@dataclass
class _Read:
    """One read of one cluster in flight, which questions asked meanwhile may wait for."""

    started: float
    done: threading.Event = field(default_factory=threading.Event)
    facts: ClusterFacts | None = None


class ClusterReads:
    def __init__(
        self,
        registry: ClusterRegistry | None,
        timeout: float = 15.0,
        max_reads: int = DEFAULT_CLUSTER_READS,
        scrub: Scrub = _unchanged,
        share_window: float = SHARE_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.timeout = timeout
        self.scrub = scrub
        self.share_window = share_window
        self.clock = clock
        self._slots = threading.BoundedSemaphore(max_reads)
        self._reads: dict[tuple[str, float], _Read] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """The clusters the bot's kubeconfig names."""
        return self.registry.names() if self.registry is not None else []

    def facts(self, names: Iterable[str], timeout: float | None = None) -> dict[str, ClusterFacts]:
        """Facts of `names`, each within `timeout` (default: the service's), scrubbed; a read
        of the same cluster with the same budget started less than `share_window` ago is
        waited for instead of read again."""
        wanted = list(dict.fromkeys(names))
        if self.registry is None:
            why = "the bot has no cluster access configured"
            return {n: ClusterFacts(n, reachable=False, error=why) for n in wanted}
        budget = self.timeout if timeout is None else timeout
        asked = self.clock()
        joined, mine = self._claim(wanted, budget, asked)
        got: dict[str, ClusterFacts] = {}
        try:
            if mine:
                got = gather_all(self.registry, list(mine), budget, slots=self._slots)
        finally:
            self._finish(mine, got, budget)
        for name, read in joined.items():
            left = asked + budget - self.clock()
            if read.done.wait(max(left, 0.0)) and read.facts is not None:
                got[name] = read.facts
            else:  # the read it joined was cut off at the same budget, or crashed
                error = f"{name} did not answer within {budget:g}s"
                got[name] = ClusterFacts(name, reachable=False, error=error)
        return {name: scrubbed_facts(got[name], self.scrub) for name in wanted}

    def _claim(
        self, wanted: list[str], budget: float, now: float
    ) -> tuple[dict[str, _Read], dict[str, _Read]]:
        """The reads in flight to join, and the ones this call makes (registered for others)."""
        joined: dict[str, _Read] = {}
        mine: dict[str, _Read] = {}
        with self._lock:
            for name in wanted:
                read = self._reads.get((name, budget))
                if read is not None and now - read.started < self.share_window:
                    joined[name] = read
                else:
                    mine[name] = self._reads[(name, budget)] = _Read(now)
        return joined, mine

    def _finish(self, mine: dict[str, _Read], got: dict[str, ClusterFacts], budget: float) -> None:
        with self._lock:
            for name, read in mine.items():
                read.facts = got.get(name)
                if self._reads.get((name, budget)) is read:
                    del self._reads[(name, budget)]
                read.done.set()


def scrubbed_facts(facts: ClusterFacts, scrub: Scrub) -> ClusterFacts:
    """`facts` with the free text a cluster (or its API server's errors) supplied scrubbed."""

    def clean(text: str | None) -> str | None:
        return None if text is None else scrub(text)

    return replace(
        facts,
        error=clean(facts.error),
        ks_version=clean(facts.ks_version),
        kubernetes_version=clean(facts.kubernetes_version),
        cluster_objects=tuple(
            replace(co, ready_message=scrub(co.ready_message)) for co in facts.cluster_objects
        ),
    )
