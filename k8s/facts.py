"""What the bot knows about one cluster at one moment: the read-only snapshot preflight and the
plan are computed from.

Gathering is the only I/O; everything downstream (checks, plan, diffs between preflight and
execution) is a pure function of these values, so it can be tested without servers. Secrets are
reduced to fingerprints here and never travel further.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from k8s.placement import Placement


@dataclass(frozen=True)
class OwnerRef:
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool = False


@dataclass(frozen=True)
class NamespaceInfo:
    name: str
    uid: str
    resource_version: str
    workspace: str | None  # label kubesphere.io/workspace
    kubefed_managed: bool  # label kubefed.io/managed == "true"
    owners: tuple[OwnerRef, ...] = ()
    deleting: bool = False

    @property
    def workspace_owner(self) -> OwnerRef | None:
        return next(
            (
                o
                for o in self.owners
                if o.kind == "Workspace" and o.api_version.startswith("tenant.")
            ),
            None,
        )

    @property
    def foreign_owners(self) -> tuple[OwnerRef, ...]:
        """Owners other than a KubeSphere Workspace/WorkspaceTemplate."""
        return tuple(o for o in self.owners if o.kind not in ("Workspace", "WorkspaceTemplate"))


@dataclass(frozen=True)
class WorkspaceInfo:
    """A `Workspace` (tenant.kubesphere.io/v1alpha1) as it exists on one cluster."""

    name: str
    uid: str
    resource_version: str
    kubefed_managed: bool
    deleting: bool = False


@dataclass(frozen=True)
class WorkspaceTemplateInfo:
    name: str
    uid: str
    resource_version: str
    placement_clusters: tuple[str, ...] | None  # None when placement uses a selector or is empty
    manager: str | None = None
    deleting: bool = False
    placement: Placement | None = None  # the whole placement; None: only the cluster list known
    network_isolation: bool | None = None
    template_labels: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.placement is None:
            object.__setattr__(self, "placement", Placement(clusters=self.placement_clusters))

    @property
    def where(self) -> Placement:
        """What the template's FederatedWorkspace selects (see Placement.through_kubesphere)."""
        return (self.placement or Placement(clusters=self.placement_clusters)).through_kubesphere()


@dataclass(frozen=True)
class FederatedWorkspaceInfo:
    name: str
    placement_clusters: tuple[str, ...] | None


@dataclass(frozen=True)
class FederatedInfo:
    """A KubeFed federated object on a host (`Federated<kind>`): what it places where."""

    kind: str  # the pushed kind: Workspace, Namespace, User, WorkspaceRoleBinding, ...
    name: str
    placement: Placement
    namespace: str = ""  # FederatedNamespace lives in the namespace it federates
    deleting: bool = False


@dataclass(frozen=True)
class ManagedInfo:
    """An object a KubeFed pushed onto this cluster (`kubefed.io/managed=true`)."""

    kind: str
    name: str
    workspace: str | None = None  # label kubesphere.io/workspace, where the kind has it


@dataclass(frozen=True)
class ReleaseInfo:
    """An OpenPitrix application release (HelmRelease): uninstalled with its workspace."""

    name: str
    namespace: str
    workspace: str | None
    deleting: bool = False
    cluster: str | None = None  # label kubesphere.io/cluster: a host's record of a member's app


@dataclass(frozen=True)
class ClusterObjectInfo:
    """A `Cluster` object on a host: how the host sees one of its clusters."""

    name: str
    uid_claimed: str | None  # status.uid: the member's kube-system UID
    ready: bool
    ready_message: str
    is_host_itself: bool  # labelled cluster-role.kubesphere.io/host
    labels: tuple[tuple[str, str], ...] = ()
    resource_version: str = ""
    deleting: bool = False
    connection_type: str = "direct"  # direct | proxy (a cluster-agent dials the host's tower)
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RoleBindingInfo:
    name: str
    workspace: str
    user: str


@dataclass(frozen=True)
class ClusterFacts:
    name: str
    reachable: bool
    error: str | None = None  # why it could not be read (reachable=False or a partial read)
    kubernetes_version: str | None = None
    kube_system_uid: str | None = None
    node_count: int | None = None
    ks_version: str | None = None  # e.g. "v3.4.1"; None when KubeSphere is not installed
    ks_major: int | None = None  # 3 or 4
    cluster_role: str | None = None  # kubesphere.yaml multicluster.clusterRole
    multicluster_enabled: bool = False  # kubesphere.yaml multicluster.enable (host behaviour)
    cluster_name: str | None = None  # kubesphere.yaml multicluster.clusterName (set by its host)
    jwt_fingerprint: str | None = None  # short sha256 of the jwtSecret, never the secret
    components: tuple[tuple[str, bool], ...] = ()  # pluggable components (name, enabled)
    namespaces: tuple[NamespaceInfo, ...] = ()
    workspaces: tuple[WorkspaceInfo, ...] = ()
    workspace_templates: tuple[WorkspaceTemplateInfo, ...] = ()
    federated_workspaces: tuple[FederatedWorkspaceInfo, ...] = ()
    cluster_objects: tuple[ClusterObjectInfo, ...] = ()  # hosts only
    users: tuple[str, ...] = ()
    role_bindings: tuple[RoleBindingInfo, ...] = ()
    federation_leftovers: tuple[str, ...] = ()  # e.g. "serviceaccount kube-federation-system/x"
    extra: tuple[tuple[str, str], ...] = field(default=())
    federated: tuple[FederatedInfo, ...] = ()  # hosts: every federated object, every kind
    kubefed_clusters: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()  # name, labels
    managed: tuple[ManagedInfo, ...] = ()  # objects a KubeFed pushed here (not ns/workspaces)
    releases: tuple[ReleaseInfo, ...] = ()
    host_credentials: tuple[str, ...] = ()  # hosts ksmc-bot made a member credential for

    @property
    def is_host(self) -> bool:
        return self.multicluster_enabled

    def namespace(self, name: str) -> NamespaceInfo | None:
        return next((n for n in self.namespaces if n.name == name), None)

    def workspace(self, name: str) -> WorkspaceInfo | None:
        return next((w for w in self.workspaces if w.name == name), None)

    def template(self, name: str) -> WorkspaceTemplateInfo | None:
        return next((w for w in self.workspace_templates if w.name == name), None)

    def cluster_object(self, name: str) -> ClusterObjectInfo | None:
        return next((c for c in self.cluster_objects if c.name == name), None)

    def joined_labels(self) -> dict[str, dict[str, str]]:
        """Joined clusters (KubeFedCluster name → labels): what KubeFed selectors match."""
        return {name: dict(labels) for name, labels in self.kubefed_clusters}

    def namespaces_in(self, workspace: str) -> tuple[NamespaceInfo, ...]:
        return tuple(n for n in self.namespaces if n.workspace == workspace)

    def component_map(self) -> dict[str, bool]:
        return dict(self.components)
