"""Steps that prepare the new host's view of the member before anything irreversible runs: its
own credential on the member, and the host's own verdict (ks-apiserver's cluster validation)
that it can reach and accept the member with that credential."""

from __future__ import annotations

import base64

from k8s import credentials
from k8s.access import ClusterApi
from k8s.errors import Invalid
from k8s.plan import Step
from k8s.steps import StepContext, StepError, StepImpl, register

KS_NAMESPACE = "kubesphere-system"
KS_APISERVER = "ks-apiserver:80"
VALIDATION_PATH = "kapis/cluster.kubesphere.io/v1alpha1/clusters/validation"


def host_kubeconfig(ctx: StepContext, member: str, host: str) -> bytes:
    return credentials.kubeconfig(ctx.api(member), host, member, timeout=ctx.wait_timeout)


def validate_from_host(host: ClusterApi, member: str, kubeconfig: bytes) -> str | None:
    """Ask the host's ks-apiserver whether it would import `member` with this kubeconfig (the
    console's import check, `pkg/kapis/cluster/v1alpha1/handler.go`); None when it agrees,
    otherwise what the host said."""
    body = {
        "apiVersion": "cluster.kubesphere.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": member},
        "spec": {
            "joinFederation": True,
            "provider": "kubesphere",
            "connection": {"type": "direct", "kubeconfig": base64.b64encode(kubeconfig).decode()},
        },
    }
    try:
        host.proxy_post(KS_NAMESPACE, KS_APISERVER, VALIDATION_PATH, body)
    except Invalid as e:
        # ks-apiserver refuses with 400 and its reason as text (k8s/errors.py keeps it); any
        # other failure is about reaching the host, not its verdict, and is raised as such
        return e.message.removeprefix(f"{host.name}: ")
    return None


JWT_MISMATCH = "Jwt is not equal"  # ks-apiserver's words when the jwtSecrets differ
# how a member refuses a request without credentials: 401, or 403 for system:anonymous
# where anonymous access is on (kube-apiserver's default)
REFUSED_ANONYMOUS = ("unauthorized", 'user "system:anonymous"')


def judge(verdict: str | None, *, full: bool, sync_jwt: bool) -> str | None:
    """What is left of the host's verdict once expected answers are set aside: a refusal of the
    anonymous probe (it proves the host reached the member) and, when sync-jwt will align the
    secrets before the join, the jwtSecret mismatch."""
    if verdict is None:
        return None
    if not full and any(word in verdict.lower() for word in REFUSED_ANONYMOUS):
        return None
    if sync_jwt and JWT_MISMATCH in verdict:
        return None
    return verdict


@register
class PrepareCredential(StepImpl):
    kind = "prepare_credential"

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        return credentials.exists(ctx.api(step.cluster), str(step.params["host"]))

    def apply(self, ctx: StepContext, step: Step) -> str:
        host = str(step.params["host"])
        credentials.ensure(ctx.api(step.cluster), host)
        try:
            host_kubeconfig(ctx, step.cluster, host)  # waits for the token to be issued
        except credentials.CredentialError as e:
            raise StepError(str(e)) from e
        return (
            f"service account {credentials.NAMESPACE}/{credentials.account_name(host)} with its "
            f"token is ready on {step.cluster}"
        )

    def hint(self, step: Step) -> str:
        return (
            f"on {step.cluster}: kubectl -n {credentials.NAMESPACE} get sa,secret "
            f"{credentials.account_name(str(step.params['host']))}, then Retry"
        )


@register
class ValidateFromHost(StepImpl):
    kind = "validate_from_host"

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        return False  # a verdict is only worth something at the moment it is given

    def apply(self, ctx: StepContext, step: Step) -> str:
        member = str(step.params["member"])
        try:
            kubeconfig = host_kubeconfig(ctx, member, step.cluster)
        except credentials.CredentialError as e:
            raise StepError(str(e)) from e
        verdict = judge(
            validate_from_host(ctx.api(step.cluster), member, kubeconfig),
            full=True,
            sync_jwt=bool(step.params.get("jwt_pending")),
        )
        del kubeconfig
        if verdict is not None:
            raise StepError(f"{step.cluster} cannot take {member}: {verdict}")
        return f"{step.cluster} can reach and validate {member} with its own credential"

    def hint(self, step: Step) -> str:
        return (
            f"{step.cluster} must reach {step.params['member']}'s API server from where "
            "ks-apiserver runs; fix what it reported, then Retry"
        )
