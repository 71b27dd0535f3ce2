"""The resource types the simulated API servers know, with the discovery facts kubectl relies on."""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    custom: bool = True  # custom resources refuse strategic merge patches
    printer_columns: tuple[tuple[str, str], ...] = field(default=())  # (header, jsonpath-ish)

    @property
    def key(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def _core(plural: str, kind: str, namespaced: bool, *short: str) -> ResourceType:
    return ResourceType("", "v1", plural, kind.lower(), kind, namespaced, short, custom=False)


NAMESPACES = ResourceType(
    "",
    "v1",
    "namespaces",
    "namespace",
    "Namespace",
    False,
    ("ns",),
    custom=False,
    printer_columns=(("Status", "status.phase"),),
)
CONFIGMAPS = _core("configmaps", "ConfigMap", True, "cm")
SECRETS = _core("secrets", "Secret", True)
SERVICEACCOUNTS = _core("serviceaccounts", "ServiceAccount", True, "sa")
NODES = _core("nodes", "Node", False, "no")
LEASES = ResourceType("coordination.k8s.io", "v1", "leases", "lease", "Lease", True, custom=False)
DEPLOYMENTS = ResourceType(
    "apps", "v1", "deployments", "deployment", "Deployment", True, ("deploy",), custom=False
)
CLUSTERROLES = ResourceType(
    "rbac.authorization.k8s.io",
    "v1",
    "clusterroles",
    "clusterrole",
    "ClusterRole",
    False,
    custom=False,
)
CLUSTERROLEBINDINGS = ResourceType(
    "rbac.authorization.k8s.io",
    "v1",
    "clusterrolebindings",
    "clusterrolebinding",
    "ClusterRoleBinding",
    False,
    custom=False,
)

CLUSTERS = ResourceType(
    "cluster.kubesphere.io",
    "v1alpha1",
    "clusters",
    "cluster",
    "Cluster",
    False,
    printer_columns=(("Federated", "federated"), ("Provider", "spec.provider"), ("Ready", "ready")),
)
WORKSPACETEMPLATES = ResourceType(
    "tenant.kubesphere.io",
    "v1alpha2",
    "workspacetemplates",
    "workspacetemplate",
    "WorkspaceTemplate",
    False,
)
WORKSPACES = ResourceType(
    "tenant.kubesphere.io", "v1alpha1", "workspaces", "workspace", "Workspace", False
)
CLUSTERCONFIGURATIONS = ResourceType(
    "installer.kubesphere.io",
    "v1alpha1",
    "clusterconfigurations",
    "clusterconfiguration",
    "ClusterConfiguration",
    True,
    ("cc",),
)
USERS = ResourceType("iam.kubesphere.io", "v1alpha2", "users", "user", "User", False)
WORKSPACEROLES = ResourceType(
    "iam.kubesphere.io", "v1alpha2", "workspaceroles", "workspacerole", "WorkspaceRole", False
)
WORKSPACEROLEBINDINGS = ResourceType(
    "iam.kubesphere.io",
    "v1alpha2",
    "workspacerolebindings",
    "workspacerolebinding",
    "WorkspaceRoleBinding",
    False,
)
KUBEFEDCLUSTERS = ResourceType(
    "core.kubefed.io",
    "v1beta1",
    "kubefedclusters",
    "kubefedcluster",
    "KubeFedCluster",
    True,
    printer_columns=(("Ready", "ready"),),
)
FEDERATEDWORKSPACES = ResourceType(
    "types.kubefed.io",
    "v1beta1",
    "federatedworkspaces",
    "federatedworkspace",
    "FederatedWorkspace",
    False,
)

GLOBALROLES = ResourceType(
    "iam.kubesphere.io", "v1alpha2", "globalroles", "globalrole", "GlobalRole", False
)
GLOBALROLEBINDINGS = ResourceType(
    "iam.kubesphere.io",
    "v1alpha2",
    "globalrolebindings",
    "globalrolebinding",
    "GlobalRoleBinding",
    False,
)
GROUPS = ResourceType("iam.kubesphere.io", "v1alpha2", "groups", "group", "Group", False)
GROUPBINDINGS = ResourceType(
    "iam.kubesphere.io", "v1alpha2", "groupbindings", "groupbinding", "GroupBinding", False
)
WORKSPACEQUOTAS = ResourceType(
    "quota.kubesphere.io", "v1alpha2", "resourcequotas", "resourcequota", "ResourceQuota", False
)
HELMRELEASES = ResourceType(
    "application.kubesphere.io", "v1alpha1", "helmreleases", "helmrelease", "HelmRelease", False
)


def _federated(kind: str, namespaced: bool = False) -> ResourceType:
    """A KubeFed federated type (`types.kubefed.io/v1beta1`, `Federated<Kind>`)."""
    plural = f"federated{kind.lower()}s"
    return ResourceType(
        "types.kubefed.io", "v1beta1", plural, plural[:-1], f"Federated{kind}", namespaced
    )


FEDERATEDNAMESPACES = _federated("Namespace", namespaced=True)
FEDERATEDUSERS = _federated("User")
FEDERATEDGLOBALROLES = _federated("GlobalRole")
FEDERATEDGLOBALROLEBINDINGS = _federated("GlobalRoleBinding")
FEDERATEDWORKSPACEROLES = _federated("WorkspaceRole")
FEDERATEDWORKSPACEROLEBINDINGS = _federated("WorkspaceRoleBinding")
FEDERATEDGROUPS = _federated("Group")
FEDERATEDGROUPBINDINGS = _federated("GroupBinding")

# KubeSphere 4.x signals (group kubesphere.io); only served by clusters simulated as 4.x.
INSTALLPLANS = ResourceType(
    "kubesphere.io", "v1alpha1", "installplans", "installplan", "InstallPlan", False
)
EXTENSIONS = ResourceType(
    "kubesphere.io", "v1alpha1", "extensions", "extension", "Extension", False
)

BUILTIN = (
    NAMESPACES,
    CONFIGMAPS,
    SECRETS,
    SERVICEACCOUNTS,
    NODES,
    LEASES,
    DEPLOYMENTS,
    CLUSTERROLES,
    CLUSTERROLEBINDINGS,
)
KUBESPHERE_V3 = (
    CLUSTERS,
    WORKSPACETEMPLATES,
    WORKSPACES,
    CLUSTERCONFIGURATIONS,
    USERS,
    WORKSPACEROLES,
    WORKSPACEROLEBINDINGS,
    KUBEFEDCLUSTERS,
    FEDERATEDWORKSPACES,
    GLOBALROLES,
    GLOBALROLEBINDINGS,
    GROUPS,
    GROUPBINDINGS,
    WORKSPACEQUOTAS,
    HELMRELEASES,
    FEDERATEDNAMESPACES,
    FEDERATEDUSERS,
    FEDERATEDGLOBALROLES,
    FEDERATEDGLOBALROLEBINDINGS,
    FEDERATEDWORKSPACEROLES,
    FEDERATEDWORKSPACEROLEBINDINGS,
    FEDERATEDGROUPS,
    FEDERATEDGROUPBINDINGS,
)
KUBESPHERE_V4 = (INSTALLPLANS, EXTENSIONS)


class Registry:
    """The resource types one simulated cluster serves, indexed the ways requests need."""

    def __init__(self, types: tuple[ResourceType, ...]) -> None:
        self.types = types
        self._by_path = {(t.group, t.version, t.plural): t for t in types}
        self._by_key = {t.key: t for t in types}

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_key(self, key: str) -> ResourceType:
        return self._by_key[key]

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        for t in self.types:
            if t.api_version == api_version and t.kind == kind:
                return t
        return None

    def groups(self) -> dict[str, list[str]]:
        """Group name → versions, in registration order (the core group excluded)."""
        out: dict[str, list[str]] = {}
        for t in self.types:
            if t.group and t.version not in out.setdefault(t.group, []):
                out[t.group].append(t.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self.types if t.group == group and t.version == version]
