"""What a migration does to OpenPitrix applications (HelmReleases): where they are recorded,
which deletions uninstall them, and which only drop the record (`k8s/predict.py` uses it).

Upstream: a HelmRelease is cluster-scoped and may live on the host for a member (label
`kubesphere.io/cluster`, `helmrelease_types.go`); only a WorkspaceTemplate's finalizer deletes a
workspace's releases (`workspacetemplate_controller.go`, `deleteHelmReleases`); a release whose
cluster departs is not uninstalled (`helm_release_controller.go`).
"""

from __future__ import annotations

from k8s.consequences import Action, Consequence, Writes
from k8s.facts import ClusterFacts, ReleaseInfo
from k8s.spec import MigrationSpec


def consequences(
    spec: MigrationSpec,
    member: ClusterFacts,
    old_host: ClusterFacts | None,
    writes: Writes,
    doomed: set[str],
) -> list[Consequence]:
    m = member.name
    out: list[Consequence] = []
    for rel in _apps_of(member, old_host):
        if rel.deleting:
            continue
        where = f"{rel.namespace}/{rel.name}"
        if rel.namespace in doomed:
            out.append(
                Consequence(
                    m,
                    Action.UNINSTALL,
                    "HelmRelease",
                    where,
                    f"namespace {rel.namespace} is deleted, with the app's workloads",
                    requested=rel.namespace in spec.discard,
                )
            )
        elif rel.workspace and rel.workspace in writes.moving and member.template(rel.workspace):
            # only a WorkspaceTemplate's finalizer cleans up OpenPitrix (a Workspace's does not)
            out.append(
                Consequence(
                    m,
                    Action.UNINSTALL,
                    "HelmRelease",
                    where,
                    f"the finalizer of workspace template {rel.workspace} on {m} uninstalls the "
                    "workspace's apps when it is deleted",
                )
            )
    if old_host is not None:
        out += _release_records(member, old_host)
    return out


def _apps_of(member: ClusterFacts, old_host: ClusterFacts | None) -> list[ReleaseInfo]:
    """The member's OpenPitrix releases: its own, and those its host records for it (a host
    keeps a member's HelmReleases, labelled `kubesphere.io/cluster`, `helmrelease_types.go`)."""
    found = [r for r in member.releases if r.cluster in (None, member.name)]
    if old_host is not None:
        found += [r for r in old_host.releases if r.cluster == member.name]
    return found


def _release_records(member: ClusterFacts, old: ClusterFacts) -> list[Consequence]:
    """A host's records of the member's apps are owned by its Cluster object: the unbind's
    garbage collection deletes them, and the release controller skips the uninstall for a
    departing cluster (`helm_release_controller.go`), so the workloads stay, unmanaged."""
    return [
        Consequence(
            old.name,
            Action.DELETE,
            "HelmRelease",
            f"{rel.namespace}/{rel.name}",
            f"garbage collection: {old.name}'s record of {member.name}'s app goes with the unbind; "
            f"its workloads stay on {member.name}, no longer managed as an app",
            requested=True,
        )
        for rel in old.releases
        if rel.cluster == member.name and not rel.deleting
    ]
