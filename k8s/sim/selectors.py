"""Label and field selectors, parsed and matched the way kube-apiserver does.

ksmc-bot lists objects with `labelSelector`/`fieldSelector` (through the
official client and kubectl), and KubeSphere objects carry metav1.LabelSelector
values (placement.clusterSelector). The simulator has to give the same answers
as a real API server, including for odd spellings, and must refuse a bad
selector with the server's own words (the server answers 400 BadRequest with the
SelectorError's message).

The label-selector grammar, lexer and messages follow
k8s.io/apimachinery/pkg/labels/selector.go; field selectors follow
pkg/fields/selector.go plus the field-label check every resource applies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from k8s.sim.names import FieldError, format_aggregate, label_value_errors, qualified_name_errors

__all__ = [
    "DEFAULT_FIELD_LABELS",
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "SelectorError",
    "label_selector_from_match",
    "parse_field_selector",
    "parse_label_selector",
]


class SelectorError(ValueError):
    """A selector kube-apiserver would refuse with 400 BadRequest; `str()` is the
    server's message."""


# selection.Operator values, as Requirement.String() and the API know them.
EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
IN = "in"
NOT_IN = "notin"
EXISTS = "exists"
DOES_NOT_EXIST = "!"
GREATER_THAN = "gt"
LESS_THAN = "lt"

_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)
_VALID_OPERATORS = (*_BINARY_OPERATORS, EXISTS, DOES_NOT_EXIST)
_INT64 = re.compile(r"[+-]?[0-9]+")


def _parse_int64(s: str) -> int | None:
    # strconv.ParseInt(s, 10, 64): optional sign, decimal digits, 64-bit range.
    if not _INT64.fullmatch(s):
        return None
    value = int(s)
    if not -(2**63) <= value < 2**63:
        return None
    return value


