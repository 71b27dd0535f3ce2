"""Proves the simulator's HTTP control API (`/_sim/...`) injects the failures ksmc-bot must
survive, as a client sees them over the wire.

Checked here: a 500 fault for N requests then success; 429 with a `Retry-After` header and
`retryAfterSeconds`; a dropped connection (the client gets a connection error); a delay that
makes a short client timeout expire; method and path filters; listing and clearing faults;
`down` (connection refused, open watch streams end) and `up` again on the same port, also
addressed through another cluster's URL; `settle`; the request log (method, path, query,
content type, status); the control API's own errors; and no traceback when a client resets its
connection.
"""

from __future__ import annotations

import json
import socket
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, config
from kubernetes.client import V1ConfigMap, V1Secret
from kubernetes.client.exceptions import ApiException
from simclients import (
    Watch,
    close,
    error_body,
    model,
    new_client,
)

from k8s.sim import loader
from k8s.sim.world import World

A, B = "faulty", "bystander"


def control(world: World, method: str, path: str, body: Any = None, via: str = A) -> Any:
    """Call `/_sim/<path>` on cluster `via` over HTTP; returns (status, JSON payload)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{world.clusters[via].url}/_sim/{path}", data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sim-faults") / "kubeconfig"


@pytest.fixture(scope="module")
def world(kubeconfig: Path) -> Iterator[World]:
    w = loader.start_fresh([A, B], kubeconfig=kubeconfig, join_delay=0.05)
    yield w
    w.stop()
    assert w.controller_errors == []


@pytest.fixture(autouse=True)
def clean(world: World) -> Iterator[None]:
    yield
    for name in (A, B):
        if not world.clusters[name].is_up:
            control(world, "POST", f"clusters/{name}/up", via=B if name == A else A)
        control(world, "DELETE", "faults", via=name)


def make_client(kubeconfig: Path, retries: int | None = 0) -> client.ApiClient:
    """An official client for cluster A; `retries=0` turns urllib3's own retries off."""
    cfg = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]  # unannotated
        config_file=str(kubeconfig), context=A, client_configuration=cfg
    )
    cfg.retries = retries
    return client.ApiClient(cfg)


@pytest.fixture
def core(world: World, kubeconfig: Path) -> Iterator[client.CoreV1Api]:
    api = make_client(kubeconfig)
    yield client.CoreV1Api(api)
    close(api)


def test_500_for_n_requests_then_success(world: World, core: client.CoreV1Api) -> None:
    code, fault = control(
        world,
        "POST",
        "faults",
        {"method": "GET", "path": "^/api/v1/namespaces$", "status": 500, "times": 2},
    )
    assert code == 201 and fault["times"] == 2 and fault["hits"] == 0
    for _ in range(2):
        with pytest.raises(ApiException) as e:
            core.list_namespace()
        assert e.value.status == 500
        body = error_body(e.value)
        assert body["kind"] == "Status" and body["reason"] == "InternalError"
        assert body["message"] == "injected fault: HTTP 500"
    assert "default" in {n.metadata.name for n in core.list_namespace().items}
    _, listed = control(world, "GET", "faults")
    assert [f["hits"] for f in listed["faults"]] == [2]


def test_429_carries_retry_after(world: World, core: client.CoreV1Api) -> None:
    control(
        world,
        "POST",
        "faults",
        {"status": 429, "retryAfter": 3, "times": 1, "message": "slow down"},
    )
    with pytest.raises(ApiException) as e:
        core.read_namespace("default")
    assert e.value.status == 429
    assert e.value.headers["Retry-After"] == "3"
    body = error_body(e.value)
    assert body["reason"] == "TooManyRequests" and body["message"] == "slow down"
    assert body["details"]["retryAfterSeconds"] == 3
    assert core.read_namespace("default").metadata.name == "default"


def test_dropped_connection_is_a_connection_error(
    world: World, core: client.CoreV1Api, kubeconfig: Path
) -> None:
    control(world, "POST", "faults", {"path": "/namespaces/default$", "drop": True, "times": 1})
    with pytest.raises(urllib3.exceptions.HTTPError) as e:
        core.read_namespace("default")
    assert isinstance(e.value, urllib3.exceptions.MaxRetryError | urllib3.exceptions.ProtocolError)
    assert core.read_namespace("default").metadata.name == "default"

    # urllib3's default retries see the drop too, and retry the GET on a new connection
    retrying = make_client(kubeconfig, retries=None)
    try:
        control(world, "POST", "faults", {"path": "/namespaces/default$", "drop": True, "times": 1})
        assert client.CoreV1Api(retrying).read_namespace("default").metadata.name == "default"
    finally:
        close(retrying)
    _, listed = control(world, "GET", "faults")
    assert [f["hits"] for f in listed["faults"]] == [1, 1]


def test_a_client_resetting_its_connection_is_not_logged(
    world: World, capfd: pytest.CaptureFixture[str]
) -> None:
    """The bot's process ending (or its read timing out) resets connections the sim keeps
    alive: no traceback on the sim's stderr for that."""
    address = urllib3.util.parse_url(world.clusters[B].url)
    for _ in range(3):
        with socket.create_connection((address.host, address.port), timeout=10) as conn:
            conn.sendall(b"GET /version HTTP/1.1\r\nHost: sim\r\n\r\n")
            assert conn.recv(4096).startswith(b"HTTP/1.1 ")  # kept alive for the next request
            # close with a reset (RST) instead of FIN, as a killed process's sockets do
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    status, _ = control(world, "GET", "faults", via=B)  # the sim went on serving
    assert status == 200
    time.sleep(0.2)  # the handler threads' reads see the resets
    assert "Traceback" not in capfd.readouterr().err


