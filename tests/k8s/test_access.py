"""Checks `k8s.access`, `k8s.errors` and `k8s.retry` against the simulator over real HTTP with the
official client (never a patched one).

Checked here: the registry (contexts as clusters, KUBECONFIG lists, in-cluster config, unknown
names); translation of 404/409/422/403/401 Status answers into NotFound, AlreadyExists, Conflict,
Invalid and Forbidden with the server's reason and a human message; a cluster that is down is
Unreachable at once; 500s and dropped connections on reads are retried with backoff, 429 waits
for Retry-After, a read timeout is Transient; a plain create is not repeated after a 500 (but is
when idempotent, and an AlreadyExists after a retry is flagged); merge patches and uid
preconditions; paging over 1,200 objects; no credential ever appears in an error message; and
the retry policy's arithmetic with a fake clock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import urllib3.exceptions
import yaml
from kubernetes import client as k8s_client
from kubernetes.client import V1ConfigMap, V1Namespace
from kubernetes.client.exceptions import ApiException
from kubernetes.config import incluster_config
from simclients import model
from urllib3 import HTTPConnectionPool
from urllib3.connection import HTTPConnection

from k8s.access.transport import ClientSettings
from k8s.errors import (
    AlreadyExists,
    ClusterError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Transient,
    UnknownCluster,
    Unreachable,
    translate,
)
from k8s.kinds import USERS, WORKSPACE_TEMPLATES
from k8s.registry import ClusterRegistry
from k8s.retry import Mode, Retrier, RetryPolicy

CLUSTERS = ["host-a", "host-b", "member-a", "member-b"]


class RecordingSleep:
    """A real sleep that remembers what it was asked for."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(seconds)


def registry_for(kubeconfig: Path, sleep: Any = time.sleep, **settings: Any) -> ClusterRegistry:
    policy = settings.pop("policy", RetryPolicy())
    return ClusterRegistry.from_kubeconfig(
        kubeconfig,
        settings=ClientSettings(retrier=Retrier(policy=policy, sleep=sleep), **settings),
    )


@pytest.fixture(scope="module")
def registry(demo_world: Any, kubeconfig_path: Path) -> Iterator[ClusterRegistry]:
    with ClusterRegistry.from_kubeconfig(kubeconfig_path) as reg:
        yield reg


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def fresh_registry(
    fresh_world: Any, fresh_kubeconfig: Path, sleeps: RecordingSleep
) -> Iterator[ClusterRegistry]:
    with registry_for(fresh_kubeconfig, sleep=sleeps) as reg:
        yield reg


def requests_to(world: Any, cluster: str, method: str, path: str) -> list[Any]:
    """The simulator's log of matching requests. It records a request just after answering
    it, so the log is read until it stops growing."""
    seen, deadline = -1, time.monotonic() + 2.0
    while True:
        found = [
            r for r in world.clusters[cluster].requests if (r.method, r.path) == (method, path)
        ]
        if len(found) == seen or time.monotonic() > deadline:
            return found
        seen = len(found)
        time.sleep(0.05)


# ---- the registry ---------------------------------------------------------------------------


def test_every_context_is_a_cluster(registry: ClusterRegistry, demo_world: Any) -> None:
    assert registry.names() == CLUSTERS
    for name in CLUSTERS:
        assert registry.client(name).configuration.host == demo_world.clusters[name].url
        assert registry.api(name).name == name
        assert registry.client(name).configuration.retries is False  # we retry ourselves


def test_unknown_cluster_lists_the_known_ones(registry: ClusterRegistry) -> None:
    with pytest.raises(UnknownCluster) as caught:
        registry.api("member-z")
    assert isinstance(caught.value, NotFound)
    assert str(caught.value) == (
        "unknown cluster 'member-z'; known clusters: host-a, host-b, member-a, member-b"
    )


def test_kubeconfig_list_merges_files(demo_world: Any, tmp_path: Path) -> None:
    first = tmp_path / "a.yaml"
    second = tmp_path / "b.yaml"
    first.write_text(yaml.safe_dump(demo_world.kubeconfig(["host-a", "member-a"])))
    second.write_text(yaml.safe_dump(demo_world.kubeconfig(["member-b"])))
    with ClusterRegistry.from_kubeconfig([first, second]) as reg:
        assert reg.names() == ["host-a", "member-a", "member-b"]
        assert reg.api("member-b").get_namespace("qa-env")["metadata"]["name"] == "qa-env"
    with ClusterRegistry.from_kubeconfig(f"{first}:{second}") as reg:
        assert reg.names() == ["host-a", "member-a", "member-b"]