@dataclass(frozen=True)
class Requirement:
    """One `key op values` term of a label selector (labels.Requirement)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            # A missing key satisfies != and notin, as in Kubernetes.
            return self.key not in labels or labels[self.key] not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if op in (GREATER_THAN, LESS_THAN):
            if self.key not in labels or len(self.values) != 1:
                return False
            have = _parse_int64(labels[self.key])
            want = _parse_int64(self.values[0])
            if have is None or want is None:
                return False
            return have > want if op == GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        values = ",".join(sorted(self.values))
        if op in (IN, NOT_IN):
            return f"{self.key} {op} ({values})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(op, op)
        return f"{self.key}{symbol}{values}"


@dataclass(frozen=True)
class LabelSelector:
    """An AND of requirements. No requirements matches everything;
    `matches_nothing` is labels.Nothing() (a nil metav1.LabelSelector)."""

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.matches_nothing:
            return False
        have = labels or {}
        return all(r.matches(have) for r in self.requirements)

    def empty(self) -> bool:
        """True when the selector does not restrict anything."""
        return not self.matches_nothing and not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


_AS_GIVEN = object()


def _new_requirement(
    key: str, operator: str, values: Sequence[str], values_json: Any = _AS_GIVEN
) -> Requirement:
    """labels.NewRequirement with no field path. `values_json` is what an error
    shows for the whole values list (Go prints a nil slice as null)."""
    errs: list[FieldError] = []
    key_errs = qualified_name_errors(key)
    if key_errs:
        errs.append(FieldError.invalid("key", key, "; ".join(key_errs)))
    shown = list(values) if values_json is _AS_GIVEN else values_json
    if operator in (IN, NOT_IN):
        if not values:
            errs.append(
                FieldError.invalid(
                    "values", shown, "for 'in', 'notin' operators, values set can't be empty"
                )
            )
    elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
        if len(values) != 1:
            errs.append(
                FieldError.invalid(
                    "values", shown, "exact-match compatibility requires one single value"
                )
            )
    elif operator in (EXISTS, DOES_NOT_EXIST):
        if values:
            errs.append(
                FieldError.invalid(
                    "values", shown, "values set must be empty for exists and does not exist"
                )
            )
    elif operator in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            errs.append(
                FieldError.invalid(
                    "values", shown, "for 'Gt', 'Lt' operators, exactly one value is required"
                )
            )
        for i, value in enumerate(values):
            if _parse_int64(value) is None:
                errs.append(
                    FieldError.invalid(
                        f"values[{i}]",
                        value,
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    )
                )
    else:
        supported = ", ".join(f'"{op}"' for op in _VALID_OPERATORS)
        errs.append(
            FieldError(
                "FieldValueNotSupported", "operator", operator, f"supported values: {supported}"
            )
        )
    for i, value in enumerate(values):
        value_errs = label_value_errors(value)
        if value_errs:
            errs.append(FieldError.invalid(f"values[{i}][{key}]", value, "; ".join(value_errs)))
    if errs:
        raise SelectorError(format_aggregate(errs))
    return Requirement(key, operator, tuple(values))


# ---------------------------------------------------------------------------
# Label selector lexer and parser (labels.Lexer / labels.Parser)

_ERROR = "error"
_EOS = "end"
_CLOSED_PAR = ")"
_COMMA = ","
_NOT = "!"
_DOUBLE_EQ = "=="
_EQ = "="
_GT = ">"
_ID = "identifier"
_IN = "in"
_LT = "<"
_NOT_EQ = "!="
_NOT_IN = "notin"
_OPEN_PAR = "("

_LITERAL_TOKENS = {
    ")": _CLOSED_PAR,
    ",": _COMMA,
    "!": _NOT,
    "==": _DOUBLE_EQ,
    "=": _EQ,
    ">": _GT,
    "in": _IN,
    "<": _LT,
    "!=": _NOT_EQ,
    "notin": _NOT_IN,
    "(": _OPEN_PAR,
}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")


def _lex(s: str) -> list[tuple[str, str]]:
    # Go's lexer reads a NUL byte as the end of input; so do we.
    items: list[tuple[str, str]] = []
    pos = 0
    n = len(s)

    def at(i: int) -> str:
        return s[i] if i < n and s[i] != "\0" else ""

    while True:
        while at(pos) in _WHITESPACE and at(pos):
            pos += 1
        ch = at(pos)
        if not ch:
            items.append((_EOS, ""))
            return items
        if ch in _SPECIAL:
            # Longest run of special characters that still forms an operator.
            buf = ""
            last: tuple[str, str] | None = None
            while at(pos) and at(pos) in _SPECIAL:
                buf += at(pos)
                if buf in _LITERAL_TOKENS:
                    last = (_LITERAL_TOKENS[buf], buf)
                    pos += 1
                elif last is not None:
                    break
                else:
                    pos += 1
            if last is None:
                items.append((_ERROR, f"error expected: keyword found '{buf}'"))
            else:
                items.append(last)
            continue
        start = pos
        while at(pos) and at(pos) not in _SPECIAL and at(pos) not in _WHITESPACE:
            pos += 1
        word = s[start:pos]
        items.append((_LITERAL_TOKENS.get(word, _ID), word))


class _Parser:
    def __init__(self, selector: str) -> None:
        self.items = _lex(selector)
        self.position = 0

    def lookahead(self, values_context: bool) -> tuple[str, str]:
        tok, lit = self.items[self.position]
        if values_context and tok in (_IN, _NOT_IN):
            tok = _ID
        return tok, lit

    def consume(self, values_context: bool) -> tuple[str, str]:
        tok, lit = self.lookahead(values_context)
        self.position += 1
        return tok, lit

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.lookahead(True)
            if tok in (_ID, _NOT):
                try:
                    requirements.append(self.parse_requirement())
                except SelectorError as exc:
                    raise SelectorError(f"unable to parse requirement: {exc}") from None
                tok, lit = self.consume(True)
                if tok == _EOS:
                    return requirements
                if tok == _COMMA:
                    tok2, lit2 = self.lookahead(True)
                    if tok2 not in (_ID, _NOT):
                        raise SelectorError(f"found '{lit2}', expected: identifier after ','")
                else:
                    raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            elif tok == _EOS:
                return requirements
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def parse_requirement(self) -> Requirement:
        key, operator = self.parse_key_and_infer_operator()
        if operator in (EXISTS, DOES_NOT_EXIST):
            return _new_requirement(key, operator, [])
        operator = self.parse_operator()
        values = self.parse_values() if operator in (IN, NOT_IN) else self.parse_exact_value()
        return _new_requirement(key, operator, sorted(values))

    def parse_key_and_infer_operator(self) -> tuple[str, str]:
        operator = ""
        tok, literal = self.consume(True)
        if tok == _NOT:
            operator = DOES_NOT_EXIST
            tok, literal = self.consume(True)
        if tok != _ID:
            raise SelectorError(f"found '{literal}', expected: identifier")
        key_errs = qualified_name_errors(literal)
        if key_errs:
            # The parser has no field path, which Go prints as "<nil>".
            raise SelectorError(str(FieldError.invalid("<nil>", literal, "; ".join(key_errs))))
        tok, _ = self.lookahead(True)
        if tok in (_EOS, _COMMA) and operator != DOES_NOT_EXIST:
            operator = EXISTS
        return literal, operator

    def parse_operator(self) -> str:
        tok, lit = self.consume(False)
        operator = {
            _IN: IN,
            _EQ: EQUALS,
            _DOUBLE_EQ: DOUBLE_EQUALS,
            _GT: GREATER_THAN,
            _LT: LESS_THAN,
            _NOT_IN: NOT_IN,
            _NOT_EQ: NOT_EQUALS,
        }.get(tok)
        if operator is None:
            raise SelectorError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        return operator

    def parse_values(self) -> set[str]:
        tok, lit = self.consume(True)
        if tok != _OPEN_PAR:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead(True)
        if tok in (_ID, _COMMA):
            values = self.parse_identifiers_list()
            tok, _ = self.consume(True)
            if tok != _CLOSED_PAR:
                raise SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok == _CLOSED_PAR:
            self.consume(True)
            return {""}
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def parse_identifiers_list(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self.consume(True)
            if tok == _ID:
                values.add(lit)
                tok2, lit2 = self.lookahead(True)
                if tok2 == _COMMA:
                    continue
                if tok2 == _CLOSED_PAR:
                    return values
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _COMMA:
                # Empty members: "(,a)", "(a,)" and "(a,,b)" all include "".
                if not values:
                    values.add("")
                tok2, _ = self.lookahead(True)
                if tok2 == _CLOSED_PAR:
                    values.add("")
                    return values
                if tok2 == _COMMA:
                    self.consume(True)
                    values.add("")
                continue
            raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def parse_exact_value(self) -> set[str]:
        tok, _ = self.lookahead(True)
        if tok in (_EOS, _COMMA):
            return {""}
        tok, lit = self.consume(True)
        if tok == _ID:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


def parse_label_selector(s: str) -> LabelSelector:
    """labels.Parse: `a=b`, `a==b`, `a!=b`, `a in (b,c)`, `a notin (b)`, `a`,
    `!a`, `a>1`, `a<1`, comma-separated; an empty string matches everything."""
    requirements = _Parser(s).parse()
    requirements.sort(key=lambda r: r.key)
    return LabelSelector(tuple(requirements))


def label_selector_from_match(match: Mapping[str, Any] | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector: `matchLabels` and `matchExpressions`
    (In, NotIn, Exists, DoesNotExist). `{}` matches everything; `None` (a nil
    selector) matches nothing."""
    if match is None:
        return LabelSelector(matches_nothing=True)
    match_labels: Mapping[str, Any] = match.get("matchLabels") or {}
    expressions: Iterable[Mapping[str, Any]] = match.get("matchExpressions") or []
    requirements: list[Requirement] = []
    for key, value in match_labels.items():
        if not isinstance(value, str):
            # A typed server could not even decode such a selector.
            raise SelectorError(
                f"json: cannot unmarshal {type(value).__name__} into Go struct field "
                "LabelSelector.matchLabels of type string"
            )
        requirements.append(_new_requirement(key, EQUALS, [value]))
    operators = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}
    for expr in expressions:
        raw_op = expr.get("operator", "")
        if raw_op not in operators:
            raise SelectorError(f'"{raw_op}" is not a valid label selector operator')
        values = list(expr.get("values") or [])
        # Go copies the values with append([]string(nil), ...), so no values is a
        # nil slice, which the error prints as null.
        shown: Any = values if values else None
        requirements.append(_new_requirement(expr.get("key", ""), operators[raw_op], values, shown))
    requirements.sort(key=lambda r: r.key)
    return LabelSelector(tuple(requirements))


