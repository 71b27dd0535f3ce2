"""PATCH bodies applied to stored objects the way kube-apiserver applies them.

ksmc-bot, the official Python client and kubectl change objects with all four
patch types: JSON patch (RFC 6902, used with `test` operations as a
compare-and-swap), JSON merge patch (RFC 7386), strategic merge patch (the
default for built-in kinds in kubectl and the client) and server-side apply.
The simulator must produce the same object, and refuse the same patches with
the same status code, as a real API server.

Sources of truth: k8s.io/apiserver `endpoints/handlers/patch.go` (dispatch and
status codes), gopkg.in/evanphx/json-patch.v4 (JSON and merge patch), and
k8s.io/apimachinery `util/strategicpatch` (strategic merge patch).

Deliberate simplifications, each documented where it is made:

* Strategic merge patch knows only the list fields listed in
  `DEFAULT_LIST_MERGE_KEYS` (metadata.finalizers as a set, metadata.ownerReferences
  merged by uid); every other list is replaced, as it is for a field without a
  patch strategy. Callers can pass more (for example containers by name).
* Server-side apply is a patch: the applied YAML is merged into the live object
  with strategic-merge rules for built-in kinds and JSON-merge rules for custom
  resources (whose lists are atomic by default under apply too). Field ownership
  is not tracked, so fields a manager stops applying are not removed and there
  are no apply conflicts.
* Directives (`$patch`, `$retainKeys`, ...) and nulls never end up in the result;
  a real server drops them when it decodes the result into a typed object.

Inputs are never mutated; every function returns a new object.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from k8s.sim.names import FieldError

__all__ = [
    "APPLY_PATCH_YAML",
    "DEFAULT_LIST_MERGE_KEYS",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "ListMergeKeys",
    "PatchError",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_patch",
    "apply_strategic_merge_patch",
    "supported_patch_types",
]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH_YAML = "application/apply-patch+yaml"

# Where a strategic merge patch merges a list instead of replacing it: the path
# of map keys to the list (list indices are not part of the path) and the merge
# key of its items, or "" for a list of scalars merged as a set.
ListMergeKeys = Mapping[tuple[str, ...], str]

DEFAULT_LIST_MERGE_KEYS: ListMergeKeys = {
    # ObjectMeta: `patchStrategy:"merge"` on both; ownerReferences by uid.
    ("metadata", "finalizers"): "",
    ("metadata", "ownerReferences"): "uid",
}

_JSON_PATCH_REJECTED = "the server rejected our request due to an error in our request"

_REASONS = {
    400: "BadRequest",
    415: "UnsupportedMediaType",
    422: "Invalid",
    # An error that is not an API status becomes 500 with no reason.
    500: "",
}


class PatchError(ValueError):
    """A patch kube-apiserver refuses.

    `code` is the HTTP status the real server answers with: 400 for a patch
    document that cannot be decoded or whose directives are malformed, 415 for
    a patch type the resource does not accept, 422 for a well-formed patch that
    does not apply (a failed JSON-patch `test`, a missing path, a result that is
    not an object) and 500 where the real server, too, answers with an internal
    error (a strategic-merge list item without its merge key, an unknown `$patch`
    directive).

    `str()` is the underlying reason (`detail`); `message` and `status()` are what
    the server puts in its Status, which for a JSON patch that does not apply is
    a fixed sentence that does not carry the detail.
    """

    def __init__(
        self,
        detail: str,
        *,
        code: int,
        message: str | None = None,
        causes: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.reason = _REASONS.get(code, "")
        self.message = detail if message is None else message
        self.causes = causes or []

    def status(self) -> dict[str, Any]:
        """The metav1.Status body a real server sends for this error."""
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            status["reason"] = self.reason
        if self.code == 422:
            status["details"] = {"causes": self.causes} if self.causes else {}
        status["code"] = self.code
        return status


def _bad_request(detail: str) -> PatchError:
    return PatchError(detail, code=400)


def _not_applicable(detail: str) -> PatchError:
    # jsonPatcher answers a failed Apply with NewGenericServerResponse(422, ...).
    return PatchError(detail, code=422, message=_JSON_PATCH_REJECTED)


def _internal(detail: str) -> PatchError:
    return PatchError(detail, code=500)


# ---------------------------------------------------------------------------
# Helpers shared by all patch types


def _go_json_kind(value: Any) -> str:
    # The word encoding/json uses in "cannot unmarshal <kind> into ...".
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "number"


def _go_kind(value: Any) -> str:
    # reflect.Kind names, used by mergepatch.ErrBadArgType.
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list):
        return "slice"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "invalid"


def _go_repr(value: Any) -> str:
    # fmt's %v of decoded JSON, used in strategic-merge error messages.
    if isinstance(value, Mapping):
        inner = " ".join(f"{k}:{_go_repr(value[k])}" for k in sorted(value))
        return f"map[{inner}]"
    if isinstance(value, list):
        return "[" + " ".join(_go_repr(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json_equal(a: Any, b: Any) -> bool:
    # JSON equality: unlike Python's ==, true is not 1.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _decode_json(body: bytes | str) -> Any:
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    return json.loads(text)


# ---------------------------------------------------------------------------
# JSON merge patch (RFC 7386)


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def apply_merge_patch(obj: Mapping[str, Any], patch: Any) -> dict[str, Any]:
    """RFC 7386: objects merge recursively, null deletes a key, anything else
    (lists included) replaces. A null patch is refused with 400 "Invalid JSON
    Patch"; a patch that is not an object would replace the whole object, which
    the server refuses with 422."""
    if patch is None:
        raise _bad_request("Invalid JSON Patch")
    result = _merge(copy.deepcopy(dict(obj)), patch)
    if not isinstance(result, dict):
        # The server cannot decode the result into an object and answers with
        # NewInvalid for an empty GroupKind and name, hence the odd message.
        error = FieldError.invalid(
            "patch",
            json.dumps(result, separators=(",", ":")),
            f"json: cannot unmarshal {_go_json_kind(result)} into Go value of type "
            "map[string]interface {}",
        )
        raise PatchError(
            str(error), code=422, message=f' "" is invalid: {error}', causes=[error.cause()]
        )
    return result


# ---------------------------------------------------------------------------
# JSON patch (RFC 6902), with evanphx/json-patch.v4's behaviour and messages

_MISSING = "missing value"
_BAD_INDEX = "invalid index referenced"


def _unescape_token(token: str) -> str:
    # Left to right, so "~01" is "~1" and not "/"; other "~x" stay as they are.
    out: list[str] = []
    i = 0
    while i < len(token):
        if token[i] == "~" and i + 1 < len(token) and token[i + 1] in "01":
            out.append("~" if token[i + 1] == "0" else "/")
            i += 2
        else:
            out.append(token[i])
            i += 1
    return "".join(out)


def _atoi(token: str) -> int:
    # strconv.Atoi: optional sign and decimal digits.
    digits = token[1:] if token[:1] in ("+", "-") else token
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(f'strconv.Atoi: parsing "{token}": invalid syntax')
    return int(token)


def _find_parent(doc: Any, path: str) -> tuple[Any, str] | None:
    """The container holding the last token of `path`, and that token; None when
    a container on the way is missing (the library's "doc is missing path")."""
    if not path.startswith("/"):
        # The whole document cannot be addressed, and a pointer must start
        # with "/" (the library would read "a/b" as "/b"; we refuse it).
        return None
    tokens = [_unescape_token(t) for t in path.split("/")[1:]]
    current = doc
    for token in tokens[:-1]:
        if isinstance(current, dict):
            current = current.get(token)
        elif isinstance(current, list):
            try:
                index = _atoi(token)
            except ValueError:
                return None
            if not 0 <= index < len(current):
                return None
            current = current[index]
        else:
            return None
        if not isinstance(current, dict | list):
            return None
    return current, tokens[-1]


def _container_get(container: Any, key: str) -> Any:
    """Missing object members read as null (as in the library); a bad array index
    raises ValueError with the library's text."""
    if isinstance(container, dict):
        return container.get(key)
    index = _atoi(key)
    if not 0 <= index < len(container):
        raise ValueError(f"Unable to access invalid index: {index}: {_BAD_INDEX}")
    return container[index]


def _container_add(container: Any, key: str, value: Any) -> None:
    if isinstance(container, dict):
        container[key] = value
        return
    if key == "-":
        container.append(value)
        return
    try:
        index = _atoi(key)
    except ValueError as exc:
        raise ValueError(f"value was not a proper array index: '{key}': {exc}") from None
    size = len(container) + 1
    # Negative indices count from the end, as the library allows by default.
    if index >= size or index < -size:
        raise ValueError(f"Unable to access invalid index: {index}: {_BAD_INDEX}")
    if index < 0:
        index += size
    container.insert(index, value)


def _container_remove(container: Any, key: str) -> Any:
    if isinstance(container, dict):
        if key not in container:
            raise ValueError(f"Unable to remove nonexistent key: {key}: {_MISSING}")
        return container.pop(key)
    index = _atoi(key)
    if index >= len(container) or index < -len(container):
        raise ValueError(f"Unable to access invalid index: {index}: {_BAD_INDEX}")
    return container.pop(index)


def _op_string(op: Mapping[str, Any], field: str) -> str | None:
    value = op.get(field)
    return value if isinstance(value, str) else None


def _apply_operation(doc: dict[str, Any], op: Mapping[str, Any]) -> None:
    kind = _op_string(op, "op") or "unknown"
    handler = _OPERATIONS.get(kind)
    if handler is None:
        raise _not_applicable(f"Unexpected kind: {kind}")
    path = _op_string(op, "path")
    if path is None:
        raise _not_applicable(f"{kind} operation failed to decode path: {_MISSING}")
    handler(doc, op, path)


def _op_add(doc: dict[str, Any], op: Mapping[str, Any], path: str) -> None:
    found = _find_parent(doc, path)
    if found is None:
        raise _not_applicable(
            f'add operation does not apply: doc is missing path: "{path}": {_MISSING}'
        )
    container, key = found
    try:
        _container_add(container, key, copy.deepcopy(op.get("value")))
    except ValueError as exc:
        raise _not_applicable(f"error in add for path: '{path}': {exc}") from None


def _op_remove(doc: dict[str, Any], op: Mapping[str, Any], path: str) -> None:
    found = _find_parent(doc, path)
    if found is None:
        raise _not_applicable(
            f'remove operation does not apply: doc is missing path: "{path}": {_MISSING}'
        )
    container, key = found
    try:
        _container_remove(container, key)
    except ValueError as exc:
        raise _not_applicable(f"error in remove for path: '{path}': {exc}") from None


def _op_replace(doc: dict[str, Any], op: Mapping[str, Any], path: str) -> None:
    found = _find_parent(doc, path)
    if found is None:
        raise _not_applicable(
            f"replace operation does not apply: doc is missing path: {path}: {_MISSING}"
        )
    container, key = found
    value = copy.deepcopy(op.get("value"))
    if isinstance(container, dict):
        # json-patch.v4, which kube-apiserver uses, sets a missing member here
        # instead of failing as RFC 6902 says; clients rely on it.
        container[key] = value
        return
    try:
        index = _atoi(key)
    except ValueError:
        index = -1
    if not 0 <= index < len(container):
        raise _not_applicable(
            f"replace operation does not apply: doc is missing key: {path}: {_MISSING}"
        )
    container[index] = value


def _op_move(doc: dict[str, Any], op: Mapping[str, Any], path: str) -> None:
    source = _op_string(op, "from")
    if source is None:
        raise _not_applicable(
            f"move operation failed to decode from: operation, missing from field: {_MISSING}"
        )
    found = _find_parent(doc, source)
    if found is None:
        raise _not_applicable(
            f"move operation does not apply: doc is missing from path: {source}: {_MISSING}"
        )
    container, key = found
    try:
        value = _container_remove(container, key)
    except ValueError as exc:
        raise _not_applicable(f"error in move for path: '{key}': {exc}") from None
    target = _find_parent(doc, path)
    if target is None:
        raise _not_applicable(
            f"move operation does not apply: doc is missing destination path: {path}: {_MISSING}"
        )
    try:
        _container_add(target[0], target[1], value)
    except ValueError as exc:
        raise _not_applicable(f"error in move for path: '{path}': {exc}") from None


def _op_copy(doc: dict[str, Any], op: Mapping[str, Any], path: str) -> None:
    source = _op_string(op, "from")
    if source is None:
        raise _not_applicable(
            f"copy operation failed to decode from: operation, missing from field: {_MISSING}"
        )
    found = _find_parent(doc, source)
    if found is None:
        raise _not_applicable(
            f"copy operation does not apply: doc is missing from path: {source}: {_MISSING}"
        )
    container, key = found
    # The library would copy a null out of a missing member; RFC 6902 says the
    # source must exist, and a stored null would be garbage, so we refuse.
    if isinstance(container, dict) and key not in container:
        raise _not_applicable(f"error in copy for from: '{source}': {_MISSING}")
    try:
        value = copy.deepcopy(_container_get(container, key))
    except ValueError as exc:
        raise _not_applicable(f"error in copy for from: '{source}': {exc}") from None
    target = _find_parent(doc, path)
    if target is None:
        raise _not_applicable(
            f"copy operation does not apply: doc is missing destination path: {path}: {_MISSING}"
        )
    try:
        _container_add(target[0], target[1], value)
    except ValueError as exc:
        raise _not_applicable(f"error while adding value during copy: {exc}") from None


def _op_test(doc: dict[str, Any], op: Mapping[str, Any], path: str) -> None:
    found = _find_parent(doc, path)
    if found is None:
        raise _not_applicable(f"test operation does not apply: is missing path: {path}: {_MISSING}")
    container, key = found
    try:
        have = _container_get(container, key)
    except ValueError as exc:
        raise _not_applicable(f"error in test for path: '{path}': {exc}") from None
    want = op.get("value")
    # A missing member and null are the same to the library: testing for null
    # passes when the member is absent.
    if have is None and want is None:
        return
    if have is None or want is None or not _json_equal(have, want):
        raise _not_applicable(f"testing value {path} failed: test failed")


_OPERATIONS: dict[str, Callable[[dict[str, Any], Mapping[str, Any], str], None]] = {
    "add": _op_add,
    "remove": _op_remove,
    "replace": _op_replace,
    "move": _op_move,
    "copy": _op_copy,
    "test": _op_test,
}


def apply_json_patch(obj: Mapping[str, Any], ops: Any) -> dict[str, Any]:
    """RFC 6902 as kube-apiserver runs it: add, remove, replace, move, copy and
    test, JSON pointers with ~0/~1 escapes, "-" to append, array indices (also
    negative ones, counted from the end, as the server allows).

    A body that is not a list of objects is refused with 400; an operation that
    does not apply (failed test, missing path or index, unknown op) with 422.
    Where json-patch.v4 departs from the RFC the server's behaviour wins:
    `replace` of a missing object member adds it, and `test` for null passes on
    a missing member.
    """
    if ops is None:
        # encoding/json decodes null into an empty patch.
        ops = []
    if not isinstance(ops, list):
        raise _bad_request(
            f"json: cannot unmarshal {_go_json_kind(ops)} into Go value of type jsonpatch.Patch"
        )
    for op in ops:
        if op is not None and not isinstance(op, Mapping):
            raise _bad_request(
                f"json: cannot unmarshal {_go_json_kind(op)} into Go value of type "
                "jsonpatch.Operation"
            )
    doc = copy.deepcopy(dict(obj))
    for op in ops:
        _apply_operation(doc, op or {})
    return doc


# ---------------------------------------------------------------------------
# Strategic merge patch

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"
_SET_ELEMENT_ORDER = "$setElementOrder/"

_DROP = object()  # A value that is itself a directive and so must disappear.


def _is_directive_key(key: str) -> bool:
    return key in (_DIRECTIVE, _RETAIN_KEYS) or key.startswith(
        (_DELETE_FROM_PRIMITIVE_LIST, _SET_ELEMENT_ORDER)
    )


def _clean(value: Any) -> Any:
    """A patch value taken as is (no live value to merge with): drop nulls and
    directives, and drop maps that are directives (`{"$patch": "delete"}`)."""
    if isinstance(value, Mapping):
        if _DIRECTIVE in value:
            return _DROP
        out: dict[str, Any] = {}
        for k, v in value.items():
            if v is None or _is_directive_key(k):
                continue
            cleaned = _clean(v)
            if cleaned is not _DROP:
                out[k] = cleaned
        return out
    if isinstance(value, list):
        return [c for c in (_clean(v) for v in value) if c is not _DROP]
    return value


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list):
        return "list"
    return "scalar"


