"""Preflight: read-only checks over the facts of every cluster, and the plan they allow.

Each check is a small function of a `Context` returning `CheckResult`s; they are listed in
`k8s.preflight.checks.CHECKS` (in the order users read them), where `evaluate` runs them.
Gathering the facts is the only I/O and happens before any check runs, so the checks themselves
are pure and cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from k8s.facts import ClusterFacts
from k8s.fleet.claims import Binding, claims_on
from k8s.plan import Plan
from k8s.spec import MigrationSpec


class Severity(StrEnum):
    OK = "ok"  # the check passed
    INFO = "info"  # worth knowing, changes nothing
    WARNING = "warning"  # the migration may run, but someone should look
    BLOCKER = "blocker"  # the migration must not run


@dataclass(frozen=True)
class CheckResult:
    id: str
    severity: Severity
    message: str
    remedy: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "severity": self.severity.value,
            "message": self.message,
            "remedy": self.remedy,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            str(data["id"]),
            Severity(data["severity"]),
            str(data["message"]),
            str(data.get("remedy", "")),
        )


@dataclass(frozen=True)
class Context:
    spec: MigrationSpec
    facts: dict[str, ClusterFacts]
    running_members: frozenset[str] = frozenset()
    plan: Plan | None = None  # built before the checks, so they can judge its consequences

    @property
    def member(self) -> ClusterFacts:
        return self.facts.get(self.spec.member) or ClusterFacts(
            self.spec.member, False, "not in the bot's kubeconfig"
        )

    @property
    def target(self) -> ClusterFacts:
        return self.facts.get(self.spec.target_host) or ClusterFacts(
            self.spec.target_host, False, "not in the bot's kubeconfig"
        )

    def claims(self) -> list[Binding]:
        """Every host's Cluster object that claims the member, by kube-system UID or, where that
        cannot be checked, by name: the same answer the fleet views give (`k8s.fleet.claims`)."""
        return claims_on(self.facts, self.spec.member)

    def old_host(self) -> ClusterFacts | None:
        """The host the member is bound to now: the first host but the target whose Cluster
        object under the member's name claims its kube-system UID. A claim by name alone never
        makes an old host: the plan does not unbind on a guess."""
        for claim in self.claims():
            if (
                claim.by == "uid"
                and claim.object_name == self.spec.member
                and claim.host != self.spec.target_host
            ):
                return self.facts[claim.host]
        return None


Check = Callable[[Context], Iterable[CheckResult]]


@dataclass(frozen=True)
class PreflightReport:
    spec: MigrationSpec
    results: tuple[CheckResult, ...]
    plan: Plan | None  # None when the facts were too incomplete to plan anything
    cluster_errors: dict[str, str] = field(default_factory=dict)

    @property
    def blocked(self) -> bool:
        return self.plan is None or any(r.severity is Severity.BLOCKER for r in self.results)

    def by_severity(self, severity: Severity) -> list[CheckResult]:
        return [r for r in self.results if r.severity is severity]

    def to_json(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_json(),
            "results": [r.to_json() for r in self.results],
            "plan": self.plan.to_json() if self.plan else None,
            "cluster_errors": dict(self.cluster_errors),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PreflightReport:
        return cls(
            spec=MigrationSpec.from_json(data["spec"]),
            results=tuple(CheckResult.from_json(r) for r in data["results"]),
            plan=Plan.from_json(data["plan"]) if data.get("plan") else None,
            cluster_errors=dict(data.get("cluster_errors") or {}),
        )
