"""Checks k8s.sim.selectors against kube-apiserver: every label-selector
operator and spelling the real parser accepts, what each matches (including
objects that lack the key), the server's exact error messages, field selectors
with their escapes and field-label check, and metav1.LabelSelector conversion."""

from __future__ import annotations

from typing import Any

import pytest

from k8s.sim.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    label_selector_from_match,
    parse_field_selector,
    parse_label_selector,
)

KEY_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  "
    "or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)

HOST = {"cluster-role.kubesphere.io/host": "", "env": "prod", "tier": "web"}
MEMBER = {"kubesphere.io/workspace": "ws1", "env": "dev", "replicas": "3"}
BARE: dict[str, str] = {}


@pytest.mark.parametrize(
    ("selector", "host", "member", "bare"),
    [
        ("", True, True, True),
        ("   ", True, True, True),
        ("env=prod", True, False, False),
        ("env==prod", True, False, False),
        ("env = prod", True, False, False),
        ("env!=prod", False, True, True),  # != matches objects without the key
        ("env in (prod,dev)", True, True, False),
        ("env in (prod, dev )", True, True, False),
        ("env notin (prod)", False, True, True),  # notin matches objects without the key
        ("env notin (prod,dev)", False, False, True),
        ("env", True, True, False),
        ("!env", False, False, True),
        ("! env", False, False, True),
        ("cluster-role.kubesphere.io/host", True, False, False),
        ("!cluster-role.kubesphere.io/host", False, True, True),
        ("kubesphere.io/workspace=ws1", False, True, False),
        ("kubesphere.io/workspace in (ws1,ws2),env", False, True, False),
        ("cluster-role.kubesphere.io/host=", True, False, False),  # empty value
        ("cluster-role.kubesphere.io/host in ()", True, False, False),  # () is {""}
        ("env in (,prod)", True, False, False),
        ("env in (dev,)", False, True, False),
        ("env=prod,tier=web", True, False, False),
        ("env=prod,tier=db", False, False, False),
        ("env=prod\t,\ntier in (web)", True, False, False),
        ("replicas>2", False, True, False),
        ("replicas<3", False, False, False),
        ("replicas<4", False, True, False),
        ("env>1", False, False, False),  # a non-integer label never compares
        ("in in (in)", False, False, False),  # "in" is an ordinary key and value
        ("notin=x", False, False, False),
        ("env=prod\0garbage", True, False, False),  # NUL ends the input
    ],
)
def test_label_selector_matches(selector: str, host: bool, member: bool, bare: bool) -> None:
    parsed = parse_label_selector(selector)
    assert [parsed.matches(HOST), parsed.matches(MEMBER), parsed.matches(BARE)] == [
        host,
        member,
        bare,
    ]


def test_label_selector_matches_none_labels() -> None:
    assert parse_label_selector("!a").matches(None)
    assert not parse_label_selector("a").matches(None)


