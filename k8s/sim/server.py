"""The HTTP face of one simulated cluster: Kubernetes REST paths, watch streams and `/_sim/`.

Each cluster listens on its own loopback port, so taking it down is a closed port, as it is
for a real cluster that is gone. Handlers run on threads and hold the world lock while they
touch the store.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from k8s.sim import auth, discovery, errors, protobuf
from k8s.sim.listing import list_objects, table_for, watch_events
from k8s.sim.resources import ResourceType

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster

Obj = dict[str, Any]

_VERBS = {"GET": "get", "PUT": "update", "PATCH": "patch", "POST": "create", "DELETE": "delete"}
_SERVICE_PROXY = re.compile(
    r"^/api/v1/namespaces/(?P<ns>[^/]+)/services/(?P<svc>[^/]+)/proxy(?P<rest>/.*)?$"
)


@dataclass
class Fault:
    """An injected failure: matching requests get `status` (or a dropped connection)."""

    id: int
    method: str = "*"
    path: str = ".*"
    status: int | None = None
    drop: bool = False
    delay: float = 0.0
    times: int | None = None  # None: until cleared
    retry_after: int | None = None
    message: str = ""
    hits: int = 0
    pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pattern = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return (self.method in ("*", method)) and bool(self.pattern.search(path))

    def public(self) -> Obj:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "drop": self.drop,
            "delay": self.delay,
            "times": self.times,
            "retryAfter": self.retry_after,
            "hits": self.hits,
        }


class _DropConnection(Exception):
    pass


_TLS: list[ssl.SSLContext] = []
_TLS_LOCK = threading.Lock()


def tls_context() -> ssl.SSLContext:
    """A self-signed server context for 127.0.0.1, made once per process with the openssl CLI.

    kubectl (client-go) sends a kubeconfig's token only to https servers
    (`rest.IsConfigTransportTLS`), so each port also speaks TLS; clients that want it use
    `https://` with `insecure-skip-tls-verify`."""
    with _TLS_LOCK:
        if not _TLS:
            folder = Path(tempfile.mkdtemp(prefix="ksmc-sim-tls-"))
            key, cert = folder / "key.pem", folder / "cert.pem"
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-days", "365", "-subj",
                 "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                 "-keyout", str(key), "-out", str(cert)],
                check=True, capture_output=True, timeout=30,
            )  # fmt: skip
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            _TLS.append(ctx)
        return _TLS[0]


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, cluster: SimCluster, port: int) -> None:
        self.cluster = cluster
        super().__init__(("127.0.0.1", port), Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Plain http, or TLS when the first byte is a handshake record (0x16): one port serves
        both, so the bot's http kubeconfig and kubectl's https one reach the same cluster."""
        conn = request
        try:
            request.settimeout(30)
            first = request.recv(1, socket.MSG_PEEK)
            request.settimeout(None)
            if first == b"\x16":
                conn = tls_context().wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError, subprocess.SubprocessError):
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            if conn is not request:
                conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (a read timeout, a process that ended) is not the server's
        error, and an API server logs nothing for it: socketserver printed a traceback each
        time, which buried what a failing run printed. Anything else, as socketserver does."""
        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body are separate writes: with Nagle on, each response would wait for the
    # client's delayed ACK (~40 ms per request on a keep-alive connection)
    disable_nagle_algorithm = True
    server: SimHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log under /_sim/requests replaces stderr noise

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ---- plumbing ----------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        cluster = self.server.cluster
        url = urlsplit(self.path)
        path = unquote(url.path).rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self._pending_log: tuple[str, str, str, str] | None = None
        if path.startswith("/_sim"):  # the test harness's own API: never authenticated
            try:
                code, payload = cluster.world.control(cluster, method, path, query, body)
            except (ValueError, TypeError, AttributeError, KeyError) as e:
                # malformed control input is the caller's mistake, never a 500
                code, payload = 400, {"error": f"bad control request: {e}"}
            self._send_json(code, payload)
            return
        # recorded before the answer is written, so a client that got its answer finds it logged
        self._pending_log = (method, path, url.query, self.headers.get("Content-Type", ""))
        if not cluster.is_up:
            self.close_connection = True
            return
        try:
            watching = query.get("watch") in ("true", "1")
            auth.check(cluster, self.headers.get("Authorization"), method, path, watching)
        except errors.ApiError as e:
            self._send_json(e.code, e.status())
            return
        if method == "GET" and path == "/openapi/v2":
            self._send_bytes(200, discovery.openapi_v2_protobuf(), discovery.OPENAPI_V2_PB)
            return
        status = 500
        try:
            try:
                cluster.apply_faults(method, path, self)
                if method == "GET" and query.get("watch") in ("true", "1"):
                    status = 200
                    self._watch(path, query)
                    return
                status, payload, extra = self._route(method, path, query, body)
                if isinstance(payload, bytes):  # health checks answer plain text
                    self._send_bytes(status, payload, "text/plain; charset=utf-8")
                else:
                    self._send_json(status, payload, extra)
            except errors.ApiError as e:
                status = e.code
                headers = {}
                if e.code == 429 and e.details and "retryAfterSeconds" in e.details:
                    headers["Retry-After"] = str(e.details["retryAfterSeconds"])
                self._send_json(e.code, e.status(), headers)
        except _DropConnection:
            status = 0
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self._log(status)

    def _log(self, status: int) -> None:
        pending = getattr(self, "_pending_log", None)
        if pending is not None:
            self._pending_log = None
            method, path, query, ctype = pending
            self.server.cluster.log_request(method, path, query, ctype, status)

    def _send_json(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode()
        self._log(code)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _send_bytes(self, code: int, data: bytes, content_type: str) -> None:
        self._log(code)
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def drop(self) -> None:
        raise _DropConnection

    # ---- routing -----------------------------------------------------------------------------

    def _route(
        self, method: str, path: str, query: dict[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        cluster = self.server.cluster
        reg = cluster.registry
        if method == "GET":
            fixed = self._fixed_get(path)
            if fixed is not None:
                return 200, fixed, {}
        m = _SERVICE_PROXY.match(path)
        if m:
            code, payload = cluster.service_proxy(m["ns"], m["svc"], m["rest"] or "/", method, body)
            return code, payload, {}
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise errors.path_not_found()
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        rt = reg.lookup(group, version, rest[0])
        if rt is None or len(rest) > 3:
            raise errors.path_not_found()
        if namespace and not rt.namespaced:
            raise errors.path_not_found()
        name = rest[1] if len(rest) >= 2 else None
        sub = rest[2] if len(rest) == 3 else None
        if sub is not None:
            verbs = discovery.subresource_verbs(reg, rt, sub)
            if verbs is None:  # not served, e.g. clusters/status: the CRD has no subresources
                raise errors.path_not_found()
            if _VERBS.get(method) not in verbs:
                raise errors.method_not_allowed()
        return self._resource(rt, method, namespace, name, query, body, sub)

    def _fixed_get(self, path: str) -> Any:
        cluster = self.server.cluster
        reg = cluster.registry
        if path == "/version":
            return discovery.version_info(cluster.kubernetes_version)
        if path in ("/healthz", "/readyz", "/livez"):
            return b"ok"
        if path == "/api":
            return discovery.api_versions()
        if path == "/apis":
            return discovery.group_list(reg)
        if path == "/openapi/v3":
            return discovery.openapi_v3_root(reg)
        if path.startswith("/openapi/v3/"):
            doc = discovery.openapi_v3_group_version(reg, path[len("/openapi/v3/") :])
            if doc is None:
                raise errors.path_not_found()
            return doc
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            found = discovery.resource_list(reg, "", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            found = discovery.group(reg, parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            found = discovery.resource_list(reg, parts[1], parts[2])
        else:
            return None
        if found is None:
            raise errors.path_not_found()
        return found

    def _resource(
        self,
        rt: ResourceType,
        method: str,
        namespace: str,
        name: str | None,
        query: dict[str, str],
        body: bytes,
        sub: str | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        cluster = self.server.cluster
        store = cluster.store
        dry_run = query.get("dryRun") == "All"
        with cluster.world.lock:
            if name is None:
                if method == "GET":
                    listed = list_objects(store, rt, namespace or None, query)
                    return 200, self._maybe_table(rt, listed), {}
                if method == "POST":
                    if rt.namespaced and not namespace:
                        raise errors.method_not_allowed()
                    return 201, store.create(rt, namespace, self._object(body), dry_run), {}
                if method == "DELETE":
                    return 200, self._delete_collection(rt, namespace, query, body), {}
                raise errors.method_not_allowed()
            if rt.namespaced and not namespace:
                raise errors.path_not_found()
            if method == "GET":
                return 200, self._maybe_table(rt, store.get(rt, namespace, name)), {}
            if method == "PUT":
                obj = self._object(body)
                return 200, store.update(rt, namespace, name, obj, dry_run, sub), {}
            if method == "PATCH":
                ctype = self.headers.get("Content-Type", "")
                return 200, store.patch(rt, namespace, name, body, ctype, dry_run, sub), {}
            if method == "DELETE":
                opts = _json(body) if body.strip() else {}
                for k in ("propagationPolicy",):
                    if k in query:
                        opts[k] = query[k]
                if "orphanDependents" in query:
                    opts["orphanDependents"] = query["orphanDependents"] == "true"
                return 200, store.delete(rt, namespace, name, opts, dry_run), {}
        raise errors.method_not_allowed()

    def _object(self, body: bytes) -> Obj:
        """A request's object: JSON, or protobuf as kubectl's typed clients send built-in kinds."""
        if self.headers.get("Content-Type", "").startswith(protobuf.MEDIA_TYPE):
            try:
                return protobuf.decode(body)
            except protobuf.ProtobufError as e:
                message = f"the body of the request could not be decoded: {e}"
                raise errors.ApiError(415, "UnsupportedMediaType", message) from e
        return _json(body)

    def _delete_collection(
        self, rt: ResourceType, namespace: str, query: dict[str, str], body: bytes
    ) -> Obj:
        store = self.server.cluster.store
        opts = _json(body) if body.strip() else {}
        listed = list_objects(store, rt, namespace or None, {**query, "limit": "0"})
        for item in listed["items"]:
            md = item["metadata"]
            if store.peek(rt, md.get("namespace", ""), md["name"]) is not None:
                store.delete(rt, md.get("namespace", ""), md["name"], opts)
        return listed

    def _maybe_table(self, rt: ResourceType, payload: Obj) -> Obj:
        if "as=Table" in self.headers.get("Accept", ""):
            return table_for(rt, payload)
        return payload

    # ---- watch -------------------------------------------------------------------------------

    def _watch(self, path: str, query: dict[str, str]) -> None:
        cluster = self.server.cluster
        parts = path.strip("/").split("/")
        group, version, rest = (
            ("", parts[1], parts[2:])
            if parts[0] == "api"
            else (
                parts[1],
                parts[2],
                parts[3:],
            )
        )
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        rt = cluster.registry.lookup(group, version, rest[0]) if rest else None
        if rt is None:
            raise errors.path_not_found()
        if len(rest) == 2:  # GET .../name?watch=true is a watch on one object
            query = {**query, "fieldSelector": f"metadata.name={rest[1]}"}
        as_table = "as=Table" in self.headers.get("Accept", "")
        timeout = float(query.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        self._log(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        for event in watch_events(cluster, rt, namespace or None, query, deadline):
            if as_table and event["type"] != "ERROR":
                event = {**event, "object": table_for(rt, event["object"])}
            self._chunk(json.dumps(event, separators=(",", ":")).encode() + b"\n")
        self._chunk(b"")
        self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _json(body: bytes) -> Obj:
    try:
        value = json.loads(body or b"{}")
    except ValueError as e:
        raise errors.bad_request(f"the body of the request could not be decoded: {e}") from e
    if not isinstance(value, dict):
        raise errors.bad_request("the body of the request must be a JSON object")
    return value


def serve(cluster: SimCluster, port: int) -> tuple[SimHTTPServer, threading.Thread]:
    httpd = SimHTTPServer(cluster, port)
    thread = threading.Thread(
        target=httpd.serve_forever,
        kwargs={"poll_interval": 0.05},
        daemon=True,
        name=f"sim-{cluster.name}",
    )
    thread.start()
    return httpd, thread
