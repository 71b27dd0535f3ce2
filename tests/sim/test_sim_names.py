"""Checks k8s.sim.names against kube-apiserver's name and label rules: what is
accepted, the exact messages for what is not (they reach users through
ksmc-bot), field-error formatting, and generateName."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import pytest

from k8s.sim import names
from k8s.sim.names import FieldError

LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  "
    "or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("kubesphere-system", []),
        ("a", []),
        ("0", []),
        ("123-abc", []),
        ("a" * 63, []),
        ("Ns_1", [LABEL_MSG]),
        ("", [LABEL_MSG]),
        ("-a", [LABEL_MSG]),
        ("a-", [LABEL_MSG]),
        ("my.ns", ["must not contain dots"]),
        ("a" * 64, ["must be no more than 63 characters"]),
        ("A" * 64, ["must be no more than 63 characters", LABEL_MSG]),
        ("a\n", [LABEL_MSG]),  # Go's $ does not match before a trailing newline
    ],
)
def test_dns1123_label(value: str, expected: list[str]) -> None:
    assert names.dns1123_label_errors(value) == expected
    assert names.is_dns1123_label(value) is (not expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("example.com", []),
        ("host.cluster.local", []),
        ("a", []),
        ("a." * 126 + "a", []),  # 253 characters
        ("Example.com", [SUBDOMAIN_MSG]),
        ("a..b", [SUBDOMAIN_MSG]),
        (".a", [SUBDOMAIN_MSG]),
        ("a_b", [SUBDOMAIN_MSG]),
        ("a" * 254, ["must be no more than 253 characters"]),
    ],
)
def test_dns1123_subdomain(value: str, expected: list[str]) -> None:
    assert names.dns1123_subdomain_errors(value) == expected
    assert names.is_dns1123_subdomain(value) is (not expected)


DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("my-svc", []),
        ("a1", []),
        ("1a", [DNS1035_MSG]),
        ("a-", [DNS1035_MSG]),
        ("a" * 64, ["must be no more than 63 characters"]),
    ],
)
def test_dns1035_label(value: str, expected: list[str]) -> None:
    assert names.dns1035_label_errors(value) == expected
    assert names.is_dns1035_label(value) is (not expected)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("app", []),
        ("kubesphere.io/workspace", []),
        ("cluster-role.kubesphere.io/host", []),
        ("MyName", []),
        ("my_name.x", []),
        ("app:monolith", [NAME_PART_MSG]),
        ("", ["name part must be non-empty", NAME_PART_MSG]),
        ("/a", ["prefix part must be non-empty"]),
        ("a/", ["name part must be non-empty", NAME_PART_MSG]),
        ("Bad_/x", ["prefix part " + SUBDOMAIN_MSG]),
        ("a" * 64, ["name part must be no more than 63 characters"]),
        (
            "a/b/c",
            [
                "a valid label key must consist of alphanumeric characters, '-', '_' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
                "or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?"
                "[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. "
                "'example.com/MyName')"
            ],
        ),
    ],
)
def test_qualified_name(key: str, expected: list[str]) -> None:
    assert names.qualified_name_errors(key) == expected
    assert names.is_qualified_name(key) is (not expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        ("prod", []),
        ("a.b-c_d", []),
        ("a" * 63, []),
        ("a b", [LABEL_VALUE_MSG]),
        ("-a", [LABEL_VALUE_MSG]),
        ("a" * 64, ["must be no more than 63 characters"]),
        ("é" * 32, ["must be no more than 63 characters", LABEL_VALUE_MSG]),  # 64 bytes
    ],
)
def test_label_value(value: str, expected: list[str]) -> None:
    assert names.label_value_errors(value) == expected
    assert names.is_valid_label_value(value) is (not expected)


def test_validate_labels_reports_keys_and_values_as_causes() -> None:
    assert names.validate_labels({"ok": "fine", "kubesphere.io/workspace": ""}) == []
    assert names.validate_labels(None) == []
    assert names.validate_labels({"a b": "x y"}) == [
        f'Invalid value: "a b": {NAME_PART_MSG}',
        f'Invalid value: "x y": {LABEL_VALUE_MSG}',
    ]
    (error,) = names.label_field_errors({"k": "bad value"})
    assert str(error) == f'metadata.labels: Invalid value: "bad value": {LABEL_VALUE_MSG}'
    assert error.cause() == {
        "reason": "FieldValueInvalid",
        "message": f'Invalid value: "bad value": {LABEL_VALUE_MSG}',
        "field": "metadata.labels",
    }


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (
            FieldError.invalid("metadata.name", "Ns_1", "bad"),
            'metadata.name: Invalid value: "Ns_1": bad',
        ),
        (FieldError.invalid("spec.n", 3, "too big"), "spec.n: Invalid value: 3: too big"),
        (FieldError.invalid("spec.b", True, "no"), "spec.b: Invalid value: true: no"),
        (
            FieldError.invalid("values", ["a", "<b>"], "x"),
            'values: Invalid value: ["a","\\u003cb\\u003e"]: x',
        ),
        (FieldError.invalid("values", None, "x"), "values: Invalid value: null: x"),
        (FieldError.invalid("f", 'a"b\\c\n\x01', "x"), 'f: Invalid value: "a\\"b\\\\c\\n\\x01": x'),
        (
            FieldError.required("metadata.name", "name or generateName is required"),
            "metadata.name: Required value: name or generateName is required",
        ),
        (
            FieldError.forbidden("metadata.namespace", "not allowed on this type"),
            "metadata.namespace: Forbidden: not allowed on this type",
        ),
        (
            FieldError("FieldValueNotSupported", "op", "x", 'supported values: "a"'),
            'op: Unsupported value: "x": supported values: "a"',
        ),
    ],
)
def test_field_error_formatting(error: FieldError, text: str) -> None:
    assert str(error) == text


def test_format_aggregate() -> None:
    assert names.format_aggregate([]) == ""
    assert names.format_aggregate(["a"]) == "a"
    assert names.format_aggregate(["a", "b", "a"]) == "[a, b]"


@pytest.mark.parametrize(
    ("name", "generate", "fn", "expected"),
    [
        ("ns-1", "", names.name_is_dns_label, []),
        (
            "Ns_1",
            "",
            names.name_is_dns_label,
            [f'metadata.name: Invalid value: "Ns_1": {LABEL_MSG}'],
        ),
        (
            "",
            "",
            names.name_is_dns_subdomain,
            ["metadata.name: Required value: name or generateName is required"],
        ),
        ("a.b", "", names.name_is_dns_subdomain, []),
        # A generateName may end in a dash: the name generated from it will not.
        ("ws-abcde", "ws-", names.name_is_dns_label, []),
        (
            "x",
            "Ws-",
            names.name_is_dns_label,
            [f'metadata.generateName: Invalid value: "Ws-": {LABEL_MSG}'],
        ),
    ],
)
def test_object_name_field_errors(
    name: str, generate: str, fn: Callable[[str, bool], list[str]], expected: list[str]
) -> None:
    assert [str(e) for e in names.object_name_field_errors(name, generate, fn)] == expected


@pytest.mark.parametrize(
    ("name", "prefix", "expected"),
    [
        ("ok", False, []),
        (".", False, ["may not be '.'"]),
        ("..", False, ["may not be '..'"]),
        (".", True, []),
        ("a/b%c", False, ["may not contain '/'", "may not contain '%'"]),
    ],
)
def test_path_segment_name_errors(name: str, prefix: bool, expected: list[str]) -> None:
    assert names.path_segment_name_errors(name, prefix) == expected


def test_generate_name_appends_five_kubernetes_characters() -> None:
    name = names.generate_name("ws-")
    assert re.fullmatch(r"ws-[bcdfghjklmnpqrstvwxz2456789]{5}", name)
    assert names.is_dns1123_label(name)


def test_generate_name_truncates_long_prefix_to_fit_63() -> None:
    name = names.generate_name("p" * 80)
    assert len(name) == 63
    assert name.startswith("p" * 58)


def test_generate_name_is_deterministic_with_a_seeded_rng() -> None:
    first = names.generate_name("a-", random.Random(7))
    assert first == names.generate_name("a-", random.Random(7))
    assert len({names.generate_name("a-") for _ in range(50)}) > 1
