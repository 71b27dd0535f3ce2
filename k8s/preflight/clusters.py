"""Cluster-level checks: reachability, KubeSphere version and role, current binding, identity,
name reuse and the jwtSecret — the rules of KubeSphere's "Manage a Multi-cluster Environment"."""

from __future__ import annotations

from collections.abc import Iterator

from k8s.facts import ClusterFacts
from k8s.fleet.claims import Binding
from k8s.preflight import CheckResult, Context, Severity

OK, INFO, WARN, BLOCK = Severity.OK, Severity.INFO, Severity.WARNING, Severity.BLOCKER


def _reach(check_id: str, facts: ClusterFacts, what: str) -> CheckResult:
    if facts.reachable:
        return CheckResult(check_id, OK, f"{what} {facts.name} is reachable")
    return CheckResult(
        check_id,
        BLOCK,
        f"{what} {facts.name} is not reachable: {facts.error or 'no answer'}",
        f"check that the bot's kubeconfig context {facts.name} points at a running cluster "
        "and that its credentials are valid",
    )


def reachable(ctx: Context) -> Iterator[CheckResult]:
    yield _reach("source-reachable", ctx.member, "member")
    yield _reach("target-reachable", ctx.target, "target host")


def distinct(ctx: Context) -> Iterator[CheckResult]:
    if ctx.spec.member == ctx.spec.target_host:
        yield CheckResult(
            "distinct-clusters",
            BLOCK,
            f"{ctx.spec.member} cannot be migrated to itself",
            "name a host cluster as the target",
        )


def _version(check_id: str, facts: ClusterFacts) -> CheckResult | None:
    if not facts.reachable:
        return None
    if facts.ks_major is None:
        return CheckResult(
            check_id,
            BLOCK,
            f"KubeSphere is not installed on {facts.name} (no kubesphere-config)",
            "install KubeSphere 3.x on it first",
        )
    if facts.ks_major >= 4:
        return CheckResult(
            check_id,
            BLOCK,
            f"{facts.name} runs KubeSphere {facts.ks_version or '4.x'}: "
            "KubeSphere 4.x is not supported for migration yet",
            "migrate 4.x clusters from the KubeSphere console",
        )
    return CheckResult(check_id, OK, f"{facts.name} runs KubeSphere {facts.ks_version}")


def kubesphere_version(ctx: Context) -> Iterator[CheckResult]:
    for check_id, facts in (("source-version", ctx.member), ("target-version", ctx.target)):
        result = _version(check_id, facts)
        if result is not None:
            yield result


def roles(ctx: Context) -> Iterator[CheckResult]:
    m, t = ctx.member, ctx.target
    if m.reachable and m.ks_major == 3:
        if m.cluster_role == "member" and not m.multicluster_enabled:
            yield CheckResult("source-role", OK, f"{m.name} is a member cluster")
        elif m.multicluster_enabled or m.cluster_role == "host":
            yield CheckResult(
                "source-role",
                BLOCK,
                f"{m.name} is a host cluster; a host is never turned into a member",
                "pick a member cluster as the source",
            )
        else:
            yield CheckResult(
                "source-role",
                BLOCK,
                f"{m.name} has clusterRole {m.cluster_role or 'none'!s}, not member",
                f"on {m.name}: kubectl edit cc ks-installer -n kubesphere-system and set "
                "multicluster.clusterRole: member, then wait for ks-installer",
            )
    if t.reachable and t.ks_major == 3:
        if t.multicluster_enabled:
            yield CheckResult("target-role", OK, f"{t.name} is a host cluster")
        else:
            yield CheckResult(
                "target-role",
                BLOCK,
                f"{t.name} is not a host cluster (multicluster.enable is off, role "
                f"{t.cluster_role or 'none'})",
                "pick a host cluster as the target",
            )


