"""Checks k8s.sim.patch against kube-apiserver's PATCH behaviour: JSON merge
patch (RFC 7386), JSON patch (RFC 6902 with json-patch.v4's quirks), strategic
merge patch with its directives and list ordering, server-side apply as a merge,
dispatch on Content-Type, the status codes and Status bodies of refusals, and
that no input is ever mutated."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from k8s.sim.patch import (
    APPLY_PATCH_YAML,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_patch,
    apply_strategic_merge_patch,
    supported_patch_types,
)

REJECTED = "the server rejected our request due to an error in our request"


def workspace() -> dict[str, Any]:
    return {
        "apiVersion": "tenant.kubesphere.io/v1alpha2",
        "kind": "WorkspaceTemplate",
        "metadata": {
            "name": "ws1",
            "resourceVersion": "7",
            "labels": {"env": "prod", "kubesphere.io/creator": "admin"},
            "annotations": {"a/b": "1"},
            "finalizers": ["finalizers.tenant.kubesphere.io"],
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "A", "name": "a", "uid": "u1"},
                {"apiVersion": "v1", "kind": "B", "name": "b", "uid": "u2"},
            ],
        },
        "spec": {
            "placement": {"clusters": [{"name": "host"}, {"name": "m1"}]},
            "template": {"spec": {"manager": "admin"}},
            "unknownField": {"kept": True},
        },
    }


# ---------------------------------------------------------------------------
# JSON merge patch


@pytest.mark.parametrize(
    ("patch", "check"),
    [
        (
            {"metadata": {"labels": {"env": "dev"}}},
            lambda o: o["metadata"]["labels"]["env"] == "dev",
        ),
        (
            {"metadata": {"labels": {"env": None}}},
            lambda o: o["metadata"]["labels"] == {"kubesphere.io/creator": "admin"},
        ),
        ({"metadata": {"annotations": None}}, lambda o: "annotations" not in o["metadata"]),
        (
            {"spec": {"placement": {"clusters": [{"name": "m2"}]}}},
            lambda o: o["spec"]["placement"]["clusters"] == [{"name": "m2"}],
        ),
        (
            {"metadata": {"finalizers": []}},
            lambda o: o["metadata"]["finalizers"] == [],
        ),
        (
            {"status": {"phase": "Active", "gone": None}},
            lambda o: o["status"] == {"phase": "Active"},
        ),
        ({"spec": {"list": [1, None]}}, lambda o: o["spec"]["list"] == [1, None]),
        ({"spec": {"template": "flat"}}, lambda o: o["spec"]["template"] == "flat"),
        (
            {"spec": {"unknownField": {"more": 1}}},
            lambda o: o["spec"]["unknownField"] == {"kept": True, "more": 1},
        ),
        ({}, lambda o: o == workspace()),
    ],
)
def test_merge_patch(patch: dict[str, Any], check: Any) -> None:
    assert check(apply_merge_patch(workspace(), patch))


def test_merge_patch_refusals() -> None:
    with pytest.raises(PatchError) as info:
        apply_merge_patch(workspace(), None)
    assert (info.value.code, str(info.value)) == (400, "Invalid JSON Patch")
    with pytest.raises(PatchError) as info:
        apply_merge_patch(workspace(), [1])
    error = info.value
    assert error.code == 422
    assert error.status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": ' "" is invalid: patch: Invalid value: "[1]": json: cannot unmarshal array '
        "into Go value of type map[string]interface {}",
        "reason": "Invalid",
        "details": {
            "causes": [
                {
                    "reason": "FieldValueInvalid",
                    "message": 'Invalid value: "[1]": json: cannot unmarshal array into Go value '
                    "of type map[string]interface {}",
                    "field": "patch",
                }
            ]
        },
        "code": 422,
    }


# ---------------------------------------------------------------------------
# JSON patch


@pytest.mark.parametrize(
    ("ops", "path", "expected"),
    [
        (
            [{"op": "add", "path": "/metadata/labels/tier", "value": "web"}],
            ("metadata", "labels", "tier"),
            "web",
        ),
        (
            [{"op": "add", "path": "/metadata/labels/env", "value": "dev"}],
            ("metadata", "labels", "env"),
            "dev",
        ),
        (
            [{"op": "add", "path": "/metadata/finalizers/-", "value": "x"}],
            ("metadata", "finalizers"),
            ["finalizers.tenant.kubesphere.io", "x"],
        ),
        (
            [{"op": "add", "path": "/metadata/finalizers/0", "value": "x"}],
            ("metadata", "finalizers"),
            ["x", "finalizers.tenant.kubesphere.io"],
        ),
        (
            [{"op": "add", "path": "/metadata/finalizers/1", "value": "x"}],
            ("metadata", "finalizers"),
            ["finalizers.tenant.kubesphere.io", "x"],
        ),
        (
            [{"op": "add", "path": "/spec/placement/clusters/-1", "value": {"name": "z"}}],
            ("spec", "placement", "clusters"),
            [{"name": "host"}, {"name": "m1"}, {"name": "z"}],
        ),
        (
            [{"op": "add", "path": "/metadata/annotations/x~1y", "value": "2"}],
            ("metadata", "annotations", "x/y"),
            "2",
        ),
        (
            [{"op": "add", "path": "/metadata/annotations/t~0", "value": "3"}],
            ("metadata", "annotations", "t~"),
            "3",
        ),
        (
            [{"op": "add", "path": "/metadata/annotations/~01", "value": "4"}],
            ("metadata", "annotations", "~1"),
            "4",
        ),
        ([{"op": "add", "path": "/spec/new", "value": {"a": [1]}}], ("spec", "new"), {"a": [1]}),
        ([{"op": "add", "path": "/spec/nothing"}], ("spec", "nothing"), None),
        (
            [{"op": "remove", "path": "/metadata/labels/env"}],
            ("metadata", "labels"),
            {"kubesphere.io/creator": "admin"},
        ),
        ([{"op": "remove", "path": "/metadata/annotations/a~1b"}], ("metadata", "annotations"), {}),
        (
            [{"op": "remove", "path": "/spec/placement/clusters/0"}],
            ("spec", "placement", "clusters"),
            [{"name": "m1"}],
        ),
        (
            [{"op": "remove", "path": "/spec/placement/clusters/-1"}],
            ("spec", "placement", "clusters"),
            [{"name": "host"}],
        ),
        (
            [{"op": "replace", "path": "/metadata/labels/env", "value": "qa"}],
            ("metadata", "labels", "env"),
            "qa",
        ),
        # json-patch.v4 lets replace create a missing member; the server inherits it.
        (
            [{"op": "replace", "path": "/metadata/labels/new", "value": "v"}],
            ("metadata", "labels", "new"),
            "v",
        ),
        (
            [{"op": "replace", "path": "/spec/placement/clusters/1", "value": {"name": "m9"}}],
            ("spec", "placement", "clusters"),
            [{"name": "host"}, {"name": "m9"}],
        ),
        (
            [{"op": "move", "from": "/metadata/labels/env", "path": "/metadata/annotations/env"}],
            ("metadata",),
            {
                **workspace()["metadata"],
                "labels": {"kubesphere.io/creator": "admin"},
                "annotations": {"a/b": "1", "env": "prod"},
            },
        ),
        (
            [
                {
                    "op": "move",
                    "from": "/spec/placement/clusters/0",
                    "path": "/spec/placement/clusters/-",
                }
            ],
            ("spec", "placement", "clusters"),
            [{"name": "m1"}, {"name": "host"}],
        ),
        (
            [
                {
                    "op": "copy",
                    "from": "/spec/placement/clusters/1",
                    "path": "/spec/placement/clusters/0",
                }
            ],
            ("spec", "placement", "clusters"),
            [{"name": "m1"}, {"name": "host"}, {"name": "m1"}],
        ),
        (
            [
                {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
                {"op": "test", "path": "/spec/unknownField", "value": {"kept": True}},
                {"op": "test", "path": "/metadata/missing", "value": None},
                {"op": "replace", "path": "/spec/template/spec/manager", "value": "bob"},
            ],
            ("spec", "template", "spec", "manager"),
            "bob",
        ),
        ([], ("metadata", "name"), "ws1"),
    ],
)
def test_json_patch_applies(
    ops: list[dict[str, Any]], path: tuple[str, ...], expected: Any
) -> None:
    result = apply_json_patch(workspace(), ops)
    value: Any = result
    for key in path:
        value = value[key]
    assert value == expected


def test_json_patch_copied_values_are_independent() -> None:
    value = {"nested": ["x"]}
    result = apply_json_patch(workspace(), [{"op": "add", "path": "/spec/v", "value": value}])
    result["spec"]["v"]["nested"].append("y")
    assert value == {"nested": ["x"]}
    copied = apply_json_patch(
        workspace(), [{"op": "copy", "from": "/spec/unknownField", "path": "/spec/copy"}]
    )
    copied["spec"]["copy"]["kept"] = False
    assert copied["spec"]["unknownField"] == {"kept": True}


@pytest.mark.parametrize(
    ("ops", "detail"),
    [
        (
            [{"op": "test", "path": "/metadata/resourceVersion", "value": "6"}],
            "testing value /metadata/resourceVersion failed: test failed",
        ),
        (
            [{"op": "test", "path": "/metadata/resourceVersion", "value": 7}],
            "testing value /metadata/resourceVersion failed: test failed",
        ),
        (
            [{"op": "test", "path": "/spec/unknownField/kept", "value": 1}],
            "testing value /spec/unknownField/kept failed: test failed",
        ),
        (
            [{"op": "test", "path": "/spec/unknownField", "value": {}}],
            "testing value /spec/unknownField failed: test failed",
        ),
        (
            [{"op": "test", "path": "/metadata/missing", "value": "x"}],
            "testing value /metadata/missing failed: test failed",
        ),
        (
            [{"op": "test", "path": "/metadata/name", "value": None}],
            "testing value /metadata/name failed: test failed",
        ),
        (
            [{"op": "test", "path": "/nope/x", "value": 1}],
            "test operation does not apply: is missing path: /nope/x: missing value",
        ),
        (
            [{"op": "test", "path": "/metadata/finalizers/5", "value": 1}],
            "error in test for path: '/metadata/finalizers/5': Unable to access invalid index: 5: "
            "invalid index referenced",
        ),
        (
            [{"op": "add", "path": "/nope/x", "value": 1}],
            'add operation does not apply: doc is missing path: "/nope/x": missing value',
        ),
        (
            [{"op": "add", "path": "/metadata/name/x", "value": 1}],
            'add operation does not apply: doc is missing path: "/metadata/name/x": missing value',
        ),
        (
            [{"op": "add", "path": "/metadata/finalizers/5", "value": 1}],
            "error in add for path: '/metadata/finalizers/5': Unable to access invalid index: 5: "
            "invalid index referenced",
        ),
        (
            [{"op": "add", "path": "/metadata/finalizers/x", "value": 1}],
            "error in add for path: '/metadata/finalizers/x': value was not a proper array index: "
            "'x': strconv.Atoi: parsing \"x\": invalid syntax",
        ),
        (
            [{"op": "add", "path": "", "value": {}}],
            'add operation does not apply: doc is missing path: "": missing value',
        ),
        (
            [{"op": "add", "path": "metadata/x", "value": 1}],
            'add operation does not apply: doc is missing path: "metadata/x": missing value',
        ),
        (
            [{"op": "remove", "path": "/metadata/labels/none"}],
            "error in remove for path: '/metadata/labels/none': Unable to remove nonexistent key: "
            "none: missing value",
        ),
        (
            [{"op": "remove", "path": "/nope/none"}],
            'remove operation does not apply: doc is missing path: "/nope/none": missing value',
        ),
        (
            [{"op": "remove", "path": "/metadata/finalizers/1"}],
            "error in remove for path: '/metadata/finalizers/1': Unable to access invalid index: "
            "1: invalid index referenced",
        ),
        (
            [{"op": "replace", "path": "/nope/x", "value": 1}],
            "replace operation does not apply: doc is missing path: /nope/x: missing value",
        ),
        (
            [{"op": "replace", "path": "/metadata/finalizers/1", "value": 1}],
            "replace operation does not apply: doc is missing key: /metadata/finalizers/1: "
            "missing value",
        ),
        (
            [{"op": "replace", "path": "/metadata/finalizers/-", "value": 1}],
            "replace operation does not apply: doc is missing key: /metadata/finalizers/-: "
            "missing value",
        ),
        (
            [{"op": "move", "from": "/metadata/labels/none", "path": "/x"}],
            "error in move for path: 'none': Unable to remove nonexistent key: none: missing value",
        ),
        (
            [{"op": "move", "from": "/nope/a", "path": "/x"}],
            "move operation does not apply: doc is missing from path: /nope/a: missing value",
        ),
        (
            [{"op": "move", "from": "/metadata/labels", "path": "/nope/x"}],
            "move operation does not apply: doc is missing destination path: /nope/x: missing "
            "value",
        ),
        (
            [{"op": "move", "path": "/x"}],
            "move operation failed to decode from: operation, missing from field: missing value",
        ),
        (
            [{"op": "copy", "from": "/metadata/none", "path": "/x"}],
            "error in copy for from: '/metadata/none': missing value",
        ),
        (
            [{"op": "copy", "from": "/nope/a", "path": "/x"}],
            "copy operation does not apply: doc is missing from path: /nope/a: missing value",
        ),
        (
            [{"op": "copy", "from": "/metadata/name", "path": "/nope/x"}],
            "copy operation does not apply: doc is missing destination path: /nope/x: missing "
            "value",
        ),
        (
            [{"op": "copy", "from": "/metadata/name", "path": "/metadata/finalizers/9"}],
            "error while adding value during copy: Unable to access invalid index: 9: invalid "
            "index referenced",
        ),
        ([{"op": "frobnicate", "path": "/x"}], "Unexpected kind: frobnicate"),
        ([{"path": "/x"}], "Unexpected kind: unknown"),
        ([None], "Unexpected kind: unknown"),
        ([{"op": "add", "value": 1}], "add operation failed to decode path: missing value"),
    ],
)
def test_json_patch_not_applicable(ops: list[Any], detail: str) -> None:
    with pytest.raises(PatchError) as info:
        apply_json_patch(workspace(), ops)
    error = info.value
    assert (error.code, error.reason, str(error)) == (422, "Invalid", detail)
    # The real server does not tell the client which operation failed.
    assert error.message == REJECTED
    assert error.status()["details"] == {}


def test_json_patch_stops_at_the_first_failure_without_partial_result() -> None:
    original = workspace()
    ops = [
        {"op": "replace", "path": "/metadata/labels/env", "value": "dev"},
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
    ]
    with pytest.raises(PatchError):
        apply_json_patch(original, ops)
    assert original == workspace()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"op": "add"}, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        ("add", "json: cannot unmarshal string into Go value of type jsonpatch.Patch"),
        ([1], "json: cannot unmarshal number into Go value of type jsonpatch.Operation"),
        ([["add"]], "json: cannot unmarshal array into Go value of type jsonpatch.Operation"),
    ],
)
def test_json_patch_malformed_is_bad_request(body: Any, detail: str) -> None:
    with pytest.raises(PatchError) as info:
        apply_json_patch(workspace(), body)
    assert (info.value.code, str(info.value), info.value.message) == (400, detail, detail)
    assert info.value.status()["reason"] == "BadRequest"


def test_json_patch_null_body_is_a_no_op() -> None:
    assert apply_json_patch(workspace(), None) == workspace()


# ---------------------------------------------------------------------------
# Strategic merge patch


def smp(patch: Any, obj: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    return apply_strategic_merge_patch(workspace() if obj is None else obj, patch, **kwargs)


def refs(*uids: str) -> list[str]:
    return list(uids)


@pytest.mark.parametrize(
    ("patch", "finalizers"),
    [
        (
            {"metadata": {"finalizers": ["finalizers.tenant.kubesphere.io"]}},
            ["finalizers.tenant.kubesphere.io"],
        ),
        # New items go ahead of the live ones, as kube-apiserver orders them.
        ({"metadata": {"finalizers": ["x"]}}, ["x", "finalizers.tenant.kubesphere.io"]),
        ({"metadata": {"finalizers": ["x", "x"]}}, ["x", "finalizers.tenant.kubesphere.io"]),
        (
            {"metadata": {"finalizers": ["finalizers.tenant.kubesphere.io", "x"]}},
            ["finalizers.tenant.kubesphere.io", "x"],
        ),
        ({"metadata": {"finalizers": []}}, ["finalizers.tenant.kubesphere.io"]),
        ({"metadata": {"finalizers": None}}, None),
        (
            {
                "metadata": {
                    "$deleteFromPrimitiveList/finalizers": ["finalizers.tenant.kubesphere.io"]
                }
            },
            [],
        ),
        (
            {"metadata": {"$deleteFromPrimitiveList/finalizers": ["other"]}},
            ["finalizers.tenant.kubesphere.io"],
        ),
        (
            {
                "metadata": {
                    "finalizers": ["b"],
                    "$deleteFromPrimitiveList/finalizers": ["finalizers.tenant.kubesphere.io"],
                }
            },
            ["b"],
        ),
        (
            {"metadata": {"$deleteFromPrimitiveList/finalizers": "not-a-list"}},
            ["finalizers.tenant.kubesphere.io"],
        ),
        (
            {
                "metadata": {
                    "$setElementOrder/finalizers": ["x", "finalizers.tenant.kubesphere.io"],
                    "finalizers": ["x"],
                }
            },
            ["x", "finalizers.tenant.kubesphere.io"],
        ),
        (
            {
                "metadata": {
                    "$setElementOrder/finalizers": ["finalizers.tenant.kubesphere.io", "x"],
                    "finalizers": ["x"],
                }
            },
            ["finalizers.tenant.kubesphere.io", "x"],
        ),
    ],
)
def test_smp_finalizers_are_a_set(patch: dict[str, Any], finalizers: list[str] | None) -> None:
    assert smp(patch)["metadata"].get("finalizers") == finalizers


def test_smp_set_element_order_reorders_live_list() -> None:
    obj = workspace()
    obj["metadata"]["finalizers"] = ["a", "b", "c"]
    result = smp({"metadata": {"$setElementOrder/finalizers": ["c", "a", "b"]}}, obj)
    assert result["metadata"]["finalizers"] == ["c", "a", "b"]


def test_smp_delete_from_missing_list_adds_nothing() -> None:
    obj = workspace()
    del obj["metadata"]["finalizers"]
    result = smp({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}, obj)
    assert "finalizers" not in result["metadata"]


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([{"uid": "u2", "name": "b2"}], [("u1", "a"), ("u2", "b2")]),
        ([{"uid": "u3", "name": "c", "kind": "C"}], [("u3", "c"), ("u1", "a"), ("u2", "b")]),
        ([{"uid": "u1", "$patch": "delete"}], [("u2", "b")]),
        ([{"uid": "nope", "$patch": "delete"}], [("u1", "a"), ("u2", "b")]),
        ([{"$patch": "replace"}, {"uid": "u9", "name": "z"}], [("u9", "z")]),
        ([{"$patch": "replace"}], []),
        ([{"uid": "u1", "name": None}], [("u1", None), ("u2", "b")]),
        ([], [("u1", "a"), ("u2", "b")]),
    ],
)
def test_smp_owner_references_merge_by_uid(
    items: list[dict[str, Any]], expected: list[tuple[str, Any]]
) -> None:
    result = smp({"metadata": {"ownerReferences": items}})["metadata"]["ownerReferences"]
    assert [(r["uid"], r.get("name")) for r in result] == expected


def test_smp_owner_reference_merge_keeps_other_fields() -> None:
    result = smp({"metadata": {"ownerReferences": [{"uid": "u2", "controller": True}]}})
    assert result["metadata"]["ownerReferences"][1] == {
        "apiVersion": "v1",
        "kind": "B",
        "name": "b",
        "uid": "u2",
        "controller": True,
    }


def test_smp_set_element_order_for_owner_references() -> None:
    patch = {
        "metadata": {
            "$setElementOrder/ownerReferences": [{"uid": "u2"}, {"uid": "u1"}],
            "ownerReferences": [{"uid": "u2", "name": "b2"}],
        }
    }
    result = smp(patch)["metadata"]["ownerReferences"]
    assert [(r["uid"], r["name"]) for r in result] == [("u2", "b2"), ("u1", "a")]


@pytest.mark.parametrize(
    ("patch", "check"),
    [
        (
            {"metadata": {"labels": {"tier": "web"}}},
            lambda o: (
                o["metadata"]["labels"]
                == {"env": "prod", "kubesphere.io/creator": "admin", "tier": "web"}
            ),
        ),
        (
            {"metadata": {"labels": {"env": None}}},
            lambda o: o["metadata"]["labels"] == {"kubesphere.io/creator": "admin"},
        ),
        ({"metadata": {"labels": None}}, lambda o: "labels" not in o["metadata"]),
        (
            {"metadata": {"labels": {"$patch": "replace", "only": "me"}}},
            lambda o: o["metadata"]["labels"] == {"only": "me"},
        ),
        ({"metadata": {"labels": {"$patch": "delete"}}}, lambda o: o["metadata"]["labels"] == {}),
        ({"$patch": "replace", "kind": "X"}, lambda o: o == {"kind": "X"}),
        # Lists without a patch strategy are replaced.
        (
            {"spec": {"placement": {"clusters": [{"name": "m2"}]}}},
            lambda o: o["spec"]["placement"]["clusters"] == [{"name": "m2"}],
        ),
        ({"spec": {"template": "flat"}}, lambda o: o["spec"]["template"] == "flat"),
        (
            {"spec": {"placement": {"clusters": {"name": "x"}}}},
            lambda o: o["spec"]["placement"]["clusters"] == {"name": "x"},
        ),
        # A new value is taken as is, minus nulls and directives.
        (
            {
                "status": {
                    "phase": "Active",
                    "gone": None,
                    "sub": {"$patch": "delete"},
                    "$setElementOrder/x": [],
                }
            },
            lambda o: o["status"] == {"phase": "Active"},
        ),
        ({"status": {"$patch": "delete"}}, lambda o: "status" not in o),
        (
            {"metadata": {"labels": {"new": {"$patch": "replace"}}}},
            lambda o: "new" not in o["metadata"]["labels"],
        ),
        (
            {"spec": {"unknownField": {"x": 1}}},
            lambda o: o["spec"]["unknownField"] == {"kept": True, "x": 1},
        ),
        (
            {"spec": {"template": {"$retainKeys": ["spec"], "spec": {"manager": "x"}}}},
            lambda o: o["spec"]["template"] == {"spec": {"manager": "x"}},
        ),
        (
            {"spec": {"$retainKeys": ["placement"]}},
            lambda o: o["spec"] == {"placement": {"clusters": [{"name": "host"}, {"name": "m1"}]}},
        ),
        ({}, lambda o: o == workspace()),
        (None, lambda o: o == workspace()),
    ],
)
def test_smp_maps_and_directives(patch: Any, check: Any) -> None:
    assert check(smp(patch))


def test_smp_more_merge_lists_can_be_declared() -> None:
    deployment = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "image": "a:1", "env": [{"name": "A", "value": "1"}]},
                        {"name": "side", "image": "s:1"},
                    ]
                }
            }
        }
    }
    keys = {
        ("spec", "template", "spec", "containers"): "name",
        ("spec", "template", "spec", "containers", "env"): "name",
    }
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "image": "a:2", "env": [{"name": "B", "value": "2"}]}
                    ]
                }
            }
        }
    }
    result = apply_strategic_merge_patch(deployment, patch, list_merge_keys=keys)
    containers = result["spec"]["template"]["spec"]["containers"]
    assert containers == [
        {
            "name": "app",
            "image": "a:2",
            "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
        },
        {"name": "side", "image": "s:1"},
    ]
    # Without the declaration the list is replaced.
    replaced = apply_strategic_merge_patch(deployment, patch)
    assert (
        replaced["spec"]["template"]["spec"]["containers"]
        == patch["spec"]["template"]["spec"]["containers"]
    )


@pytest.mark.parametrize(
    ("patch", "code", "detail"),
    [
        ([1], 400, "json: cannot unmarshal array into Go value of type map[string]interface {}"),
        ("x", 400, "json: cannot unmarshal string into Go value of type map[string]interface {}"),
        ({"spec": {"$retainKeys": "placement"}}, 400, "invalid patch format of retainKeys"),
        (
            {"spec": {"$retainKeys": ["placement"], "template": {}}},
            400,
            "invalid patch format of retainKeys",
        ),
        (
            {"metadata": {"ownerReferences": [{"name": "no-uid"}]}},
            500,
            "map: map[name:no-uid] does not contain declared merge key: uid",
        ),
        (
            {"metadata": {"ownerReferences": [{"$patch": "delete", "name": "x"}]}},
            500,
            "map: map[$patch:delete name:x] does not contain declared merge key: uid",
        ),
        (
            {"metadata": {"ownerReferences": [{"$patch": "merge"}]}},
            500,
            "merging lists cannot yet be specified in the patch",
        ),
        (
            {"metadata": {"ownerReferences": [{"$patch": "bogus"}]}},
            500,
            "unknown patch type: bogus in map: map[$patch:bogus]",
        ),
        (
            {"metadata": {"labels": {"$patch": "merge"}}},
            500,
            "unknown patch type: merge in map: map[$patch:merge]",
        ),
        (
            {"metadata": {"ownerReferences": ["u1"]}},
            500,
            "list element types are not identical: [[map[apiVersion:v1 kind:A name:a uid:u1] "
            "map[apiVersion:v1 kind:B name:b uid:u2]] [u1]]",
        ),
        ({"metadata": {"finalizers": [["x"]]}}, 422, "lists of lists are not supported"),
        (
            {"metadata": {"$setElementOrder/finalizers": "x"}},
            500,
            "expected a slice, but received a string",
        ),
    ],
)
def test_smp_refusals(patch: Any, code: int, detail: str) -> None:
    with pytest.raises(PatchError) as info:
        smp(patch)
    assert (info.value.code, str(info.value)) == (code, detail)


def test_smp_internal_error_status_has_no_reason() -> None:
    with pytest.raises(PatchError) as info:
        smp({"metadata": {"ownerReferences": [{"name": "no-uid"}]}})
    status = info.value.status()
    assert status["code"] == 500
    assert "reason" not in status
    assert status["message"] == "map: map[name:no-uid] does not contain declared merge key: uid"


# ---------------------------------------------------------------------------
# Dispatch on Content-Type


@pytest.mark.parametrize(
    ("body", "content_type", "custom", "labels"),
    [
        (
            b'{"metadata":{"labels":{"env":"dev"}}}',
            MERGE_PATCH,
            True,
            {"env": "dev", "kubesphere.io/creator": "admin"},
        ),
        ('{"metadata":{"labels":null}}', MERGE_PATCH + "; charset=utf-8", True, None),
        (
            {"metadata": {"labels": {"x": "1"}}},
            STRATEGIC_MERGE_PATCH,
            False,
            {"env": "prod", "kubesphere.io/creator": "admin", "x": "1"},
        ),
        (
            b'[{"op":"remove","path":"/metadata/labels/env"}]',
            JSON_PATCH,
            True,
            {"kubesphere.io/creator": "admin"},
        ),
        (
            [{"op": "add", "path": "/metadata/labels/z", "value": "9"}],
            JSON_PATCH,
            False,
            {"env": "prod", "kubesphere.io/creator": "admin", "z": "9"},
        ),
        (
            b"metadata:\n  labels:\n    env: qa\n",
            APPLY_PATCH_YAML,
            True,
            {"env": "qa", "kubesphere.io/creator": "admin"},
        ),
        (b"null", STRATEGIC_MERGE_PATCH, False, {"env": "prod", "kubesphere.io/creator": "admin"}),
    ],
)
def test_apply_patch_dispatch(
    body: Any, content_type: str, custom: bool, labels: dict[str, str] | None
) -> None:
    result = apply_patch(workspace(), body, content_type, custom_resource=custom)
    assert result["metadata"].get("labels") == labels


def test_apply_yaml_on_built_in_merges_finalizers_and_on_custom_replaces_lists() -> None:
    body = "metadata:\n  finalizers: [x]\nspec:\n  placement:\n    clusters: [{name: m2}]\n"
    builtin = apply_patch(workspace(), body, APPLY_PATCH_YAML, custom_resource=False)
    assert builtin["metadata"]["finalizers"] == ["x", "finalizers.tenant.kubesphere.io"]
    custom = apply_patch(workspace(), body, APPLY_PATCH_YAML, custom_resource=True)
    assert custom["metadata"]["finalizers"] == ["x"]
    assert custom["spec"]["placement"]["clusters"] == [{"name": "m2"}]


def test_apply_yaml_creates_from_empty_object() -> None:
    body = b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n"
    assert apply_patch({}, body, APPLY_PATCH_YAML, custom_resource=False) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "demo"},
    }
    assert apply_patch({}, b"", APPLY_PATCH_YAML, custom_resource=True) == {}


@pytest.mark.parametrize(
    ("content_type", "custom", "accepted"),
    [
        (
            STRATEGIC_MERGE_PATCH,
            True,
            "application/json-patch+json, application/merge-patch+json, "
            "application/apply-patch+yaml",
        ),
        (
            "application/json",
            True,
            "application/json-patch+json, application/merge-patch+json, "
            "application/apply-patch+yaml",
        ),
        (
            "text/plain",
            False,
            "application/json-patch+json, application/merge-patch+json, "
            "application/strategic-merge-patch+json, application/apply-patch+yaml",
        ),
        # Only what follows ';' is dropped; a space before it is kept, as on the server.
        (
            MERGE_PATCH + " ;charset=utf-8",
            True,
            "application/json-patch+json, application/merge-patch+json, "
            "application/apply-patch+yaml",
        ),
    ],
)
def test_apply_patch_unsupported_media_type(content_type: str, custom: bool, accepted: str) -> None:
    with pytest.raises(PatchError) as info:
        apply_patch(workspace(), b"{}", content_type, custom_resource=custom)
    message = (
        "the body of the request was in an unknown format - accepted media types include: "
        + accepted
    )
    assert (info.value.code, str(info.value)) == (415, message)
    assert info.value.status()["reason"] == "UnsupportedMediaType"


def test_supported_patch_types() -> None:
    assert STRATEGIC_MERGE_PATCH not in supported_patch_types(custom_resource=True)
    assert STRATEGIC_MERGE_PATCH in supported_patch_types(custom_resource=False)


@pytest.mark.parametrize(
    ("body", "content_type", "detail_start"),
    [
        (b"{not json", MERGE_PATCH, "Invalid JSON Patch"),
        (b"{not json", JSON_PATCH, "Expecting property name"),
        (b"{not json", STRATEGIC_MERGE_PATCH, "Expecting property name"),
        (b"\xff", STRATEGIC_MERGE_PATCH, "'utf-8' codec"),
        (b"a: [unclosed", APPLY_PATCH_YAML, "error decoding YAML: "),
        (b"- a\n- b\n", APPLY_PATCH_YAML, "error decoding YAML: json: cannot unmarshal array"),
        (b'{"op":"add"}', JSON_PATCH, "json: cannot unmarshal object"),
        (b"[1]", STRATEGIC_MERGE_PATCH, "json: cannot unmarshal array"),
    ],
)
def test_apply_patch_undecodable_body_is_bad_request(
    body: bytes, content_type: str, detail_start: str
) -> None:
    with pytest.raises(PatchError) as info:
        apply_patch(workspace(), body, content_type, custom_resource=False)
    assert info.value.code == 400
    assert str(info.value).startswith(detail_start)


# ---------------------------------------------------------------------------
# Inputs are never mutated


@pytest.mark.parametrize(
    ("apply", "patch"),
    [
        (
            apply_merge_patch,
            {"metadata": {"labels": {"env": None, "n": {"x": None}}}, "spec": {"placement": None}},
        ),
        (
            apply_json_patch,
            [
                {"op": "add", "path": "/metadata/labels/n", "value": {"deep": [1]}},
                {"op": "remove", "path": "/metadata/finalizers/0"},
                {
                    "op": "move",
                    "from": "/spec/placement/clusters/0",
                    "path": "/spec/placement/clusters/-",
                },
                {"op": "copy", "from": "/spec/unknownField", "path": "/spec/copy"},
                {"op": "replace", "path": "/spec/template/spec/manager", "value": "x"},
            ],
        ),
        (
            apply_strategic_merge_patch,
            {
                "metadata": {
                    "labels": {"env": None, "$patch": "replace", "q": "1"},
                    "finalizers": ["x"],
                    "$deleteFromPrimitiveList/finalizers": ["finalizers.tenant.kubesphere.io"],
                    "$setElementOrder/ownerReferences": [{"uid": "u2"}, {"uid": "u1"}],
                    "ownerReferences": [
                        {"uid": "u1", "$patch": "delete"},
                        {"uid": "u2", "name": "n"},
                    ],
                },
                "spec": {
                    "$retainKeys": ["placement", "template"],
                    "template": {"spec": {"manager": None}},
                },
                "status": {"a": None, "b": {"$patch": "delete"}},
            },
        ),
    ],
)
def test_inputs_are_not_mutated(apply: Any, patch: Any) -> None:
    obj = workspace()
    obj_before = copy.deepcopy(obj)
    patch_before = copy.deepcopy(patch)
    result = apply(obj, patch)
    assert obj == obj_before
    assert patch == patch_before
    # The result shares nothing with the inputs either.
    result["metadata"].setdefault("labels", {})["mutated"] = "yes"
    result["spec"]["mutated"] = True
    assert obj == obj_before
    assert patch == patch_before


def test_apply_patch_does_not_mutate_decoded_body() -> None:
    obj = workspace()
    body = {"metadata": {"finalizers": ["x"], "labels": {"env": None}}}
    before = json.dumps(body, sort_keys=True)
    apply_patch(obj, body, STRATEGIC_MERGE_PATCH, custom_resource=False)
    assert json.dumps(body, sort_keys=True) == before
    assert obj == workspace()