@pytest.mark.parametrize(
    ("selector", "canonical"),
    [
        ("", ""),
        ("b=1, a==2", "a==2,b=1"),
        ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
        ("!a, b!=c", "!a,b!=c"),
        ("n>1,m<2", "m<2,n>1"),
        ("a=", "a="),
    ],
)
def test_label_selector_string_form(selector: str, canonical: str) -> None:
    assert str(parse_label_selector(selector)) == canonical


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("a=b,", "found '', expected: identifier after ','"),
        ("a,,b", "found ',', expected: identifier after ','"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("=a", "found '=', expected: !, identifier, or 'end of string'"),
        ("a in b", "unable to parse requirement: found 'b' expected: '('"),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
        ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("a in (b,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
        ("a=(b)", "unable to parse requirement: found '(', expected: identifier"),
        ("a===b", "unable to parse requirement: found '=', expected: identifier"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("!=a", "found '!=', expected: !, identifier, or 'end of string'"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        (
            "a>b",
            'unable to parse requirement: values[0]: Invalid value: "b": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "app:monolith",
            f'unable to parse requirement: <nil>: Invalid value: "app:monolith": {KEY_NAME_MSG}',
        ),
        (
            "env=prod@x",
            f'unable to parse requirement: values[0][env]: Invalid value: "prod@x": {VALUE_MSG}',
        ),
        (
            "env in (b@d,a)",
            f'unable to parse requirement: values[1][env]: Invalid value: "b@d": {VALUE_MSG}',
        ),
        (
            "k=" + "v" * 64,
            'unable to parse requirement: values[0][k]: Invalid value: "'
            + "v" * 64
            + '": must be no more than 63 characters',
        ),
    ],
)
def test_label_selector_errors(selector: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_label_selector(selector)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("match", "host", "member", "bare"),
    [
        ({}, True, True, True),
        ({"matchLabels": {}, "matchExpressions": []}, True, True, True),
        ({"matchLabels": {"env": "prod"}}, True, False, False),
        ({"matchLabels": {"cluster-role.kubesphere.io/host": ""}}, True, False, False),
        (
            {"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]},
            False,
            True,
            False,
        ),
        (
            {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]},
            True,
            False,
            True,
        ),
        ({"matchExpressions": [{"key": "env", "operator": "Exists"}]}, True, True, False),
        ({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}, False, False, True),
        (
            {
                "matchLabels": {"env": "dev"},
                "matchExpressions": [{"key": "kubesphere.io/workspace", "operator": "Exists"}],
            },
            False,
            True,
            False,
        ),
    ],
)
def test_label_selector_from_match(
    match: dict[str, Any], host: bool, member: bool, bare: bool
) -> None:
    selector = label_selector_from_match(match)
    assert [selector.matches(HOST), selector.matches(MEMBER), selector.matches(BARE)] == [
        host,
        member,
        bare,
    ]


def test_nil_label_selector_matches_nothing() -> None:
    selector = label_selector_from_match(None)
    assert not selector.matches(HOST)
    assert not selector.matches(BARE)
    assert not selector.empty()
    assert label_selector_from_match({}).empty()
    assert LabelSelector().empty()


@pytest.mark.parametrize(
    ("match", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
            '"Gt" is not a valid label selector operator',
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            'values: Invalid value: ["x"]: values set must be empty for exists and does not exist',
        ),
        (
            {"matchLabels": {"a": True}},
            "json: cannot unmarshal bool into Go struct field LabelSelector.matchLabels of type "
            "string",
        ),
        (
            {"matchLabels": {"a b": "c"}},
            f'key: Invalid value: "a b": {KEY_NAME_MSG}',
        ),
        (
            {"matchLabels": {"a b": "c d"}},
            f'[key: Invalid value: "a b": {KEY_NAME_MSG}, '
            f'values[0][a b]: Invalid value: "c d": {VALUE_MSG}]',
        ),
    ],
)
def test_label_selector_from_match_errors(match: dict[str, Any], message: str) -> None:
    with pytest.raises(SelectorError) as info:
        label_selector_from_match(match)
    assert str(info.value) == message


OBJ = {"metadata": {"name": "ws-a", "namespace": "kubesphere-system"}}
CLUSTER_SCOPED = {"metadata": {"name": "host"}}


@pytest.mark.parametrize(
    ("selector", "obj", "cluster"),
    [
        ("", True, True),
        ("metadata.name=ws-a", True, False),
        ("metadata.name==ws-a", True, False),
        ("metadata.name!=ws-a", False, True),
        ("metadata.name=host", False, True),
        ("metadata.namespace=kubesphere-system", True, False),
        ("metadata.namespace=", False, True),  # cluster-scoped objects have no namespace
        ("metadata.namespace!=", True, False),
        ("metadata.name=ws-a,metadata.namespace=kubesphere-system", True, False),
        ("metadata.name=ws-a,metadata.namespace=other", False, False),
        ("metadata.name=ws-a,", True, False),  # empty terms are skipped
    ],
)
def test_field_selector_matches(selector: str, obj: bool, cluster: bool) -> None:
    parsed = parse_field_selector(selector)
    assert [parsed.matches(OBJ), parsed.matches(CLUSTER_SCOPED)] == [obj, cluster]


@pytest.mark.parametrize(
    ("selector", "name", "matches"),
    [
        ("metadata.name=a\\,b", "a,b", True),
        ("metadata.name=a\\=b", "a=b", True),
        ("metadata.name=a\\\\b", "a\\b", True),
        ("metadata.name!=a\\,b", "a,b", False),
    ],
)
def test_field_selector_escapes(selector: str, name: str, matches: bool) -> None:
    assert parse_field_selector(selector).matches({"metadata": {"name": name}}) is matches


def test_field_selector_string_form_escapes_values() -> None:
    parsed = parse_field_selector("metadata.namespace=ns,metadata.name=a\\,b")
    assert str(parsed) == "metadata.name=a\\,b,metadata.namespace=ns"
    assert isinstance(parsed, FieldSelector)
    assert parse_field_selector("").empty()


def test_field_selector_extra_supported_fields() -> None:
    parsed = parse_field_selector("status.phase=Active", supported=["status.phase"])
    assert parsed.matches({"status": {"phase": "Active"}})
    assert not parsed.matches({"status": {"phase": "Terminating"}})
    assert not parsed.matches({})


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("spec.foo=bar", "field label not supported: spec.foo"),
        ("metadata.name = a", "field label not supported: metadata.name "),  # no trimming
        ("metadata.labels=x", "field label not supported: metadata.labels"),
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        (
            "metadata.name=a,oops",
            "invalid selector: 'metadata.name=a,oops'; can't understand 'oops'",
        ),
        ("metadata.name==a=b", "invalid field selector: unescaped character in value: 61"),
        ("metadata.name=a\\x", "invalid field selector: invalid escape sequence: \\x"),
        ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_field_selector_errors(selector: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_field_selector(selector)
    assert str(info.value) == message