def _order_key(item: Any, merge_key: str) -> tuple[str, Any]:
    # What identifies a list item: its merge-key value, or itself for scalars.
    # The type is part of it so that true and 1 stay different.
    value = item.get(merge_key) if merge_key and isinstance(item, Mapping) else item
    if isinstance(value, Mapping | list):
        return ("json", json.dumps(value, sort_keys=True))
    return (type(value).__name__, value)


def _index(items: list[Any], item: Any, merge_key: str) -> int:
    wanted = _order_key(item, merge_key)
    for i, candidate in enumerate(items):
        if _order_key(candidate, merge_key) == wanted:
            return i
    return -1


def _normalize_order(
    patch_items: list[Any],
    server_only: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    merge_key: str,
) -> list[Any]:
    """strategicpatch.normalizeElementOrder: patch items in patch order,
    server-only items in live order, interleaved by live positions. An item
    whose place among the live items is unknown (a new one) goes first, which
    is why a merged-in finalizer or owner reference is prepended."""

    def by(order: list[Any]) -> Callable[[Any], int]:
        def position(item: Any) -> int:
            i = _index(order, item, merge_key)
            return i if i >= 0 else len(order)

        return position

    right = sorted(patch_items, key=by(patch_order))
    left = sorted(server_only, key=by(server_order))
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _index(server_order, left[i], merge_key)
            ri = _index(server_order, right[j], merge_key)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _partition(merged: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    inside: list[Any] = []
    outside: list[Any] = []
    for item in merged:
        (inside if _index(by, item, merge_key) >= 0 else outside).append(item)
    return inside, outside


def _element_kind(*lists: list[Any]) -> str | None:
    kind: str | None = None
    for items in lists:
        for item in items:
            this = _kind(item)
            if this == "list":
                raise _not_applicable("lists of lists are not supported")
            if kind is None:
                kind = this
            elif kind != this:
                shown = " ".join(_go_repr(x) for x in lists)
                raise _internal(f"list element types are not identical: [{shown}]")
    return kind


class _StrategicMerger:
    def __init__(self, list_merge_keys: ListMergeKeys) -> None:
        self.list_merge_keys = list_merge_keys

    def merge_map(
        self, original: dict[str, Any], patch: Mapping[str, Any], path: tuple[str, ...]
    ) -> dict[str, Any]:
        if _DIRECTIVE in patch:
            directive = patch[_DIRECTIVE]
            if directive == "replace":
                replaced = _clean({k: v for k, v in patch.items() if k != _DIRECTIVE})
                return replaced if isinstance(replaced, dict) else {}
            if directive == "delete":
                return {}
            raise _internal(f"unknown patch type: {directive} in map: {_go_repr(patch)}")
        rest = dict(patch)
        self._retain_keys(original, rest)
        self._set_element_order(original, rest, path)
        deletions = {k: v for k, v in rest.items() if k.startswith(_DELETE_FROM_PRIMITIVE_LIST)}
        for key, value in rest.items():
            if key in deletions:
                continue
            self._merge_key(original, key, value, path)
        for key, value in deletions.items():
            self._delete_from_list(original, key[len(_DELETE_FROM_PRIMITIVE_LIST) :], value)
        return original

    def _retain_keys(self, original: dict[str, Any], patch: dict[str, Any]) -> None:
        if _RETAIN_KEYS not in patch:
            return
        retain = patch.pop(_RETAIN_KEYS)
        if not isinstance(retain, list):
            raise _bad_request("invalid patch format of retainKeys")
        for key, value in patch.items():
            if value is None or key.startswith((_DELETE_FROM_PRIMITIVE_LIST, _SET_ELEMENT_ORDER)):
                continue
            if key not in retain:
                raise _bad_request("invalid patch format of retainKeys")
        for key in list(original):
            if key not in retain:
                del original[key]

    def _set_element_order(
        self, original: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...]
    ) -> None:
        for directive in [k for k in patch if k.startswith(_SET_ELEMENT_ORDER)]:
            order = patch.pop(directive)
            key = directive[len(_SET_ELEMENT_ORDER) :]
            live = original.get(key)
            wanted = patch.get(key)
            if not isinstance(order, list):
                raise _internal(f"expected a slice, but received a {_go_kind(order)}")
            for value in (live, wanted):
                if value is not None and not isinstance(value, list):
                    raise _internal(f"expected a slice, but received a {_go_kind(value)}")
            if live is None and wanted is None:
                continue
            if wanted is None:
                merged = list(live or [])
            elif live is None:
                merged = _clean(wanted)
            else:
                merged = self.merge_list(live, wanted, (*path, key))
            merge_key = self.list_merge_keys.get((*path, key), "")
            inside, outside = _partition(merged, order, merge_key)
            original[key] = _clean(_normalize_order(inside, outside, order, live or [], merge_key))
            patch.pop(key, None)

    def _merge_key(
        self, original: dict[str, Any], key: str, value: Any, path: tuple[str, ...]
    ) -> None:
        if value is None:
            original.pop(key, None)
            return
        live = original.get(key, _DROP)
        if live is _DROP or _kind(live) != _kind(value) or _kind(value) == "scalar":
            cleaned = _clean(value)
            if cleaned is _DROP:
                original.pop(key, None)
            else:
                original[key] = cleaned
        elif isinstance(value, Mapping):
            original[key] = self.merge_map(live, value, (*path, key))
        else:
            original[key] = self.merge_list(live, value, (*path, key))

    def _delete_from_list(self, original: dict[str, Any], key: str, doomed: Any) -> None:
        # A missing list or a malformed directive leaves the object alone, as it
        # does on a real server since the fix for kubernetes#105146.
        live = original.get(key)
        if not isinstance(live, list) or not isinstance(doomed, list):
            return
        original[key] = [x for x in live if not any(_json_equal(x, d) for d in doomed)]

    def merge_list(self, live: list[Any], patch: list[Any], path: tuple[str, ...]) -> list[Any]:
        merge_key = self.list_merge_keys.get(path)
        if merge_key is None:
            # No patch strategy: the patch list replaces the live one.
            replaced = _clean(patch)
            return replaced if isinstance(replaced, list) else []
        if not live and not patch:
            return live
        if _element_kind(live, patch) != "map":
            merged: list[Any] = []
            for item in [*live, *patch]:
                if _index(merged, item, "") < 0:
                    merged.append(item)
            inside, outside = _partition(merged, patch, "")
            return _normalize_order(inside, outside, patch, live, "")
        if not merge_key:
            raise _internal("cannot merge lists without merge key for type map")
        return self._merge_map_list(list(live), patch, merge_key, path)

    def _merge_map_list(
        self, live: list[Any], patch: list[Any], merge_key: str, path: tuple[str, ...]
    ) -> list[Any]:
        plain: list[Mapping[str, Any]] = []
        replace = False
        for item in patch:
            if _DIRECTIVE not in item:
                plain.append(item)
                continue
            directive = item[_DIRECTIVE]
            if directive == "delete":
                if merge_key not in item:
                    raise _internal(
                        f"map: {_go_repr(item)} does not contain declared merge key: {merge_key}"
                    )
                live = [x for x in live if _index([item], x, merge_key) < 0]
            elif directive == "replace":
                replace = True
            elif directive == "merge":
                raise _internal("merging lists cannot yet be specified in the patch")
            else:
                raise _internal(f"unknown patch type: {directive} in map: {_go_repr(item)}")
        if replace:
            # `{"$patch": "replace"}` as an item: the other items are the list.
            replaced = _clean(plain)
            return replaced if isinstance(replaced, list) else []
        merged = list(live)
        for item in plain:
            if merge_key not in item:
                raise _internal(
                    f"map: {_go_repr(item)} does not contain declared merge key: {merge_key}"
                )
            at = _index(merged, item, merge_key)
            if at >= 0:
                merged[at] = self.merge_map(dict(merged[at]), item, path)
            else:
                cleaned = _clean(item)
                if cleaned is not _DROP:
                    merged.append(cleaned)
        inside, outside = _partition(merged, list(plain), merge_key)
        return _normalize_order(inside, outside, list(plain), live, merge_key)