def test_in_cluster_config_is_one_more_cluster(
    kubeconfig_path: Path, demo_world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, cert = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("in-cluster-token")
    cert.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(cert))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with ClusterRegistry.from_kubeconfig(kubeconfig_path, in_cluster="in-cluster") as reg:
        assert reg.names() == sorted([*CLUSTERS, "in-cluster"])
        configuration = reg.client("in-cluster").configuration
        assert configuration.host == "https://10.96.0.1:443"
        assert configuration.retries is False
    with ClusterRegistry.from_kubeconfig(None, in_cluster="here") as reg:
        assert reg.names() == ["here"]
    with pytest.raises(ValueError, match="also a kubeconfig context"):
        ClusterRegistry.from_kubeconfig(kubeconfig_path, in_cluster="member-a")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    with pytest.raises(ClusterError, match="no in-cluster service account"):
        ClusterRegistry.from_kubeconfig(None, in_cluster="here")


def test_missing_kubeconfig_is_a_cluster_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="cannot read the kubeconfig"):
        ClusterRegistry.from_kubeconfig(tmp_path / "nope")


def test_a_registry_that_fails_closes_the_clients_it_had_built(
    demo_world: Any, kubeconfig_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from k8s.registry import _close

    closed: list[str] = []

    def close(api_client: k8s_client.ApiClient) -> None:
        closed.append(api_client.configuration.host)
        _close(api_client)

    monkeypatch.setattr("k8s.registry._close", close)
    with pytest.raises(ValueError, match="also a kubeconfig context"):
        ClusterRegistry.from_kubeconfig(kubeconfig_path, in_cluster="member-a")
    assert sorted(closed) == sorted(demo_world.clusters[name].url for name in CLUSTERS)


# ---- reads and error translation ------------------------------------------------------------


def test_reads_return_the_servers_json(registry: ClusterRegistry, demo_world: Any) -> None:
    api = registry.api("member-a")
    assert api.version()["gitVersion"] == "v1.26.7"
    assert api.get_namespace("kube-system")["metadata"]["uid"] == (
        demo_world.clusters["member-a"].kube_system_uid
    )
    names = {ns["metadata"]["name"] for ns in api.list_namespaces("kubesphere.io/workspace")}
    assert {"ns1", "ns2", "ns3", "kube-system"} <= names and "scratch" not in names
    assert api.count_nodes() == 4
    assert api.get_configmap("ns1", "app-settings")["data"] == {"LOG_LEVEL": "info"}
    groups = api.api_groups()
    assert groups["tenant.kubesphere.io"] == ("v1alpha2", "v1alpha1") or set(
        groups["tenant.kubesphere.io"]
    ) == {"v1alpha1", "v1alpha2"}
    answer = api.proxy_get("kubesphere-system", "ks-apiserver:80", "kapis/version")
    assert yaml.safe_load(answer)["gitVersion"] == "v3.4.1"
    templates = registry.api("host-a").list_custom(WORKSPACE_TEMPLATES)
    assert {"team-x", "team-y"} <= {t["metadata"]["name"] for t in templates}


def test_not_found(registry: ClusterRegistry) -> None:
    with pytest.raises(NotFound) as caught:
        registry.api("member-a").get_namespace("ns9")
    err = caught.value
    assert str(err) == 'member-a: namespaces "ns9" not found'
    assert (err.cluster, err.status, err.reason) == ("member-a", 404, "NotFound")
    assert isinstance(err.__cause__, ApiException)


def test_absent_custom_type_is_not_found(registry: ClusterRegistry) -> None:
    from k8s.kinds import INSTALL_PLANS

    with pytest.raises(NotFound, match="could not find the requested resource"):
        registry.api("member-a").list_custom(INSTALL_PLANS)


def test_already_exists_is_a_conflict(registry: ClusterRegistry) -> None:
    with pytest.raises(AlreadyExists) as caught:
        registry.api("host-a").create_custom(USERS, {"metadata": {"name": "admin"}})
    err = caught.value
    assert isinstance(err, Conflict)
    assert str(err) == 'host-a: users.iam.kubesphere.io "admin" already exists'
    assert (err.status, err.reason, err.after_retry) == (409, "AlreadyExists", False)


def test_stale_resource_version_and_wrong_uid_are_conflicts(registry: ClusterRegistry) -> None:
    api = registry.api("member-a")
    with pytest.raises(Conflict) as caught:
        api.patch_namespace("ns1", {"metadata": {"resourceVersion": "1", "labels": {"x": "y"}}})
    assert not isinstance(caught.value, AlreadyExists)
    assert caught.value.reason == "Conflict"
    assert str(caught.value).startswith(
        'member-a: Operation cannot be fulfilled on namespaces "ns1"'
    )
    with pytest.raises(Conflict, match="Precondition failed: UID in precondition: not-the-uid"):
        api.delete_namespace("ns1", uid="not-the-uid")
    assert api.get_namespace("ns1")["metadata"].get("deletionTimestamp") is None


def test_invalid(registry: ClusterRegistry) -> None:
    with pytest.raises(Invalid) as caught:
        registry.api("host-a").create_custom(
            WORKSPACE_TEMPLATES, {"metadata": {"name": "Bad_Name"}}
        )
    err = caught.value
    assert (err.status, err.reason) == (422, "Invalid")
    assert str(err).startswith('host-a: WorkspaceTemplate "Bad_Name" is invalid: metadata.name')


def test_forbidden_and_unauthorized(fresh_world: Any, fresh_registry: ClusterRegistry) -> None:
    member = fresh_world.clusters["member-a"]
    message = 'namespaces is forbidden: User "bot" cannot list resource "namespaces"'
    member.add_fault({"path": "/api/v1/namespaces$", "status": 403, "message": message})
    with pytest.raises(Forbidden) as caught:
        fresh_registry.api("member-a").list_namespaces()
    assert str(caught.value) == f"member-a: {message}"
    assert (caught.value.status, caught.value.reason) == (403, "Forbidden")
    member.add_fault({"path": "/api/v1/nodes$", "status": 401, "message": "Unauthorized"})
    with pytest.raises(Forbidden) as caught:
        fresh_registry.api("member-a").count_nodes()
    assert (caught.value.status, caught.value.reason) == (401, "Unauthorized")
    assert len(requests_to(fresh_world, "member-a", "GET", "/api/v1/namespaces")) == 1  # no retry


def test_down_cluster_is_unreachable_at_once(
    fresh_world: Any, fresh_registry: ClusterRegistry
) -> None:
    api = fresh_registry.api("member-b")
    api.get_namespace("qa-env")  # a pooled connection exists now
    fresh_world.clusters["member-b"].down()
    started = time.monotonic()
    with pytest.raises(Unreachable) as caught:
        api.get_namespace("qa-env")
    assert time.monotonic() - started < 1.0
    assert str(caught.value) == "member-b is unreachable (connection refused)"
    assert caught.value.status is None
    fresh_world.clusters["member-b"].up()
    assert api.get_namespace("qa-env")["metadata"]["name"] == "qa-env"


# ---- retries --------------------------------------------------------------------------------


def test_two_500s_then_success_is_retried(
    fresh_world: Any, fresh_registry: ClusterRegistry, sleeps: RecordingSleep
) -> None:
    fresh_world.clusters["member-a"].add_fault(
        {"method": "GET", "path": "/api/v1/namespaces/ns1$", "status": 500, "times": 2}
    )
    assert fresh_registry.api("member-a").get_namespace("ns1")["metadata"]["name"] == "ns1"
    statuses = [
        r.status for r in requests_to(fresh_world, "member-a", "GET", "/api/v1/namespaces/ns1")
    ]
    assert statuses == [500, 500, 200]
    assert len(sleeps.calls) == 2
    assert 0.1 <= sleeps.calls[0] <= 0.2 and 0.2 <= sleeps.calls[1] <= 0.4  # base 0.2, factor 2


def test_500s_give_up_after_five_attempts(fresh_world: Any, fresh_kubeconfig: Path) -> None:
    fresh_world.clusters["member-a"].add_fault(
        {"method": "GET", "path": "/api/v1/namespaces/ns1$", "status": 503}
    )
    fast = RetryPolicy(base=0.01, max_delay=0.02)
    with registry_for(fresh_kubeconfig, policy=fast) as reg, pytest.raises(Transient) as caught:
        reg.api("member-a").get_namespace("ns1")
    assert str(caught.value) == "member-a: injected fault: HTTP 503"
    assert caught.value.after_retry is True
    assert len(requests_to(fresh_world, "member-a", "GET", "/api/v1/namespaces/ns1")) == 5


def test_429_waits_for_retry_after(
    fresh_world: Any, fresh_registry: ClusterRegistry, sleeps: RecordingSleep
) -> None:
    fresh_world.clusters["member-a"].add_fault(
        {
            "method": "GET",
            "path": "/api/v1/namespaces/ns2$",
            "status": 429,
            "retryAfter": 1,
            "times": 1,
        }
    )
    started = time.monotonic()
    assert fresh_registry.api("member-a").get_namespace("ns2")["metadata"]["name"] == "ns2"
    elapsed = time.monotonic() - started
    assert sleeps.calls == [1.0]
    assert elapsed >= 1.0
    first, second = requests_to(fresh_world, "member-a", "GET", "/api/v1/namespaces/ns2")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0


def test_dropped_connection_and_read_timeout_are_transient(
    fresh_world: Any, fresh_kubeconfig: Path
) -> None:
    member = fresh_world.clusters["member-a"]
    member.add_fault({"method": "GET", "path": "/api/v1/namespaces/ns1$", "drop": True, "times": 1})
    member.add_fault({"method": "GET", "path": "/api/v1/namespaces/ns2$", "delay": 1.0})
    once = RetryPolicy(attempts=1)
    with registry_for(fresh_kubeconfig, policy=once, timeout=(1.0, 0.3)) as reg:
        api = reg.api("member-a")
        with pytest.raises(Transient, match="member-a dropped the connection"):
            api.get_namespace("ns1")
        started = time.monotonic()
        with pytest.raises(Transient) as caught:
            api.get_namespace("ns2")
        assert str(caught.value) == "member-a did not answer in time (read timed out)"
        assert time.monotonic() - started < 0.9
    with registry_for(fresh_kubeconfig, policy=RetryPolicy(base=0.01)) as reg:
        member.add_fault(
            {"method": "GET", "path": "/api/v1/namespaces/ns3$", "drop": True, "times": 1}
        )
        assert reg.api("member-a").get_namespace("ns3")["metadata"]["name"] == "ns3"


def test_create_is_not_repeated_after_a_500_unless_idempotent(
    fresh_world: Any, fresh_registry: ClusterRegistry
) -> None:
    member = fresh_world.clusters["member-a"]
    users = "/apis/iam.kubesphere.io/v1alpha2/users"
    api = fresh_registry.api("member-a")
    member.add_fault({"method": "POST", "path": f"{users}$", "status": 500, "times": 1})
    with pytest.raises(Transient):
        api.create_custom(USERS, {"metadata": {"name": "dave"}})
    assert [r.status for r in requests_to(fresh_world, "member-a", "POST", users)] == [500]
    with pytest.raises(NotFound):
        api.get_custom(USERS, "dave")

    member.add_fault({"method": "POST", "path": f"{users}$", "status": 500, "times": 1})
    created = api.create_custom(USERS, {"metadata": {"name": "dave"}}, idempotent=True)
    assert created["metadata"]["name"] == "dave"
    assert [r.status for r in requests_to(fresh_world, "member-a", "POST", users)] == [
        500,
        500,
        201,
    ]

    # The first attempt landed but its answer was lost: the retry meets AlreadyExists, flagged.
    member.add_fault({"method": "POST", "path": f"{users}$", "status": 503, "times": 1})
    with pytest.raises(AlreadyExists) as caught:
        api.create_custom(USERS, {"metadata": {"name": "dave"}}, idempotent=True)
    assert caught.value.after_retry is True


def test_create_is_repeated_after_429(fresh_world: Any, fresh_kubeconfig: Path) -> None:
    """A write that is not safe to repeat (ONCE) is still repeated after 429: the server says
    it did not process the request."""
    member = fresh_world.clusters["member-a"]
    accounts = "/api/v1/namespaces/default/serviceaccounts"
    member.add_fault({"method": "POST", "path": f"{accounts}$", "status": 429, "times": 1})
    with registry_for(fresh_kubeconfig, policy=RetryPolicy(base=0.01)) as reg:
        api = reg.api("member-a")
        account = api.create_service_account("default", {"metadata": {"name": "ksmc-bot"}})
        assert account["metadata"]["name"] == "ksmc-bot"
        listed = api.list_service_accounts("default")
        assert [a["metadata"]["name"] for a in listed].count("ksmc-bot") == 1
    assert [r.status for r in requests_to(fresh_world, "member-a", "POST", accounts)] == [429, 201]


def test_merge_patch_and_guarded_delete(fresh_world: Any, fresh_registry: ClusterRegistry) -> None:
    api = fresh_registry.api("member-a")
    patched = api.patch_namespace(
        "scratch",
        {"metadata": {"labels": {"team": "x"}, "annotations": {"kubesphere.io/creator": None}}},
    )
    assert patched["metadata"]["labels"]["team"] == "x"
    assert "kubesphere.io/creator" not in (patched["metadata"].get("annotations") or {})
    patches = requests_to(fresh_world, "member-a", "PATCH", "/api/v1/namespaces/scratch")
    assert patches[-1].content_type == "application/merge-patch+json"
    template = fresh_registry.api("host-a").patch_custom(
        WORKSPACE_TEMPLATES, "team-y", {"metadata": {"annotations": {"note": "moving"}}}
    )
    assert template["metadata"]["annotations"]["note"] == "moving"
    uid = api.get_namespace("scratch")["metadata"]["uid"]
    deleted = api.delete_namespace("scratch", uid=uid)
    assert deleted["metadata"]["name"] == "scratch"


def test_paging_returns_every_item(fresh_world: Any, fresh_registry: ClusterRegistry) -> None:
    core = k8s_client.CoreV1Api(fresh_registry.client("member-a"))
    core.create_namespace(model(V1Namespace, {"metadata": {"name": "bulk"}}))

    def create(i: int) -> None:
        body = {"metadata": {"name": f"cm-{i:04d}"}, "data": {"i": str(i)}}
        core.create_namespaced_config_map("bulk", model(V1ConfigMap, body), _preload_content=False)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(create, range(1200)))
    listed = fresh_registry.api("member-a").list_configmaps("bulk")
    assert sorted(cm["metadata"]["name"] for cm in listed) == [f"cm-{i:04d}" for i in range(1200)]
    pages = requests_to(fresh_world, "member-a", "GET", "/api/v1/namespaces/bulk/configmaps")
    assert len(pages) == 3
    assert all("limit=500" in p.query for p in pages)
    assert ["continue=" in p.query for p in pages] == [False, True, True]


