"""A kubeconfig read the way client-go reads one from bytes inside a KubeSphere pod.

ks-controller-manager (`cluster_controller.go` syncCluster, `cluster_webhook.go` Handle) and
ks-apiserver (`pkg/kapis/cluster/v1alpha1/handler.go` validateCluster via
`k8sutil.LoadKubeConfigFromBytes`) build their member client with client-go v0.26.1's
`clientcmd.RESTConfigFromKubeConfig` → `DirectClientConfig.ClientConfig()`: `ConfirmUsable`
validation (`tools/clientcmd/validation.go`), then token/tokenFile/exec/auth-provider merged into a
`rest.Config`. What exists in the bot's shell does not exist in the pod, so every file path and
exec binary is missing there; the messages are client-go's so the conditions and answers built
from them read as upstream's.

Deliberate deviation: client-go reads user credentials only for TLS servers
(`restclient.IsConfigTransportTLS`); the simulator serves plain http on loopback as a stand-in for
https, so credentials are read for every server.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import yaml

from k8s.sim import yamltext

# files that do exist inside a KubeSphere pod: its own service-account mount
POD_SA_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
POD_FILES = {POD_SA_TOKEN, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"}
EXEC_MODES = {"Never", "IfAvailable", "Always"}
# client-go plugin/pkg/client/auth/exec/exec.go installHintVerboseHelp
INSTALL_HINT = (
    "\n\nIt looks like you are trying to use a client-go credential plugin that is not installed."
    "\n\nTo learn more about this feature, consult the documentation available at:"
    "\n      https://kubernetes.io/docs/reference/access-authn-authz/authentication/"
    "#client-go-credential-plugins"
)


class ConfigError(Exception):
    """RESTConfigFromKubeConfig (or a client built from its result) failed: no request is made."""


@dataclass
class RestConfig:
    """The parts of client-go's rest.Config the simulator acts on."""

    host: str
    token: str | None = None
    token_file: str | None = None  # read from the pod's filesystem by the caller
    exec_command: str | None = None
    exec_install_hint: str = ""
    auth_provider: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def credential_error(self) -> str | None:
        """The error client-go's exec round tripper reports before sending anything."""
        if self.exec_command is None:
            return None
        cmd = self.exec_command
        if "/" in cmd:  # os/exec skips LookPath for paths: a fork/exec PathError instead
            return f"getting credentials: exec: fork/exec {cmd}: no such file or directory"
        hint = INSTALL_HINT + (f"\n\n{self.exec_install_hint}" if self.exec_install_hint else "")
        return f"getting credentials: exec: executable {cmd} not found{hint}"

    def client_error(self) -> str | None:
        """kubernetes.NewForConfig / rest.TransportFor: an unregistered auth provider.

        KubeSphere 3.4.1 imports no `client-go/plugin/pkg/client/auth/...` package, so no
        provider is registered (`rest/plugin.go` GetAuthProvider)."""
        if self.auth_provider is None:
            return None
        return f'no Auth Provider found for name "{self.auth_provider}"'


def decode(raw: str | bytes) -> bytes:
    """`spec.connection.kubeconfig` is `[]byte` in Go: base64 in JSON."""
    try:
        return base64.b64decode(raw, validate=True)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"illegal base64 data: {e}") from e


