"""The engine's front door, first half: preflight a migration (gather, check, plan, ask the
target host), and the world-changed guard the executor runs before its first write.
`k8s.execution` is the other half: execute an approved plan, or roll one back.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from k8s import credentials
from k8s.errors import ClusterError
from k8s.executor import WorldChanged
from k8s.gather import gather_all
from k8s.plan import Plan
from k8s.preflight import CheckResult, PreflightReport, Severity
from k8s.preflight.checks import evaluate
from k8s.registry import ClusterRegistry
from k8s.spec import MigrationSpec
from k8s.steps.hostside import judge, validate_from_host


@dataclass(frozen=True)
class EngineSettings:
    gather_timeout: float = 15.0  # per cluster, so one slow cluster cannot hold the others
    concurrency: int = 8  # writes to many namespaces at once
    wait_timeout: float = 180.0  # waiting for KubeSphere's controllers in one step
    # ks-installer re-runs its playbooks on a ClusterConfiguration change: minutes, not seconds
    installer_timeout: float = 900.0
    poll_interval: float = 0.5
    step_attempts: int = 3


def preflight(
    registry: ClusterRegistry,
    spec: MigrationSpec,
    running_members: frozenset[str] = frozenset(),
    settings: EngineSettings | None = None,
) -> PreflightReport:
    """Read every cluster concurrently (read-only) and evaluate the checks and the plan."""
    settings = settings or EngineSettings()
    facts = gather_all(registry, registry.names(), settings.gather_timeout)
    report = evaluate(spec, facts, running_members)
    if report.blocked:
        return report
    return replace(report, results=(*report.results, host_side_check(registry, spec, settings)))


def host_side_check(
    registry: ClusterRegistry, spec: MigrationSpec, settings: EngineSettings
) -> CheckResult:
    """Ask the new host itself (ks-apiserver's import validation) about the member, read-only.

    With the host's own credential, when an earlier attempt made it, this is the full check.
    Otherwise the host is asked with no credential at all: "Unauthorized" proves it reaches
    the member's API server from where it runs; the full check with the credential is then the
    executor's second step, before anything changes."""
    member, host = spec.member, spec.target_host
    try:
        member_api = registry.api(member)
        full = credentials.exists(member_api, host)
        kubeconfig = (
            credentials.kubeconfig(member_api, host, member, timeout=settings.gather_timeout)
            if full
            else credentials.anonymous_kubeconfig(member_api, member)
        )
        verdict = validate_from_host(registry.api(host), member, kubeconfig)
        del kubeconfig
    except (ClusterError, credentials.CredentialError) as e:
        return CheckResult(
            "host-validation", Severity.BLOCKER, f"{host} could not be asked about {member}: {e}"
        )
    verdict = judge(verdict, full=full, sync_jwt=spec.sync_jwt)
    if verdict is None:
        said = (
            "validated it with the credential it will be given"
            if full
            else "reaches its API server (asked without a credential, it was refused as it "
            "should be); it validates the member with its own credential before the first change"
        )
        return CheckResult("host-validation", Severity.OK, f"{host} {said}")
    return CheckResult(
        "host-validation",
        Severity.BLOCKER,
        f"{host} cannot take {member}: {verdict}",
        f"{host}'s ks-apiserver must reach {member}'s API server and accept it; fix what it "
        "reported, then ask again",
    )


def standalone_kubeconfig(paths: str, context: str) -> bytes:
    """One context of the bot's kubeconfig as a self-contained kubeconfig (for a Cluster object).

    Credentials stay in memory; the caller puts them straight into the Cluster it creates.
    """
    merged: dict[str, dict[str, Any]] = {"clusters": {}, "users": {}, "contexts": {}}
    for path in paths.split(os.pathsep):
        if not path:
            continue
        data = yaml.safe_load(Path(path).expanduser().read_text()) or {}
        for kind in ("clusters", "users", "contexts"):
            for entry in data.get(kind) or []:
                merged[kind].setdefault(str(entry["name"]), entry)
    ctx = merged["contexts"].get(context)
    if ctx is None:
        raise KeyError(f"no context {context!r} in the bot's kubeconfig")
    inner = ctx["context"]
    assert isinstance(inner, dict)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": context,
        "contexts": [ctx],
        "clusters": [merged["clusters"][str(inner["cluster"])]],
        "users": [merged["users"][str(inner["user"])]] if inner.get("user") else [],
    }
    return yaml.safe_dump(config).encode()


def world_guard(
    registry: ClusterRegistry,
    spec: MigrationSpec,
    running_members: frozenset[str],
    settings: EngineSettings,
) -> Callable[[], Plan | None]:
    """What the executor asks before its first write: a fresh preflight's plan (which it compares
    with the approved one), or `WorldChanged` when a fresh preflight now blocks."""

    def replan() -> Plan | None:
        report = preflight(registry, spec, running_members, settings)
        blockers = [r.message for r in report.results if r.severity is Severity.BLOCKER]
        if blockers:
            raise WorldChanged([f"preflight now blocks this migration: {m}" for m in blockers])
        return report.plan

    return replan