# ---- no secrets in messages -----------------------------------------------------------------


def test_errors_never_carry_credentials(fresh_world: Any, fresh_registry: ClusterRegistry) -> None:
    token = fresh_world.clusters["member-a"].token
    member = fresh_world.clusters["member-a"]
    api = fresh_registry.api("member-a")
    member.add_fault(
        {
            "path": "/api/v1/namespaces/ns2$",
            "status": 403,
            "message": f"token {token} is not allowed",
        }
    )
    member.add_fault(
        {
            "path": "/api/v1/namespaces/ns3$",
            "status": 401,
            "message": f"Authorization: Bearer {token}",
        }
    )
    attempts: list[Callable[[], object]] = [
        lambda: api.get_namespace("ns9"),
        lambda: api.get_namespace("ns2"),
        lambda: api.get_namespace("ns3"),
        lambda: api.create_custom(USERS, {"metadata": {"name": "admin"}}),
        lambda: api.create_custom(WORKSPACE_TEMPLATES, {"metadata": {"name": "Bad_Name"}}),
    ]
    errors: list[ClusterError] = []
    for attempt in attempts:
        with pytest.raises(ClusterError) as caught:
            attempt()
        errors.append(caught.value)
    member.down()
    with pytest.raises(Unreachable) as unreachable:
        api.list_namespaces()
    errors.append(unreachable.value)
    assert len(errors) == 6
    for err in errors:
        for text in (str(err), repr(err), err.message):
            assert token not in text
            assert "Bearer sim-" not in text


