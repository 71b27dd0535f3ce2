"""Request bodies in Kubernetes' protobuf encoding, decoded into the JSON objects the store takes.

kubectl's generator commands (`kubectl create namespace|configmap|secret|serviceaccount`) use
client-go's typed clients, which send built-in objects as `application/vnd.kubernetes.protobuf`
whatever the server prefers. A body is the magic `k8s\\0` followed by a runtime.Unknown whose
`raw` field holds the typed message; only the fields of the kinds the simulator serves are
decoded (k8s.io/api/core/v1/generated.proto, apimachinery's meta/v1 generated.proto).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

Obj = dict[str, Any]
# field number → (JSON name, kind); kind is "str", "bool", "map", "bytesmap" (values base64 in
# JSON), "strs" (repeated string) or a nested schema name (a leading "*": a repeated message)
Schema = dict[int, tuple[str, str]]

SCHEMAS: dict[str, Schema] = {
    "ObjectMeta": {
        1: ("name", "str"),
        2: ("generateName", "str"),
        3: ("namespace", "str"),
        5: ("uid", "str"),
        6: ("resourceVersion", "str"),
        11: ("labels", "map"),
        12: ("annotations", "map"),
        13: ("ownerReferences", "*OwnerReference"),
        14: ("finalizers", "strs"),
    },
    "OwnerReference": {
        1: ("kind", "str"),
        3: ("name", "str"),
        4: ("uid", "str"),
        5: ("apiVersion", "str"),
        6: ("controller", "bool"),
        7: ("blockOwnerDeletion", "bool"),
    },
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "strs")},
    "ConfigMap": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map"),
        3: ("binaryData", "bytesmap"),
        4: ("immutable", "bool"),
    },
    "Secret": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "bytesmap"),
        3: ("type", "str"),
        4: ("stringData", "map"),
        5: ("immutable", "bool"),
    },
    "ServiceAccount": {
        1: ("metadata", "ObjectMeta"),
        3: ("imagePullSecrets", "*LocalObjectReference"),
        4: ("automountServiceAccountToken", "bool"),
    },
    "LocalObjectReference": {1: ("name", "str")},
}


class ProtobufError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs: an int for varints, bytes for length-delimited fields."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError("truncated field")
            yield number, data[pos : pos + length]
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a length-delimited field")
    return value.decode()


def _entry(value: int | bytes) -> tuple[str, bytes]:
    key, val = "", b""
    for number, part in _fields(value if isinstance(value, bytes) else b""):
        if number == 1:
            key = _text(part)
        elif number == 2 and isinstance(part, bytes):
            val = part
    return key, val


def _message(data: bytes, schema_name: str) -> Obj:
    schema = SCHEMAS[schema_name]
    out: Obj = {}
    for number, value in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if kind == "str":
            if _text(value):
                out[name] = _text(value)
        elif kind == "bool":
            out[name] = bool(value)
        elif kind == "strs":
            out.setdefault(name, []).append(_text(value))
        elif kind in ("map", "bytesmap"):
            key, raw = _entry(value)
            out.setdefault(name, {})[key] = (
                raw.decode() if kind == "map" else base64.b64encode(raw).decode()
            )
        elif kind.startswith("*"):
            out.setdefault(name, []).append(_message(_raw(value), kind[1:]))
        else:
            nested = _message(_raw(value), kind)
            if nested:
                out[name] = nested
    return out


def _raw(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a length-delimited field")
    return value


def decode(body: bytes) -> Obj:
    """The JSON form of a protobuf-encoded built-in object; ProtobufError if it can't be read."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic number")
    api_version = kind = ""
    raw = b""
    for number, value in _fields(body[len(MAGIC) :]):
        if number == 1:  # TypeMeta
            for n, part in _fields(_raw(value)):
                if n == 1:
                    api_version = _text(part)
                elif n == 2:
                    kind = _text(part)
        elif number == 2:
            raw = _raw(value)
    if kind not in SCHEMAS or api_version != "v1":
        raise ProtobufError(f"no protobuf decoding for {api_version}/{kind}")
    return {"apiVersion": api_version, "kind": kind, **_message(raw, kind)}