def _named(items: Any, key: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            value = item.get(key)
            out[item["name"]] = value if isinstance(value, dict) else {}
    return out


def _aggregate(errs: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message, or `[a, b]` with duplicates dropped."""
    seen = list(dict.fromkeys(errs))
    return seen[0] if len(seen) == 1 else "[" + ", ".join(seen) + "]"


def _missing(path: str) -> str:
    return f"open {path}: no such file or directory"


def load(data: bytes) -> RestConfig:
    """clientcmd.RESTConfigFromKubeConfig(data) as run inside a KubeSphere pod."""
    try:
        config = yamltext.parse(data) if data.strip() else {}
    except yaml.YAMLError as e:
        raise ConfigError(f"error converting YAML to JSON: {e}") from e
    if not isinstance(config, dict):
        raise ConfigError("couldn't get version/kind; json parse error")
    contexts = _named(config.get("contexts"), "context")
    clusters = _named(config.get("clusters"), "cluster")
    users = _named(config.get("users"), "user")
    current = str(config.get("current-context") or "")
    errs: list[str] = []
    if current and current not in contexts:
        errs.append(f"context was not found for specified context: {current}")
    ctx = contexts.get(current, {})
    user_name = str(ctx.get("user") or "")
    cluster_name = str(ctx.get("cluster") or "")
    user = users.get(user_name, {})
    cluster = clusters.get(cluster_name, {})
    errs += _validate_user(user_name, user)
    errs += _validate_cluster(cluster_name, cluster)
    if errs == ["cluster has no server defined"]:
        errs = [
            "no configuration has been provided, try setting KUBERNETES_MASTER environment variable"
        ]
    if errs:
        raise ConfigError(f"invalid configuration: {_aggregate(errs)}")
    rc = RestConfig(host=str(cluster["server"]).rstrip("/"), raw=config)
    if user.get("token"):
        rc.token = str(user["token"])
    elif user.get("tokenFile"):
        path = str(user["tokenFile"])
        if path not in POD_FILES:
            raise ConfigError(_missing(path))
        rc.token_file = path
    if isinstance(user.get("exec"), dict):
        rc.exec_command = str(user["exec"].get("command"))
        rc.exec_install_hint = str(user["exec"].get("installHint") or "")
    if isinstance(user.get("auth-provider"), dict):
        rc.auth_provider = str(user["auth-provider"].get("name") or "")
    return rc


def _validate_cluster(name: str, cluster: dict[str, Any]) -> list[str]:
    if not cluster:
        return ["cluster has no server defined"]
    errs: list[str] = []
    if not cluster.get("server"):
        errs.append(
            f'no server found for cluster "{name}"'
            if name
            else "default cluster has no server defined"
        )
    ca = cluster.get("certificate-authority")
    if ca and cluster.get("certificate-authority-data"):
        errs.append(
            f"certificate-authority-data and certificate-authority are both specified for {name}. "
            "certificate-authority-data will override."
        )
    if ca and ca not in POD_FILES:
        errs.append(f"unable to read certificate-authority {ca} for {name} due to {_missing(ca)}")
    return errs


def _validate_user(name: str, user: dict[str, Any]) -> list[str]:
    errs: list[str] = []
    methods = []
    if user.get("token"):
        methods.append("token")
    if user.get("username") or user.get("password"):
        methods.append("basicAuth")
    cert, key = user.get("client-certificate"), user.get("client-key")
    if cert or user.get("client-certificate-data"):
        if cert and user.get("client-certificate-data"):
            errs.append(
                f"client-cert-data and client-cert are both specified for {name}. "
                "client-cert-data will override."
            )
        if key and user.get("client-key-data"):
            errs.append(
                f"client-key-data and client-key are both specified for {name}; "
                "client-key-data will override"
            )
        if not key and not user.get("client-key-data"):
            errs.append(
                f"client-key-data or client-key must be specified for {name} to use the "
                "clientCert authentication method."
            )
        if cert and cert not in POD_FILES:
            errs.append(f"unable to read client-cert {cert} for {name} due to {_missing(cert)}")
        if key and key not in POD_FILES:
            errs.append(f"unable to read client-key {key} for {name} due to {_missing(key)}")
    ex = user.get("exec")
    if isinstance(ex, dict):
        if user.get("auth-provider") is not None:
            errs.append(
                f"authProvider cannot be provided in combination with an exec plugin for {name}"
            )
        if not ex.get("command"):
            errs.append(f"command must be specified for {name} to use exec authentication plugin")
        api_version = ex.get("apiVersion")
        if not api_version:
            errs.append(
                f"apiVersion must be specified for {name} to use exec authentication plugin"
            )
        mode = ex.get("interactiveMode") or ""
        # clientcmd/api/v1 SetDefaults_ExecConfig defaults only the beta/alpha versions
        if not mode and api_version in (
            "client.authentication.k8s.io/v1beta1",
            "client.authentication.k8s.io/v1alpha1",
        ):
            mode = "IfAvailable"
        if not mode:
            errs.append(
                f"interactiveMode must be specified for {name} to use exec authentication plugin"
            )
        elif mode not in EXEC_MODES:
            errs.append(f'invalid interactiveMode for {name}: "{mode}"')
    if len(methods) > 1:
        errs.append(
            f"more than one authentication method found for {name}; found "
            f"[{' '.join(methods)}], only one is allowed"
        )
    return errs
