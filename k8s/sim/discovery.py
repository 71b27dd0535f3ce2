"""Discovery and OpenAPI documents, shaped so that kubectl and the official client need no flags.

kubectl validates `create -f` by asking OpenAPI v3 whether the server supports server-side field
validation; answering "yes" lets the simulator skip client-side schema validation honestly.
"""

from __future__ import annotations

import hashlib
from typing import Any

from k8s.sim.resources import Registry, ResourceType

OPENAPI_V2_PB = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _resource(rt: ResourceType) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        out["shortNames"] = list(rt.short_names)
    if rt.categories:
        out["categories"] = list(rt.categories)
    if rt.custom:
        out["storageVersionHash"] = hashlib.sha256(rt.key.encode()).hexdigest()[:12]
    return out


# Subresources of the core group the simulator serves (services/proxy is the ks-apiserver
# proxy); no custom resource here defines any, as the Cluster CRD's `subresources: {}` doesn't.
CORE_SUBRESOURCES = (
    ("namespaces/status", "Namespace", False, ("get", "patch", "update")),
    ("namespaces/finalize", "Namespace", False, ("update",)),
    ("services/proxy", "ServiceProxyOptions", True, ("create", "delete", "get", "patch", "update")),
)


def resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = registry.in_group_version(group, version)
    if not types:
        return None
    resources = [_resource(t) for t in types]
    if not group and version == "v1":
        resources += [
            {
                "name": name,
                "singularName": "",
                "namespaced": namespaced,
                "kind": kind,
                "verbs": list(verbs),
            }
            for name, kind, namespaced, verbs in CORE_SUBRESOURCES
        ]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def subresource_verbs(registry: Registry, rt: ResourceType, sub: str) -> tuple[str, ...] | None:
    """The verbs discovery advertises for `<resource>/<sub>`, or None if it is not served."""
    if rt.group or registry.lookup("", rt.version, rt.plural) is not rt:
        return None
    return next((v for n, _, _, v in CORE_SUBRESOURCES if n == f"{rt.plural}/{sub}"), None)


def api_versions() -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def group_list(registry: Registry) -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(g, vs) for g, vs in registry.groups().items()],
    }


def group(registry: Registry, name: str) -> dict[str, Any] | None:
    versions = registry.groups().get(name)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def version_info(kubernetes_version: str) -> dict[str, Any]:
    major, minor = kubernetes_version.lstrip("v").split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": kubernetes_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-01-01T00:00:00Z",
        "goVersion": "go1.22.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_v3_root(registry: Registry) -> dict[str, Any]:
    gvs = {("", "v1")} | {(t.group, t.version) for t in registry.types}
    paths = {}
    for g, v in sorted(gvs):
        p = _gv_path(g, v)
        digest = hashlib.sha256(p.encode()).hexdigest()[:16].upper()
        paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={digest}"}
    return {"paths": paths}


_FIELD_VALIDATION = {
    "name": "fieldValidation",
    "in": "query",
    "description": "how the server treats unknown or duplicate fields",
    "schema": {"type": "string", "uniqueItems": True},
}


def openapi_v3_group_version(registry: Registry, path: str) -> dict[str, Any] | None:
    """A minimal OpenAPI v3 document: paths and operations, each advertising fieldValidation."""
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) == 2:
        g, v = "", parts[1]
    elif parts[0] == "apis" and len(parts) == 3:
        g, v = parts[1], parts[2]
    else:
        return None
    types = registry.in_group_version(g, v)
    if not types:
        return None
    doc_paths: dict[str, Any] = {}
    for t in types:
        gvk = {"group": t.group, "version": t.version, "kind": t.kind}
        base = "/" + _gv_path(g, v)
        coll = (
            f"{base}/namespaces/{{namespace}}/{t.plural}" if t.namespaced else f"{base}/{t.plural}"
        )
        op = {"x-kubernetes-group-version-kind": gvk, "parameters": [_FIELD_VALIDATION]}
        doc_paths[coll] = {"post": op, "get": {"x-kubernetes-group-version-kind": gvk}}
        doc_paths[coll + "/{name}"] = {"put": op, "patch": op, "get": {}, "delete": {}}
    schemas = {
        f"{t.group or 'io.k8s.api.core'}.{t.version}.{t.kind}": {
            "type": "object",
            "x-kubernetes-group-version-kind": [
                {"group": t.group, "version": t.version, "kind": t.kind}
            ],
            "x-kubernetes-preserve-unknown-fields": True,
        }
        for t in types
    }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.30.0"},
        "paths": doc_paths,
        "components": {"schemas": schemas},
    }


def _pb_field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2); payloads here are always < 128 bytes."""
    return bytes([number << 3 | 2, len(payload)]) + payload


def openapi_v2_protobuf() -> bytes:
    """An empty OpenAPI v2 document in the protobuf form kubectl insists on for `/openapi/v2`.

    It describes no types, so kubectl's client-side validation has nothing to enforce and defers
    to server-side field validation, which the v3 documents advertise.
    """
    info = _pb_field(1, b"Kubernetes") + _pb_field(2, b"v1.30.0")
    return _pb_field(1, b"2.0") + _pb_field(2, info)
