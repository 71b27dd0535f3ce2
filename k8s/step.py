"""One step of a plan, as data: which implementation in `k8s/steps/`, on which cluster, with
which parameters. Stored as JSON with the request, so a restarted bot resumes the same step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Step:
    kind: str  # the step class in k8s/steps/
    cluster: str
    title: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "cluster": self.cluster,
            "title": self.title,
            "params": self.params,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Step:
        return cls(
            str(data["kind"]), str(data["cluster"]), str(data["title"]), dict(data["params"])
        )