def apply_strategic_merge_patch(
    obj: Mapping[str, Any],
    patch: Any,
    *,
    list_merge_keys: ListMergeKeys = DEFAULT_LIST_MERGE_KEYS,
) -> dict[str, Any]:
    """Kubernetes strategic merge patch, for built-in kinds.

    Maps merge recursively and null deletes a key. Lists named in
    `list_merge_keys` merge: items with the same merge-key value are merged,
    new ones are added (ahead of the live items, as the real server orders
    them), `{"$patch": "delete", <key>: v}` removes an item and
    `{"$patch": "replace"}` makes the other items the whole list; scalar lists
    (metadata.finalizers) are a set union, and `$deleteFromPrimitiveList/<list>`
    removes items. Every other list is replaced. `{"$patch": "replace"}` in a map
    replaces the map, `{"$patch": "delete"}` empties it; `$retainKeys` and
    `$setElementOrder/<list>` are honoured.
    """
    if patch is None:
        # encoding/json decodes null into a nil map: nothing to do.
        return copy.deepcopy(dict(obj))
    if not isinstance(patch, Mapping):
        raise _bad_request(
            f"json: cannot unmarshal {_go_json_kind(patch)} into Go value of type "
            "map[string]interface {}"
        )
    merger = _StrategicMerger(list_merge_keys)
    return merger.merge_map(copy.deepcopy(dict(obj)), copy.deepcopy(dict(patch)), ())