def binding(ctx: Context) -> Iterator[CheckResult]:
    """Where the member is bound now, and that nothing else claims its identity. The claims are
    the fleet views' (`Context.claims`); only those confirmed by kube-system UID are acted on."""
    m, t = ctx.member, ctx.target
    claims = ctx.claims()
    if not m.reachable:
        yield from _unconfirmed(m.name, claims)
        return
    if not m.kube_system_uid:
        return
    if any(c.host == t.name and c.object_name == m.name and c.by == "uid" for c in claims):
        yield CheckResult(
            "not-already-bound",
            BLOCK,
            f"{m.name} is already bound to {t.name}; there is nothing to migrate",
            "",
        )
        return
    # the target's own objects are judged by name-free (same name) and uid-unique (another name)
    here = [c for c in claims if c.object_name == m.name and c.host != t.name]
    strays = [c for c in claims if c.object_name != m.name]
    if len({c.host for c in here}) > 1:
        yield _claimed_by_several(m.name, here)
    elif here and here[0].by == "name":
        c = here[0]
        yield CheckResult(
            "current-host",
            BLOCK,
            f"{c.host} has a Cluster object named {m.name} that has not joined yet (no "
            f"kube-system UID recorded), so the bot cannot tell whether it is this cluster; if "
            f"that join succeeds, {m.name} has two hosts",
            f"on {c.host}: let the join finish (then the bot unbinds it there) or delete it: "
            f"kubectl delete clusters.cluster.kubesphere.io {m.name}",
        )
    elif here:
        yield from _current_host(m, ctx.facts[here[0].host])
    else:
        yield from _no_host(ctx, bound_under_another_name=bool(strays))
    for c in strays:
        yield CheckResult(
            "uid-unique",
            BLOCK,
            f"Cluster {c.object_name!r} on {c.host} claims the same cluster (kube-system UID) as "
            f"{m.name}: the same cluster must not be imported twice",
            f"on {c.host}: kubectl delete clusters.cluster.kubesphere.io {c.object_name}",
        )
    if not strays:
        yield CheckResult("uid-unique", OK, f"no other Cluster object claims {m.name}'s identity")


def _unconfirmed(member: str, claims: list[Binding]) -> Iterator[CheckResult]:
    """What the hosts say about a member the bot cannot read: by name only, so it is reported
    (the operator learns where to look) and never acted on (source-reachable blocks)."""
    if not claims:
        return
    hosts = sorted({c.host for c in claims})
    where = (
        f"bound to {hosts[0]}"
        if len(hosts) == 1
        else f"claimed by {len(hosts)} hosts ({', '.join(hosts)}); a cluster must have one"
    )
    yield CheckResult(
        "current-host",
        INFO if len(hosts) == 1 else WARN,
        f"{member} could not be read, so its kube-system UID cannot be checked; by the name of "
        f"their Cluster objects it is {where}",
        "" if len(hosts) == 1 else f"once {member} is back, unbind it from all but one of them",
    )


def _claimed_by_several(member: str, here: list[Binding]) -> CheckResult:
    hosts = sorted({c.host for c in here})
    pending = sorted({c.host for c in here if c.by == "name"})
    unjoined = f" ({', '.join(pending)}: not joined yet)" if pending else ""
    return CheckResult(
        "current-host",
        BLOCK,
        f"{member} is claimed by {len(hosts)} hosts ({', '.join(hosts)}){unjoined}; a cluster "
        "must have one, and the bot will not guess which one manages it",
        f"unbind it from every host but the one that should keep it (on each: kubectl delete "
        f"clusters.cluster.kubesphere.io {member}), then run preflight again",
    )


def _current_host(m: ClusterFacts, old: ClusterFacts) -> Iterator[CheckResult]:
    """The one host that claims the member by kube-system UID under its name (`old_host`)."""
    obj = old.cluster_object(m.name)
    ready = obj is not None and obj.ready
    yield CheckResult(
        "current-host",
        OK if ready else WARN,
        f"{m.name} is bound to {old.name}"
        + ("" if ready else f", which does not see it Ready ({obj.ready_message if obj else ''})"),
        "" if ready else f"check the Cluster {m.name} on {old.name} before migrating",
    )
    if not old.reachable:
        yield CheckResult(
            "old-host-reachable",
            BLOCK,
            f"{old.name} is not reachable; unbinding a member from a host that is down fails",
            f"bring {old.name} back first",
        )