# ---------------------------------------------------------------------------
# Field selectors (fields.ParseSelector + the per-resource field-label check)

DEFAULT_FIELD_LABELS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    operator: str  # "=", "==" or "!="
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        have = _field_value(obj, self.field)
        return have != self.value if self.operator == NOT_EQUALS else have == self.value

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
        return f"{self.field}{self.operator}{escaped}"


@dataclass(frozen=True)
class FieldSelector:
    """An AND of field requirements; none matches everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    def empty(self) -> bool:
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    # A field a cluster-scoped object lacks (metadata.namespace) reads as "".
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def _split_terms(s: str) -> list[str]:
    # Commas split terms unless escaped with a backslash.
    if not s:
        return []
    terms: list[str] = []
    start = 0
    in_slash = False
    for i, ch in enumerate(s):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(s[start:i])
            start = i + 1
    terms.append(s[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    # The first operator occurrence splits; "!=" and "==" win over "=" there.
    for i in range(len(term)):
        for op in (NOT_EQUALS, DOUBLE_EQUALS, EQUALS):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def _unescape_value(s: str) -> str:
    if not any(c in s for c in "\\,="):
        return s
    out: list[str] = []
    in_slash = False
    for ch in s:
        if in_slash:
            if ch not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch in ",=":
            # Go prints the rune with %v, i.e. as its code point number.
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if in_slash:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse_field_selector(s: str, supported: Iterable[str] = DEFAULT_FIELD_LABELS) -> FieldSelector:
    """fields.ParseSelector followed by the resource's field-label check.
    `supported` names the selectable fields (dotted paths into the object);
    every resource has metadata.name and metadata.namespace, and built-in kinds
    add their own (e.g. status.phase for namespaces)."""
    allowed = frozenset(supported)
    requirements: list[FieldRequirement] = []
    for part in sorted(_split_terms(s)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError(f"invalid selector: '{s}'; can't understand '{part}'")
        lhs, op, rhs = split
        requirements.append(FieldRequirement(lhs, op, _unescape_value(rhs)))
    for req in requirements:
        if req.field not in allowed:
            raise SelectorError(f"field label not supported: {req.field}")
    return FieldSelector(tuple(requirements))
