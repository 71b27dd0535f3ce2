"""Who manages a cluster: the one answer the fleet views and preflight both use.

A host manages a member through its `Cluster` object, and KubeSphere ties that object to the
member by the member's kube-system UID (`status.uid`), not by name. Only when that cannot be
checked, because the member cannot be read or the object has not joined yet (no UID recorded),
is the object's name the claim, and the claim says so (`by="name"`): the fleet shows it, while
preflight never acts on it (it reports it, and an unreadable member blocks anyway).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from k8s.facts import ClusterFacts, ClusterObjectInfo

By = Literal["uid", "name"]


@dataclass(frozen=True)
class Binding:
    """A host's `Cluster` object that claims a cluster."""

    host: str
    object_name: str  # the Cluster object's name on the host (normally the member's name)
    ready: bool
    message: str
    by: By  # "name": the member cannot be read, or the object has not joined yet
    deleting: bool = False
    joined: bool = True  # False: the object records no kube-system UID (its join has not finished)


def identities(facts: Mapping[str, ClusterFacts]) -> dict[str, str]:
    """kube-system UID → the readable cluster that has it."""
    return {
        f.kube_system_uid: name
        for name, f in facts.items()
        if f.reachable and f.kube_system_uid is not None
    }


def cluster_objects(facts: Mapping[str, ClusterFacts]) -> Iterator[tuple[str, ClusterObjectInfo]]:
    """(host, object) for every Cluster object of a readable host but the host's own, by host."""
    for host_name in sorted(facts):
        host = facts[host_name]
        if host.reachable:
            yield from ((host_name, co) for co in host.cluster_objects if not co.is_host_itself)


def claimed(
    co: ClusterObjectInfo, facts: Mapping[str, ClusterFacts], by_uid: Mapping[str, str]
) -> tuple[str, By] | None:
    """The cluster one Cluster object claims, and how that is known; None: none the bot knows."""
    if co.uid_claimed is not None and co.uid_claimed in by_uid:
        return by_uid[co.uid_claimed], "uid"
    known = facts.get(co.name)
    if known is not None and (not known.reachable or co.uid_claimed is None):
        return co.name, "name"  # cannot be checked: the member is down, or not joined yet
    return None


def claims(facts: Mapping[str, ClusterFacts]) -> dict[str, list[Binding]]:
    """Cluster name → the hosts' Cluster objects that claim it, in host-name order."""
    by_uid = identities(facts)
    out: dict[str, list[Binding]] = {}
    for host_name, co in cluster_objects(facts):
        found = claimed(co, facts, by_uid)
        if found is None or found[0] == host_name:
            continue
        target, by = found
        out.setdefault(target, []).append(
            Binding(
                host_name,
                co.name,
                co.ready,
                co.ready_message,
                by,
                co.deleting,
                joined=co.uid_claimed is not None,
            )
        )
    return out


def claims_on(facts: Mapping[str, ClusterFacts], cluster: str) -> list[Binding]:
    """The hosts' Cluster objects that claim `cluster` (see `claims`)."""
    return claims(facts).get(cluster, [])
