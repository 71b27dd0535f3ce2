"""KubeFed placement, as the bot must predict it: which clusters a federated object selects.

KubeFed's rule (kubefed `pkg/controller/util/placement.go`, `computePlacement`): an explicit
`clusters` list — even an empty one — overrides `clusterSelector`; without a list, the selector
is matched against the joined clusters' labels (`{}` matches every cluster); with neither,
nothing is selected. Every place in the bot that reads or rewrites a placement goes through
this module, so "what does this placement select" has one answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Labels = Mapping[str, str]


@dataclass(frozen=True)
class Requirement:
    """One `matchExpressions` entry (or a `matchLabels` pair as `In [value]`)."""

    key: str
    operator: str  # In | NotIn | Exists | DoesNotExist
    values: tuple[str, ...] = ()

    def matches(self, labels: Labels) -> bool:
        present = self.key in labels
        if self.operator == "In":
            return present and labels[self.key] in self.values
        if self.operator == "NotIn":
            return not present or labels[self.key] not in self.values
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        return False  # an unknown operator selects nothing, as metav1 refuses it


@dataclass(frozen=True)
class Placement:
    """`spec.placement` of a WorkspaceTemplate or any Federated<Kind>."""

    clusters: tuple[str, ...] | None = None  # None: no list (the selector decides)
    selector: tuple[Requirement, ...] | None = None  # None: no selector

    @property
    def by_selector(self) -> bool:
        return self.clusters is None and self.selector is not None

    def selects(self, cluster: str, labels: Labels) -> bool:
        if self.clusters is not None:
            return cluster in self.clusters
        if self.selector is None:
            return False
        return all(r.matches(labels) for r in self.selector)

    def selected(self, clusters: Mapping[str, Labels]) -> set[str]:
        """The names among `clusters` (name → labels) this placement selects."""
        return {name for name, labels in clusters.items() if self.selects(name, labels)}

    def through_kubesphere(self) -> Placement:
        """The placement KubeFed sees for a WorkspaceTemplate: KubeSphere copies it into the
        FederatedWorkspace through a struct whose `clusters` is `omitempty`
        (`staging/src/kubesphere.io/api/types/v1beta1/types.go`), so an empty list vanishes
        and the selector decides — `clusters: []` beside `clusterSelector: {}` selects all."""
        if self.clusters == ():
            return Placement(None, self.selector)
        return self

    def describe(self) -> str:
        if self.clusters is not None:
            return f"clusters [{', '.join(self.clusters)}]" if self.clusters else "clusters []"
        if self.selector is None:
            return "no placement"
        if not self.selector:
            return "every cluster (clusterSelector {})"
        return "clusterSelector " + ", ".join(_describe(r) for r in self.selector)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.clusters is not None:
            out["clusters"] = [{"name": c} for c in self.clusters]
        if self.selector is not None:
            out["clusterSelector"] = {
                "matchExpressions": [
                    {"key": r.key, "operator": r.operator, "values": list(r.values)}
                    for r in self.selector
                ]
            }
        return out


def parse(placement: Any) -> Placement:
    """A `spec.placement` object as the API returns it (missing or malformed parts ignored)."""
    if not isinstance(placement, dict):
        return Placement()
    raw_clusters = placement.get("clusters")
    clusters: tuple[str, ...] | None = None
    if isinstance(raw_clusters, list):
        clusters = tuple(
            str(c["name"]) for c in raw_clusters if isinstance(c, dict) and c.get("name")
        )
    raw_selector = placement.get("clusterSelector")
    selector = _requirements(raw_selector) if isinstance(raw_selector, dict) else None
    return Placement(clusters, selector)


def of(obj: Any) -> Placement:
    """The placement of a whole object (`spec.placement`)."""
    spec = obj.get("spec") if isinstance(obj, dict) else None
    return parse(spec.get("placement") if isinstance(spec, dict) else None)


def exactly(names: Iterable[str]) -> dict[str, Any]:
    """A merge-patch placement naming exactly these clusters, in this order. The selector is
    removed: beside an empty list it would decide alone once KubeSphere copies the template."""
    return {"clusters": [{"name": n} for n in dict.fromkeys(names)], "clusterSelector": None}


def _requirements(selector: dict[str, Any]) -> tuple[Requirement, ...]:
    out: list[Requirement] = []
    labels = selector.get("matchLabels")
    if isinstance(labels, dict):
        out.extend(Requirement(str(k), "In", (str(v),)) for k, v in sorted(labels.items()))
    for expr in selector.get("matchExpressions") or []:
        if isinstance(expr, dict) and expr.get("key"):
            values = tuple(str(v) for v in expr.get("values") or [])
            out.append(Requirement(str(expr["key"]), str(expr.get("operator", "")), values))
    return tuple(out)


def _describe(r: Requirement) -> str:
    if r.operator == "In" and len(r.values) == 1:
        return f"{r.key}={r.values[0]}"
    if r.operator in ("Exists", "DoesNotExist"):
        return f"{r.key} {r.operator}"
    return f"{r.key} {r.operator} ({', '.join(r.values)})"
