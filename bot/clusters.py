"""The application service for reading the fleet when someone asks (questions, App Home, the
migration form): the one way handlers reach the clusters.

Each cluster is read within a time budget (`KSMC_GATHER_TIMEOUT`; a slow or dead cluster comes
back unreachable instead of holding up the answer) while holding one of a bounded number of
read slots (`KSMC_MAX_CLUSTER_READS`, so a burst of questions waits here instead of opening ever
more connections to a slow cluster), and every credential the bot holds is removed from the text
the clusters wrote before a handler sees it (one cluster's error can echo what the bot sent
another).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import replace

from bot.scrub import Scrub
from k8s.facts import ClusterFacts
from k8s.gather import gather_all
from k8s.registry import ClusterRegistry

#: Clusters read at once for questions and the Home tab (KSMC_MAX_CLUSTER_READS).
DEFAULT_CLUSTER_READS = 16


def _unchanged(text: str) -> str:
    return text


class ClusterReads:
    def __init__(
        self,
        registry: ClusterRegistry | None,
        timeout: float = 15.0,
        max_reads: int = DEFAULT_CLUSTER_READS,
        scrub: Scrub = _unchanged,
    ) -> None:
        self.registry = registry
        self.timeout = timeout
        self.scrub = scrub
        self._slots = threading.BoundedSemaphore(max_reads)

    def names(self) -> list[str]:
        """The clusters the bot's kubeconfig names."""
        return self.registry.names() if self.registry is not None else []

    def facts(self, names: Iterable[str], timeout: float | None = None) -> dict[str, ClusterFacts]:
        """Facts of `names`, each within `timeout` (default: the service's), scrubbed."""
        wanted = list(dict.fromkeys(names))
        if self.registry is None:
            why = "the bot has no cluster access configured"
            return {n: ClusterFacts(n, reachable=False, error=why) for n in wanted}
        budget = self.timeout if timeout is None else timeout
        facts = gather_all(self.registry, wanted, budget, slots=self._slots)
        return {name: scrubbed_facts(f, self.scrub) for name, f in facts.items()}


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