# ---- translate, for failures the simulator cannot produce -----------------------------------


@pytest.mark.parametrize(
    ("exc", "kind", "message"),
    [
        (
            ConnectionRefusedError(111, "Connection refused"),
            Unreachable,
            "c1 is unreachable (connection refused)",
        ),
        (
            urllib3.exceptions.NewConnectionError(
                HTTPConnection("c1"),
                "Failed to establish a new connection: [Errno 111] Connection refused",
            ),
            Unreachable,
            "c1 is unreachable (connection refused)",
        ),
        (
            urllib3.exceptions.MaxRetryError(
                HTTPConnectionPool("c1"),
                "/api",
                urllib3.exceptions.ConnectTimeoutError(None, "timed out"),
            ),
            Unreachable,
            "c1 is unreachable (connection timed out)",
        ),
        (
            urllib3.exceptions.ReadTimeoutError(
                HTTPConnectionPool("c1"), "/api", "Read timed out."
            ),
            Transient,
            "c1 did not answer in time (read timed out)",
        ),
        (TimeoutError("timed out"), Transient, "c1 did not answer in time (read timed out)"),
        (
            urllib3.exceptions.ProtocolError(
                "Connection aborted.", ConnectionResetError(104, "Connection reset by peer")
            ),
            Transient,
            "c1 dropped the connection (connection reset)",
        ),
        (
            RuntimeError("Bearer abc secret stuff"),
            ClusterError,
            "c1: unexpected error (RuntimeError)",
        ),
    ],
)
def test_translate_network_failures(exc: BaseException, kind: type, message: str) -> None:
    err = translate("c1", exc)
    assert type(err) is kind
    assert err.message == message


