"""Fleet-level checks: what the plan sets off on other clusters, who really manages the member,
how it is connected, and whether host and member versions may work together.

The deletions come from the consequence model (`k8s/consequences.py`): anything a controller
would delete that the request did not name is a blocker, by cluster and by name.
"""

from __future__ import annotations

from collections.abc import Iterator

from k8s.consequences import Action, Consequence
from k8s.preflight import CheckResult, Context, Severity
from k8s.spec import SYSTEM_WORKSPACE

OK, INFO, WARN, BLOCK = Severity.OK, Severity.INFO, Severity.WARNING, Severity.BLOCKER


def consequences(ctx: Context) -> Iterator[CheckResult]:
    plan = ctx.plan
    if plan is None:
        return
    m = ctx.member.name
    moving = set(plan.moving_workspaces)
    for c in plan.unrequested_deletions:
        if _data_loss_covers(ctx, c, moving):
            continue  # the data-loss check names these, with the keep/discard fix
        yield CheckResult("consequences", BLOCK, _sentence(c), _remedy(ctx, c))
    for c in plan.consequences:
        if c.action is Action.CHANGE:
            yield CheckResult("consequences", WARN, f"on {c.cluster}: {c.words()}: {c.cause}")
    # workspaces left behind are the left-behind check's, with their projects
    left = [c for c in plan.consequences if c.action is Action.LEAVE and c.kind != "Workspace"]
    if left:
        names = ", ".join(c.words() for c in left[:10])
        more = f" and {len(left) - 10} more" if len(left) > 10 else ""
        yield CheckResult(
            "stranded",
            WARN,
            f"{len(left)} object(s) the old host pushed stay on {m} with nobody managing them: "
            f"{names}{more}",
            f"remove them from {m} after the move if they are not needed",
        )
    if not plan.unrequested_deletions:
        deleted = sum(1 for c in plan.consequences if c.action is Action.DELETE)
        yield CheckResult(
            "consequences",
            OK,
            "no controller deletes anything the request did not name"
            + (f" ({deleted} requested deletion(s))" if deleted else ""),
        )


def _data_loss_covers(ctx: Context, c: Consequence, moving: set[str]) -> bool:
    if c.cluster != ctx.member.name or c.kind != "Namespace":
        return False
    ns = ctx.member.namespace(c.name)
    return ns is not None and ns.workspace in moving


def _sentence(c: Consequence) -> str:
    verb = "uninstalls" if c.action is Action.UNINSTALL else "deletes"
    return f"on {c.cluster}: {c.cause} — this {verb} {c.words()}"


def _remedy(ctx: Context, c: Consequence) -> str:
    if c.kind == "HelmRelease":
        return (
            f"move or uninstall application {c.name} on {c.cluster} first, or keep its "
            "workspace on the member"
        )
    if c.kind == "Namespace" and c.cluster == ctx.member.name:
        return f"keep {c.name} (keep …,{c.name}) or confirm with discard {c.name}"
    if "placement" in c.cause:
        return (
            f"check the workspace's placement on {ctx.target.name}: add {ctx.member.name} to it, "
            f"or remove the {c.words()} from {c.cluster} first"
        )
    return (
        f"on {ctx.target.name}: add {ctx.member.name} to the placement of Federated"
        f"{c.kind} {c.name}, or remove {c.words()} from {c.cluster} first"
    )


def manager(ctx: Context) -> Iterator[CheckResult]:
    """A member that carries another control plane's marks must be claimed by a host the bot
    can read; otherwise some host we cannot see may still manage it and fight the new one."""
    m = ctx.member
    if not m.reachable or not m.kube_system_uid or ctx.claims():
        return  # some host the bot reads claims it: binding says which, and whether that blocks
    signs: list[str] = []
    if m.cluster_name:
        signs.append(f"kubesphere-config names it {m.cluster_name!r} (written by a host)")
    managed_ws = [w.name for w in m.workspaces if w.kubefed_managed and w.name != SYSTEM_WORKSPACE]
    if managed_ws:
        signs.append(f"kubefed-managed workspace(s) {', '.join(managed_ws[:5])}")
    managed_ns = [n.name for n in m.namespaces if n.kubefed_managed]
    if managed_ns:
        signs.append(f"multi-cluster project(s) {', '.join(managed_ns[:5])}")
    if m.managed:
        signs.append(f"{len(m.managed)} kubefed-managed account/role object(s)")
    if not signs:
        return
    yield CheckResult(
        "managed-elsewhere",
        BLOCK,
        f"{m.name} shows signs of being managed by a host ({'; '.join(signs)}), but no host the "
        "bot can read claims it: another control plane may still manage it",
        "add that host to the bot's kubeconfig so the bot can unbind it there; if that host is "
        f"gone for good, remove the kubefed-managed leftovers on {m.name} (or their "
        "kubefed.io/managed label) first",
    )


def connection(ctx: Context) -> Iterator[CheckResult]:
    old = ctx.old_host()
    if old is None:
        return
    obj = old.cluster_object(ctx.member.name)
    if obj is None or obj.connection_type == "direct":
        return
    yield CheckResult(
        "connection",
        BLOCK,
        f"{ctx.member.name} is connected to {old.name} through a cluster-agent "
        f"({obj.connection_type} connection): ksmc-bot does not move agent-connected members — "
        "re-joining it as direct would leave its agent dialling the old host",
        f"move it from the KubeSphere console (re-point its cluster-agent to {ctx.target.name}'s "
        "tower), or switch it to a direct connection first",
    )


def versions(ctx: Context) -> Iterator[CheckResult]:
    m, t = ctx.member, ctx.target
    if not (m.reachable and t.reachable) or not m.ks_version or not t.ks_version:
        return
    mine, theirs = _minor(m.ks_version), _minor(t.ks_version)
    if mine is None or theirs is None:
        return
    if mine != theirs:
        yield CheckResult(
            "version-skew",
            BLOCK,
            f"{m.name} runs KubeSphere {m.ks_version} and {t.name} {t.ks_version}: KubeSphere "
            "supports a member only on the host's minor version",
            f"upgrade the older cluster to {max(m.ks_version, t.ks_version)} first",
        )
    elif m.ks_version != t.ks_version:
        yield CheckResult(
            "version-skew",
            WARN,
            f"{m.name} runs KubeSphere {m.ks_version} and {t.name} {t.ks_version} (same minor "
            "version, different patch)",
        )
    else:
        yield CheckResult("version-skew", OK, f"both run KubeSphere {m.ks_version}")


def _minor(version: str) -> tuple[int, int] | None:
    parts = version.lstrip("v").split(".")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return int(parts[0]), int(parts[1])
