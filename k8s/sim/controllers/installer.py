"""ks-installer: a ClusterConfiguration change re-renders `kubesphere-config` (role, jwtSecret,
components), creates the jwtSecret when none is given, and installs the host's own Cluster.

The first installation applies at once (worlds are built that way), but a later spec change takes
the world's installer delay (k8s/sim/timing.py): ks-installer watches the cc and re-runs its
Ansible playbooks, several minutes on a real cluster, before kubesphere-config changes.
"""

from __future__ import annotations

import copy
import secrets
import string
import time
from typing import TYPE_CHECKING

import yaml

from k8s.sim import kubesphere, timing
from k8s.sim.controllers.base import FEDERATION_NS, ensure
from k8s.sim.resources import (
    CLUSTERCONFIGURATIONS,
    CLUSTERS,
    CONFIGMAPS,
    NAMESPACES,
    SECRETS,
    WORKSPACETEMPLATES,
)
from k8s.sim.store import meta

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster, World

SYSTEM_NAMESPACES = ("kube-system", "kubesphere-system", "kubesphere-controls-system")


class InstallerController:
    watches = frozenset({CLUSTERCONFIGURATIONS.key})

    def __init__(self) -> None:
        self._applied: dict[tuple[str, str], int] = {}  # (cluster, cc uid) -> generation run
        self._due: dict[tuple[str, str, int], float] = {}  # ... + generation -> when it is done

    def _run_now(self, world: World, cluster: SimCluster, cc: dict[str, object]) -> bool:
        """False while a playbook re-run for this spec generation is still "running"."""
        md = meta(cc)
        key = (cluster.name, str(md.get("uid")))
        generation = int(md.get("generation") or 1)
        status = cc.get("status") or {}
        installed = isinstance(status, dict) and (status.get("core") or {}).get("status")
        delay = timing.installer_delay(world)
        if delay <= 0 or not installed or self._applied.get(key) == generation:
            self._applied[key] = generation
            return True
        due = self._due.setdefault((*key, generation), time.monotonic() + delay)
        left = due - time.monotonic()
        if left > 0:
            ns, name = str(md.get("namespace", "")), str(md.get("name"))
            world.enqueue(cluster.name, CLUSTERCONFIGURATIONS.key, ns, name, delay=left)
            return False
        self._due.pop((*key, generation), None)
        self._applied[key] = generation
        return True

    def handle(
        self, world: World, cluster: SimCluster, rkey: str, namespace: str, name: str
    ) -> None:
        if namespace != kubesphere.KS_NS or name != kubesphere.KS_INSTALLER:
            return
        cc = cluster.store.peek(CLUSTERCONFIGURATIONS, namespace, name)
        if cc is None or meta(cc).get("deletionTimestamp"):
            return
        if not self._run_now(world, cluster, cc):
            return
        store = cluster.store
        spec = cc.get("spec") or {}
        jwt = str((spec.get("authentication") or {}).get("jwtSecret") or "")
        secret = store.peek(SECRETS, kubesphere.KS_NS, "kubesphere-secret")
        if not jwt:
            jwt = str(((secret or {}).get("stringData") or {}).get("secret") or "")
            if not jwt and secret is not None:
                import base64

                jwt = base64.b64decode((secret.get("data") or {}).get("secret", "")).decode()
            if not jwt:
                alphabet = string.ascii_letters + string.digits
                jwt = "".join(secrets.choice(alphabet) for _ in range(32))
        import base64

        ensure(
            cluster,
            SECRETS,
            kubesphere.KS_NS,
            {
                "metadata": {"name": "kubesphere-secret", "namespace": kubesphere.KS_NS},
                "type": "Opaque",
                "data": {"secret": base64.b64encode(jwt.encode()).decode()},
            },
        )
        current = kubesphere.read_config(cluster) or {}
        cluster_name = (current.get("multicluster") or {}).get("clusterName")
        config = kubesphere.render_config(cc, jwt, cluster_name)
        ensure(
            cluster,
            CONFIGMAPS,
            kubesphere.KS_NS,
            {
                "metadata": {"name": kubesphere.KS_CONFIG, "namespace": kubesphere.KS_NS},
                "data": {"kubesphere.yaml": yaml.safe_dump(config, sort_keys=True)},
            },
        )
        for ns in ("kubesphere-controls-system", "kubesphere-monitoring-system"):
            if store.peek(NAMESPACES, "", ns) is None:
                store.create(NAMESPACES, "", {"metadata": {"name": ns}})
        self._system_workspace(cluster)
        role = config["multicluster"]["clusterRole"]
        status = copy.deepcopy(cc.get("status") or {})
        version = str((meta(cc).get("labels") or {}).get("version") or "v3.4.1")
        status["core"] = {"status": "enabled", "version": version}
        status["monitoring"] = {"status": "enabled"}
        for key in kubesphere.COMPONENT_SECTIONS:
            if (spec.get(key) or {}).get("enabled"):
                status[key] = {"status": "enabled"}
            else:
                status.pop(key, None)
        if role == "host":
            status["multicluster"] = {"status": "enabled"}
            if store.peek(NAMESPACES, "", FEDERATION_NS) is None:
                store.create(NAMESPACES, "", {"metadata": {"name": FEDERATION_NS}})
            host_name = config["multicluster"]["hostClusterName"]
            if store.peek(CLUSTERS, "", host_name) is None:
                store.create(
                    CLUSTERS,
                    "",
                    {
                        "metadata": {
                            "name": host_name,
                            "labels": {
                                "cluster-role.kubesphere.io/host": "",
                                "kubesphere.io/managed": "true",
                            },
                        },
                        "spec": {
                            "joinFederation": True,
                            "enable": True,
                            "provider": "kubesphere",
                            "connection": {"type": "direct"},
                        },
                    },
                )
        else:
            status.pop("multicluster", None)
        fresh = store.peek(CLUSTERCONFIGURATIONS, namespace, name)
        if fresh is not None and fresh.get("status") != status:
            updated = copy.deepcopy(fresh)
            updated["status"] = status
            store.update(CLUSTERCONFIGURATIONS, namespace, name, updated)

    def _system_workspace(self, cluster: SimCluster) -> None:
        store = cluster.store
        if store.peek(WORKSPACETEMPLATES, "", "system-workspace") is None:
            store.create(
                WORKSPACETEMPLATES,
                "",
                {
                    "metadata": {"name": "system-workspace"},
                    "spec": {"template": {"spec": {"manager": "admin"}}},
                },
            )
        for ns in SYSTEM_NAMESPACES:
            obj = store.peek(NAMESPACES, "", ns)
            if obj is not None and "kubesphere.io/workspace" not in (meta(obj).get("labels") or {}):
                new = copy.deepcopy(obj)
                new["metadata"].setdefault("labels", {})["kubesphere.io/workspace"] = (
                    "system-workspace"
                )
                store.update(NAMESPACES, "", ns, new)