def _no_host(ctx: Context, bound_under_another_name: bool) -> Iterator[CheckResult]:
    m, t = ctx.member, ctx.target
    unreachable_hosts = [f.name for f in ctx.facts.values() if not f.reachable and f.name != t.name]
    if unreachable_hosts:
        # a cluster the bot cannot read may be the host that still holds this member
        yield CheckResult(
            "current-host",
            BLOCK,
            f"no reachable host has a Cluster object for {m.name}, and "
            f"{', '.join(unreachable_hosts)} could not be read: it may still be bound there",
            f"bring {', '.join(unreachable_hosts)} back (unbinding from a host that is down "
            "fails), or remove it from the bot's kubeconfig if it is gone for good",
        )
    elif not m.cluster_name and not bound_under_another_name:
        # with a host's marks, fleet.manager decides; under another name, uid-unique blocks
        yield CheckResult(
            "current-host", INFO, f"{m.name} is not bound to any host; it will only be joined"
        )


def name_on_target(ctx: Context) -> Iterator[CheckResult]:
    m, t = ctx.member, ctx.target
    if not t.reachable or not t.multicluster_enabled:
        return
    obj = t.cluster_object(m.name)
    if obj is not None and obj.uid_claimed != m.kube_system_uid:
        yield CheckResult(
            "name-free",
            BLOCK,
            f"{t.name} already has a Cluster named {m.name} for a different cluster",
            f"remove or rename the Cluster {m.name} on {t.name}; KubeSphere requires the member "
            "to keep its name on re-import",
        )
    elif obj is None:
        yield CheckResult(
            "name-free",
            OK,
            f"the name {m.name} is free on {t.name}; the member keeps its name on import",
        )


def jwt_secret(ctx: Context) -> Iterator[CheckResult]:
    m, t = ctx.member, ctx.target
    if not (m.reachable and t.reachable) or m.ks_major != 3 or t.ks_major != 3:
        return
    if not m.jwt_fingerprint or not t.jwt_fingerprint:
        yield CheckResult(
            "jwt-secret",
            BLOCK,
            f"the jwtSecret of {m.name if not m.jwt_fingerprint else t.name} could not be read",
            "the bot needs read access to kubesphere-system/kubesphere-config",
        )
    elif m.jwt_fingerprint == t.jwt_fingerprint:
        yield CheckResult(
            "jwt-secret",
            OK,
            f"{m.name} and {t.name} share the jwtSecret (fingerprint {m.jwt_fingerprint})",
        )
    elif ctx.spec.sync_jwt:
        yield CheckResult(
            "jwt-secret",
            WARN,
            f"{m.name}'s jwtSecret ({m.jwt_fingerprint}) differs from {t.name}'s "
            f"({t.jwt_fingerprint}); sync-jwt will set it before the join, which logs out "
            f"{m.name}'s console sessions",
        )
    else:
        yield CheckResult(
            "jwt-secret",
            BLOCK,
            f"{m.name}'s jwtSecret (fingerprint {m.jwt_fingerprint}) differs from {t.name}'s "
            f"({t.jwt_fingerprint}); the member's console would fail with 'signature is invalid'",
            "add sync-jwt to the command to copy the host's jwtSecret into the member's "
            "ks-installer configuration",
        )


def lock(ctx: Context) -> Iterator[CheckResult]:
    if ctx.spec.member in ctx.running_members:
        yield CheckResult(
            "lock",
            BLOCK,
            f"another migration of {ctx.spec.member} is already approved or running",
            "wait for it to finish, or cancel it",
        )