def test_translate_status_without_body_and_retry_after_from_details() -> None:
    bare = ApiException(status=502, reason="Bad Gateway")
    err = translate("c1", bare)
    assert isinstance(err, Transient) and err.message == "c1: HTTP 502 Bad Gateway"
    busy = ApiException(status=503, reason="Service Unavailable")
    busy.body = json.dumps(
        {"kind": "Status", "message": "busy", "details": {"retryAfterSeconds": 3}, "code": 503}
    )
    err = translate("c1", busy)
    assert isinstance(err, Transient) and (err.message, err.retry_after) == ("c1: busy", 3.0)
    long_value = "x" * 300
    echoed = ApiException(status=422, reason="Unprocessable Entity")
    message = f'Cluster "m" is invalid: spec.connection.kubeconfig: Invalid value: "{long_value}"'
    echoed.body = json.dumps({"kind": "Status", "message": message, "reason": "Invalid"})
    err = translate("c1", echoed)
    assert long_value not in err.message and "(300 characters)" in err.message


# ---- the retry policy, with a fake clock ----------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def failing(errors: list[ClusterError]) -> Any:
    def call() -> str:
        if errors:
            raise errors.pop(0)
        return "ok"

    return call


def tried(retrier: Retrier, call: Callable[[], str], mode: Mode) -> str:
    """`call()` in the loop every caller of `Retrier.attempts` writes."""
    for attempt in retrier.attempts(mode):
        with attempt:
            return call()
    raise AssertionError("attempts() never ends")


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy()
    assert [policy.backoff(n, 1.0) for n in range(1, 8)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    assert [policy.backoff(n, 0.0) for n in range(1, 4)] == [0.1, 0.2, 0.4]


def test_retrier_stops_at_attempts_and_deadline() -> None:
    fake = FakeTime()
    retrier = Retrier(RetryPolicy(), sleep=fake.sleep, clock=fake.clock, rand=lambda: 1.0)
    with pytest.raises(Transient):
        tried(retrier, failing([Transient("c", "boom")] * 9), Mode.READ)
    assert fake.slept == [0.2, 0.4, 0.8, 1.6]  # five attempts

    fake = FakeTime()
    short = Retrier(RetryPolicy(deadline=1.0), sleep=fake.sleep, clock=fake.clock, rand=lambda: 1.0)
    with pytest.raises(Transient):
        tried(short, failing([Transient("c", "boom")] * 9), Mode.READ)
    assert fake.slept == [0.2, 0.4]  # the next 0.8 s would pass the 1 s deadline

    fake = FakeTime()
    polite = Retrier(RetryPolicy(), sleep=fake.sleep, clock=fake.clock)
    errors: list[ClusterError] = [Transient("c", "slow down", status=429, retry_after=7.0)]
    assert tried(polite, failing(errors), Mode.READ) == "ok"
    assert fake.slept == [7.0]  # Retry-After wins over the (smaller) backoff


def test_retrier_respects_the_mode() -> None:
    fake = FakeTime()
    retrier = Retrier(RetryPolicy(), sleep=fake.sleep, clock=fake.clock)
    with pytest.raises(Transient):
        tried(retrier, failing([Transient("c", "boom", status=500)]), Mode.ONCE)
    assert tried(retrier, failing([Transient("c", "busy", status=429)]), Mode.ONCE) == "ok"
    assert tried(retrier, failing([Transient("c", "boom", status=500)]), Mode.IDEMPOTENT) == "ok"
    with pytest.raises(NotFound):
        tried(retrier, failing([NotFound("c", "gone")]), Mode.READ)
    assert len(fake.slept) == 2
