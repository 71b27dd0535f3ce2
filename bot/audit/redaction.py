"""What never enters the audit log (secrets, by key name or by shape) and the one canonical JSON
text its MACs are computed over."""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

REDACTED = "[redacted]"

# Key names (lowercased, without "_", "-", ".", spaces) containing one of these are secret.
_SECRET_KEY_PARTS = (
    "token",
    "secret",
    "password",
    "passwd",
    "kubeconfig",
    "jwt",
    "authorization",
    "credential",
    "apikey",
    "privatekey",
    "keydata",  # kubeconfig client-key-data
)
_KEY_NOISE = re.compile(r"[\s_.\-]")
_SECRET_STRINGS = re.compile(
    r"\bxox[abeoprs]-[0-9A-Za-z-]+"  # Slack bot/user/app-level/refresh tokens
    r"|\bxapp-[0-9A-Za-z-]+"  # Slack app-level tokens
    r"|\beyJ[0-9A-Za-z_-]+\.[0-9A-Za-z_-]+\.[0-9A-Za-z_-]+"  # JWTs (service-account tokens)
    # PEM private keys; the body may only be base64, whitespace and (JSON-escaped) line breaks,
    # so text with many BEGIN lines and no END is scanned in linear time, not quadratic.
    r"|-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----[A-Za-z0-9+/=\s\\]*"
    r"-----END [A-Z ]{0,40}PRIVATE KEY-----",
)


def _is_secret_key(key: str) -> bool:
    folded = _KEY_NOISE.sub("", key.lower())
    return any(part in folded for part in _SECRET_KEY_PARTS)


def redact(value: Any) -> Any:
    """A copy of JSON-like `value` with secrets replaced by "[redacted]".

    Values under secret-looking keys (token, secret, password, kubeconfig, jwt, authorization,
    credential, … — case-insensitive, at any depth) are replaced whole; Slack tokens, JWTs and
    PEM private keys inside any string are replaced where they occur.
    """
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and _is_secret_key(k) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _SECRET_STRINGS.sub(REDACTED, value)
    return value


def clean_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded as UTF-8.
    return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def to_json(value: Any) -> Any:
    """Plain JSON types from what callers naturally pass (datetimes, enums, dataclasses…)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("audit details cannot hold NaN or infinity")
        return value
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "get_secret_value"):  # pydantic SecretStr / SecretBytes
        return REDACTED
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [to_json(v) for v in value]
        return sorted(items, key=canonical_json) if isinstance(value, set | frozenset) else items
    # No repr: the value may be exactly what must not reach a log.
    raise TypeError(f"audit details cannot hold a {type(value).__name__}")


def canonical_json(value: Any) -> str:
    """The one textual form of a JSON value: sorted keys, no spaces, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