def test_delay_makes_a_short_timeout_expire(world: World, core: client.CoreV1Api) -> None:
    control(world, "POST", "faults", {"delay": 1.0, "times": 1})
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.HTTPError) as e:
        core.read_namespace("default", _request_timeout=0.2)
    assert time.monotonic() - started < 0.9
    assert "timed out" in str(e.value).lower()
    time.sleep(0.9)  # let the delayed request finish on the server
    assert core.read_namespace("default", _request_timeout=2).metadata.name == "default"


def test_method_and_path_filters(world: World, core: client.CoreV1Api, kubeconfig: Path) -> None:
    control(world, "POST", "faults", {"method": "post", "path": "/configmaps$", "status": 503})
    assert core.list_namespaced_config_map("default").items == []
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(
            "default", model(V1ConfigMap, {"metadata": {"name": "blocked"}})
        )
    assert e.value.status == 503 and error_body(e.value)["reason"] == "ServiceUnavailable"
    core.create_namespaced_secret("default", model(V1Secret, {"metadata": {"name": "allowed"}}))
    assert core.read_namespaced_secret("allowed", "default").metadata.name == "allowed"
    # a fault on A leaves B alone
    other = client.CoreV1Api(new_client(kubeconfig, B))
    other.create_namespaced_config_map(
        "default", model(V1ConfigMap, {"metadata": {"name": "fine"}})
    )
    other.api_client.close()
    # faults without `times` stay until cleared
    with pytest.raises(ApiException):
        core.create_namespaced_config_map(
            "default", model(V1ConfigMap, {"metadata": {"name": "blocked"}})
        )
    assert control(world, "DELETE", "faults") == (200, {"faults": []})
    core.create_namespaced_config_map(
        "default", model(V1ConfigMap, {"metadata": {"name": "blocked"}})
    )


def test_down_refuses_connections_and_up_reopens_the_same_port(
    world: World, core: client.CoreV1Api
) -> None:
    url, port = world.clusters[A].url, world.clusters[A].port
    w = Watch()
    stream = w.stream(core.list_namespace, timeout_seconds=30)
    next(stream)  # the watch is open
    code, body = control(world, "POST", "down")
    assert code == 202 and body == {"name": A, "up": False}
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            break
        except OSError:
            pass  # accepted into the backlog just before the socket closed, then reset
        assert time.monotonic() < deadline, "port still open"
        time.sleep(0.02)
    with pytest.raises(urllib3.exceptions.MaxRetryError) as e:
        core.list_namespace()
    assert isinstance(e.value.reason, urllib3.exceptions.NewConnectionError)
    started = time.monotonic()
    list(stream)  # the open watch stream ends instead of hanging
    assert time.monotonic() - started < 5

    assert control(world, "GET", f"clusters/{A}/info", via=B)[1]["up"] is False
    code, body = control(world, "POST", f"clusters/{A}/up", via=B)
    assert (code, body) == (200, {"name": A, "up": True})
    assert world.clusters[A].url == url
    assert core.read_namespace("default").metadata.name == "default"
    info = control(world, "GET", "info")[1]
    assert info["up"] is True and info["url"] == url and info["kubeSystemUID"]


def test_request_log(world: World, core: client.CoreV1Api) -> None:
    assert control(world, "DELETE", "requests") == (200, {"requests": []})
    control(world, "DELETE", "requests", via=B)
    core.list_namespaced_config_map("default", label_selector="a=b")
    core.create_namespaced_config_map(
        "default", model(V1ConfigMap, {"metadata": {"name": "logged"}})
    )
    core.patch_namespaced_config_map(
        "logged", "default", {"data": {"k": "v"}}, _content_type="application/merge-patch+json"
    )
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("missing", "default")
    _, log = control(world, "GET", "requests")
    rows = [(r["method"], r["path"], r["contentType"], r["status"]) for r in log["requests"]]
    base = "/api/v1/namespaces/default/configmaps"
    assert rows == [
        ("GET", base, "", 200),
        ("POST", base, "", 201),  # the official client sends no Content-Type on create
        ("PATCH", f"{base}/logged", "application/merge-patch+json", 200),
        ("GET", f"{base}/missing", "", 404),
    ]
    assert log["requests"][0]["query"] == "labelSelector=a%3Db"
    assert all(isinstance(r["at"], float) for r in log["requests"])
    # the control API's own calls are not logged; B's log is B's own
    assert all(
        not r["path"].startswith("/_sim") for r in control(world, "GET", "requests")[1]["requests"]
    )
    assert all(r["path"] != base for r in control(world, "GET", "requests", via=B)[1]["requests"])


def test_injected_failures_are_logged(world: World, core: client.CoreV1Api) -> None:
    control(world, "DELETE", "requests")
    control(world, "POST", "faults", {"status": 500, "times": 1})
    with pytest.raises(ApiException):
        core.read_namespace("default")
    control(world, "POST", "faults", {"drop": True, "times": 1})
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.read_namespace("default")
    statuses = [r["status"] for r in control(world, "GET", "requests")[1]["requests"]]
    assert statuses == [500, 0]


def test_settle_and_control_errors(world: World) -> None:
    assert control(world, "GET", "settle?timeout=2") == (200, {"settled": True})
    assert control(world, "GET", "") == (200, {"clusters": sorted([A, B])})
    code, body = control(world, "GET", "clusters/nope/info")
    assert code == 404 and "nope" in body["error"]
    code, body = control(world, "POST", "explode")
    assert code == 404 and "unknown control action" in body["error"]