# ---------------------------------------------------------------------------
# Dispatch on Content-Type


def supported_patch_types(*, custom_resource: bool) -> tuple[str, ...]:
    """The patch media types a resource accepts, in the order the server lists
    them in its 415 message; custom resources take no strategic merge patch."""
    if custom_resource:
        return (JSON_PATCH, MERGE_PATCH, APPLY_PATCH_YAML)
    return (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH_YAML)


def _decode(body: Any, media_type: str) -> Any:
    if not isinstance(body, bytes | str):
        return body
    if media_type == APPLY_PATCH_YAML:
        try:
            return yaml.safe_load(body)
        except yaml.YAMLError as exc:
            raise _bad_request(f"error decoding YAML: {exc}") from None
    try:
        return _decode_json(body)
    except (ValueError, UnicodeDecodeError) as exc:
        if media_type == MERGE_PATCH:
            raise _bad_request("Invalid JSON Patch") from None
        raise _bad_request(str(exc)) from None


def apply_patch(
    obj: Mapping[str, Any],
    body: bytes | str | Any,
    content_type: str,
    *,
    custom_resource: bool,
    list_merge_keys: ListMergeKeys = DEFAULT_LIST_MERGE_KEYS,
) -> dict[str, Any]:
    """Apply a PATCH request body to `obj` according to its Content-Type.

    `body` is the raw request body (bytes or str) or an already decoded value.
    Parameters after ';' in the Content-Type are ignored, as the server does.
    A type the resource does not accept (strategic merge patch on a custom
    resource, or anything unknown) raises PatchError with code 415.

    `application/apply-patch+yaml` (server-side apply) is simplified: see the
    module docstring. For a create-by-apply pass `{}` as `obj`.
    """
    media_type = content_type
    semicolon = media_type.find(";")
    if semicolon > 0:
        media_type = media_type[:semicolon]
    accepted = supported_patch_types(custom_resource=custom_resource)
    if media_type not in accepted:
        raise PatchError(
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(accepted),
            code=415,
        )
    patch = _decode(body, media_type)
    if media_type == JSON_PATCH:
        return apply_json_patch(obj, patch)
    if media_type == MERGE_PATCH:
        return apply_merge_patch(obj, patch)
    if media_type == STRATEGIC_MERGE_PATCH:
        return apply_strategic_merge_patch(obj, patch, list_merge_keys=list_merge_keys)
    # Server-side apply, simplified to a merge of the applied configuration.
    if patch is None:
        patch = {}
    if not isinstance(patch, Mapping):
        raise _bad_request(
            f"error decoding YAML: json: cannot unmarshal {_go_json_kind(patch)} into Go value "
            "of type map[string]interface {}"
        )
    if custom_resource:
        return apply_merge_patch(obj, patch)
    return apply_strategic_merge_patch(obj, patch, list_merge_keys=list_merge_keys)
