"""The checks preflight runs, in the order a reader wants them (can we reach and trust the
clusters, where is the member now, what happens to its projects), and `evaluate`, which runs
them over gathered facts."""

from __future__ import annotations

from k8s.facts import ClusterFacts
from k8s.plan import build_plan
from k8s.preflight import Check, CheckResult, Context, PreflightReport, clusters, fleet, projects
from k8s.spec import MigrationSpec

CHECKS: tuple[Check, ...] = (
    clusters.reachable,
    clusters.distinct,
    clusters.kubesphere_version,
    fleet.versions,
    clusters.roles,
    clusters.binding,
    fleet.manager,
    fleet.connection,
    clusters.name_on_target,
    clusters.jwt_secret,
    clusters.lock,
    projects.kept_namespaces,
    projects.data_loss,
    fleet.consequences,
    projects.left_behind,
    projects.workspace_conflicts,
    projects.components,
    projects.accounts,
    projects.federation_leftovers,
)


def evaluate(
    spec: MigrationSpec,
    facts: dict[str, ClusterFacts],
    running_members: frozenset[str] = frozenset(),
) -> PreflightReport:
    """Run every check over already-gathered facts and build the plan (pure)."""
    ctx = Context(spec, facts, running_members)
    plan = None
    if ctx.member.reachable and ctx.target.reachable and ctx.member.kube_system_uid:
        plan = build_plan(spec, ctx.member, ctx.target, ctx.old_host(), facts)
    ctx = Context(spec, facts, running_members, plan)
    results: list[CheckResult] = []
    for check in CHECKS:
        results.extend(check(ctx))
    errors = {n: f.error for n, f in facts.items() if f.error}
    return PreflightReport(spec, tuple(results), plan, errors)
