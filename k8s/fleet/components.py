"""Which pluggable components are enabled on one cluster and not on another.

This answers `components <a> vs <b>`, and gives `k8s.fleet` the difference it reports
between a member and its host; `k8s.fleet` re-exports everything here.
"""

from __future__ import annotations

from dataclasses import dataclass

from k8s.facts import ClusterFacts

#: Components a member does not need even when its host has them (KubeSphere docs: the App
#: Store needs enabling only on the host).
HOST_ONLY_COMPONENTS = frozenset({"appstore"})


@dataclass(frozen=True)
class ComponentDiff:
    name: str
    left: bool | None  # None: the cluster does not report it
    right: bool | None


def component_diff(
    left: ClusterFacts, right: ClusterFacts, *, member_vs_host: bool = False
) -> list[ComponentDiff]:
    """Components enabled on one cluster and not the other. With `member_vs_host`, components
    only a host needs (the App Store) are left out."""
    a, b = left.component_map(), right.component_map()
    out: list[ComponentDiff] = []
    for name in sorted(set(a) | set(b)):
        if member_vs_host and name in HOST_ONLY_COMPONENTS:
            continue
        if a.get(name, False) != b.get(name, False):
            out.append(ComponentDiff(name, a.get(name), b.get(name)))
    return out
