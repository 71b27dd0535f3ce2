"""Name, label and field-error rules of kube-apiserver, with its exact messages.

The simulator must reject what a real API server rejects and say it the way the
real one says it, because ksmc-bot shows those messages to people in Slack and
its tests compare them. The rules and wording follow k8s.io/apimachinery
(`pkg/util/validation`, `pkg/api/validate/content`, `pkg/api/validation`) as of
Kubernetes 1.34; releases before it word a label key with two or more slashes as
"a qualified name ..." instead of "a valid label key ..." and do not give the
shorter "must not contain dots" message for a DNS label that is a valid
subdomain.

Everything here is a pure function over strings and mappings.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DNS1035_LABEL_MAX_LENGTH",
    "DNS1123_LABEL_MAX_LENGTH",
    "DNS1123_SUBDOMAIN_MAX_LENGTH",
    "LABEL_VALUE_MAX_LENGTH",
    "FieldError",
    "dns1035_label_errors",
    "dns1123_label_errors",
    "dns1123_subdomain_errors",
    "format_aggregate",
    "generate_name",
    "go_quote",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_qualified_name",
    "is_valid_label_value",
    "label_field_errors",
    "label_value_errors",
    "name_is_dns_label",
    "name_is_dns_subdomain",
    "object_name_field_errors",
    "path_segment_name_errors",
    "qualified_name_errors",
    "validate_labels",
]

DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
DNS1035_LABEL_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63
_LABEL_KEY_NAME_MAX_LENGTH = 63

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_KEY_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_FMT = "(" + _LABEL_KEY_FMT + ")?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character"
)

_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL_FMT)
_LABEL_KEY_RE = re.compile(_LABEL_KEY_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)

# k8s.io/apimachinery/pkg/util/rand leaves out vowels and easily confused digits
# so that generated names never spell words.
_GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_GENERATE_NAME_RANDOM_LENGTH = 5
_GENERATE_NAME_MAX_BASE = 63 - _GENERATE_NAME_RANDOM_LENGTH


def _byte_len(s: str) -> int:
    # Go measures strings in bytes; a multi-byte character counts more than once.
    return len(s.encode("utf-8"))


def _max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # Mirrors validation.RegexError, including its double space before " or ".
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    out = msg + " (e.g. "
    for i, example in enumerate(examples):
        if i > 0:
            out += " or "
        out += f"'{example}', "
    return out + f"regex used for validation is '{fmt}')"


def dns1123_label_errors(value: str) -> list[str]:
    """validation.IsDNS1123Label: the reasons `value` is not an RFC 1123 label."""
    errs: list[str] = []
    if _byte_len(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(_max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1123_LABEL_RE.fullmatch(value):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(value):
            # A valid subdomain of valid length can only fail as a label by its dots.
            errs.append("must not contain dots")
        else:
            errs.append(_regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def dns1123_subdomain_errors(value: str) -> list[str]:
    """validation.IsDNS1123Subdomain: the reasons `value` is not an RFC 1123 subdomain."""
    errs: list[str] = []
    if _byte_len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(_max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def dns1035_label_errors(value: str) -> list[str]:
    """validation.IsDNS1035Label (Service names): the reasons `value` is not one."""
    errs: list[str] = []
    if _byte_len(value) > DNS1035_LABEL_MAX_LENGTH:
        errs.append(_max_len_error(DNS1035_LABEL_MAX_LENGTH))
    if not _DNS1035_LABEL_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_dns1123_label(value: str) -> bool:
    return not dns1123_label_errors(value)


def is_dns1123_subdomain(value: str) -> bool:
    return not dns1123_subdomain_errors(value)


def is_dns1035_label(value: str) -> bool:
    return not dns1035_label_errors(value)


def qualified_name_errors(value: str) -> list[str]:
    """validation.IsQualifiedName: the rules for label keys (and annotation keys,
    finalizer names): an optional DNS-subdomain prefix and '/', then a name of at
    most 63 characters."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in dns1123_subdomain_errors(prefix))
    else:
        return [
            "a valid label key "
            + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif _byte_len(name) > _LABEL_KEY_NAME_MAX_LENGTH:
        errs.append("name part " + _max_len_error(_LABEL_KEY_NAME_MAX_LENGTH))
    if not _LABEL_KEY_RE.fullmatch(name):
        errs.append(
            "name part "
            + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def is_qualified_name(value: str) -> bool:
    return not qualified_name_errors(value)


def label_value_errors(value: str) -> list[str]:
    """validation.IsValidLabelValue: empty, or at most 63 alphanumerics and '-_.'
    that start and end alphanumeric."""
    errs: list[str] = []
    if _byte_len(value) > LABEL_VALUE_MAX_LENGTH:
        errs.append(_max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(
            _regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return errs


def is_valid_label_value(value: str) -> bool:
    return not label_value_errors(value)


def path_segment_name_errors(name: str, prefix: bool = False) -> list[str]:
    """path.IsValidPathSegmentName (or ...Prefix): what may not appear in a name
    that becomes a URL path segment. The REST layer checks it before anything
    else and answers 400 `Name parameter invalid: "<name>": <msgs joined by ";">`."""
    errs: list[str] = []
    if not prefix and name in (".", ".."):
        errs.append(f"may not be '{name}'")
    for ch in ("/", "%"):
        if ch in name:
            errs.append(f"may not contain '{ch}'")
    return errs


def _mask_trailing_dash(name: str) -> str:
    # apimachinery replaces the last *two* characters of a dash-ending prefix with
    # "a"; the length guard is the one older releases had (newer ones panic on "-").
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_is_dns_label(name: str, prefix: bool = False) -> list[str]:
    """ValidateNameFunc for names that must be RFC 1123 labels (namespaces).
    `prefix` is true for a generateName, whose trailing dash is allowed."""
    if prefix:
        name = _mask_trailing_dash(name)
    return dns1123_label_errors(name)


def name_is_dns_subdomain(name: str, prefix: bool = False) -> list[str]:
    """ValidateNameFunc for names that must be RFC 1123 subdomains (most kinds,
    and every custom resource)."""
    if prefix:
        name = _mask_trailing_dash(name)
    return dns1123_subdomain_errors(name)


def go_quote(s: str) -> str:
    """Go's %q / strconv.Quote, which field errors use to show a bad string."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}

_ERROR_TYPE_TEXT = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "FieldValueTooFew": "Too few",
    "FieldValueTooShort": "Too short",
    "InternalError": "Internal error",
    "FieldValueTypeInvalid": "Invalid value",
}
# These types print no bad value, as field.Error.ErrorBody does.
_TYPES_WITHOUT_VALUE = frozenset(
    {
        "FieldValueRequired",
        "FieldValueForbidden",
        "FieldValueTooLong",
        "FieldValueTooShort",
        "InternalError",
    }
)


def _go_value(value: Any) -> str:
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    # Go falls back to json.Marshal, which escapes HTML-significant characters.
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@dataclass(frozen=True)
class FieldError:
    """One field.Error: `str()` gives exactly what kube-apiserver prints, e.g.
    `metadata.name: Invalid value: "Ns_1": a lowercase RFC 1123 label ...`.

    `type` is the machine-readable cause type (`FieldValueInvalid`, ...), which a
    Status puts in `details.causes[].reason`; `field` is `details.causes[].field`.
    """

    type: str
    field: str
    bad_value: Any
    detail: str = ""

    def body(self) -> str:
        """The message without the field name, as in `details.causes[].message`."""
        text = _ERROR_TYPE_TEXT.get(self.type, f"<unknown error {go_quote(self.type)}>")
        if self.type not in _TYPES_WITHOUT_VALUE:
            text += ": " + _go_value(self.bad_value)
        if self.detail:
            text += ": " + self.detail
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"

    def cause(self) -> dict[str, str]:
        """This error as a metav1.StatusCause."""
        return {"reason": self.type, "message": self.body(), "field": self.field}

    @classmethod
    def invalid(cls, field: str, value: Any, detail: str) -> FieldError:
        return cls("FieldValueInvalid", field, value, detail)

    @classmethod
    def required(cls, field: str, detail: str = "") -> FieldError:
        return cls("FieldValueRequired", field, "", detail)

    @classmethod
    def forbidden(cls, field: str, detail: str) -> FieldError:
        return cls("FieldValueForbidden", field, "", detail)


def format_aggregate(errors: Iterable[object]) -> str:
    """utilerrors.Aggregate.Error(): one message as is, several deduplicated and
    shown as `[a, b]`. kube-apiserver's 422 message is `<Kind> "<name>" is
    invalid: ` followed by this."""
    seen: list[str] = []
    for err in errors:
        msg = str(err)
        if msg not in seen:
            seen.append(msg)
    if len(seen) <= 1:
        return seen[0] if seen else ""
    return "[" + ", ".join(seen) + "]"


def label_field_errors(
    labels: Mapping[str, str] | None, path: str = "metadata.labels"
) -> list[FieldError]:
    """ValidateLabels: one error per broken rule, keys and values reported at the
    labels map itself, the way kube-apiserver reports them."""
    errs: list[FieldError] = []
    for key, value in (labels or {}).items():
        errs.extend(FieldError.invalid(path, key, msg) for msg in qualified_name_errors(key))
        errs.extend(FieldError.invalid(path, value, msg) for msg in label_value_errors(value))
    return errs


def validate_labels(labels: Mapping[str, str] | None) -> list[str]:
    """Why kube-apiserver refuses these labels on create or update (422), one
    message per broken rule, each without its field (always `metadata.labels`),
    as a Status cause carries it: `Invalid value: "a b": name part must ...`.
    `label_field_errors` gives the same as FieldErrors."""
    return [e.body() for e in label_field_errors(labels)]


def object_name_field_errors(
    name: str,
    generate_name: str = "",
    name_fn: Callable[[str, bool], list[str]] = name_is_dns_subdomain,
    path: str = "metadata",
) -> list[FieldError]:
    """The name part of ValidateObjectMetaAccessor: generateName and name checked
    with `name_fn` (use `name_is_dns_label` for namespaces)."""
    errs: list[FieldError] = []
    if generate_name:
        errs.extend(
            FieldError.invalid(f"{path}.generateName", generate_name, msg)
            for msg in name_fn(generate_name, True)
        )
    if not name:
        errs.append(FieldError.required(f"{path}.name", "name or generateName is required"))
    else:
        errs.extend(FieldError.invalid(f"{path}.name", name, msg) for msg in name_fn(name, False))
    return errs


def generate_name(prefix: str, rng: random.Random | None = None) -> str:
    """metadata.generateName: the prefix, cut to 58 characters so the result fits
    63, followed by five random characters from Kubernetes' alphabet."""
    chooser = rng if rng is not None else _SYSTEM_RANDOM
    base = prefix[:_GENERATE_NAME_MAX_BASE]
    suffix = "".join(
        chooser.choice(_GENERATE_NAME_ALPHABET) for _ in range(_GENERATE_NAME_RANDOM_LENGTH)
    )
    return base + suffix


_SYSTEM_RANDOM = random.SystemRandom()
