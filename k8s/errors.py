"""The bot's own cluster errors: what went wrong, on which cluster, in words an operator can read.

Nothing above `k8s/` sees the kubernetes client's `ApiException` or urllib3's exceptions; callers
decide by intent (retry, treat as done, report) through these types. Messages are built only
from the Status body's `message` or from the kind of network failure, never from headers,
request bodies or kubeconfig contents, and are scrubbed of anything that looks like a credential.
"""

from __future__ import annotations

import errno
import json
import re
import socket
from collections.abc import Iterable
from typing import Any

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

__all__ = [
    "AlreadyExists",
    "ClusterError",
    "Conflict",
    "Forbidden",
    "Invalid",
    "NotFound",
    "Transient",
    "UnknownCluster",
    "Unreachable",
    "scrub",
    "translate",
]

_MAX_MESSAGE = 500
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_LONG = 80
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
# `"token": "abc"`, `jwtSecret: "abc"`, `password=abc`: the value is replaced.
_CREDENTIAL_FIELD = re.compile(
    r"(?i)\"?\b(token|password|jwtSecret|secret|client-key-data)"
    r"(\"?\s*:\s*\"[^\"]+\"|=[^\s&,;]+)"
)


class ClusterError(Exception):
    """A cluster call failed. `message` names the cluster and is safe to show in Slack."""

    def __init__(
        self,
        cluster: str,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.cluster = cluster
        self.message = message
        self.status = status  # HTTP status, None for network failures
        self.reason = reason  # the Status body's reason, e.g. "NotFound", "AlreadyExists"
        # Set by the retry loop when the call had been attempted before: an AlreadyExists on a
        # retried create (or NotFound on a retried delete) most likely means our first try won.
        self.after_retry = False

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cluster!r}, {self.message!r})"


class NotFound(ClusterError):
    pass


class UnknownCluster(NotFound):
    """A cluster name the registry does not know (not an HTTP error)."""

    def __init__(self, cluster: str, known: Iterable[str]) -> None:
        names = ", ".join(sorted(known)) or "none"
        super().__init__(cluster, f"unknown cluster {cluster!r}; known clusters: {names}")


class Conflict(ClusterError):
    pass


class AlreadyExists(Conflict):
    pass


class Forbidden(ClusterError):
    pass


class Invalid(ClusterError):
    pass


class Unreachable(ClusterError):
    """No connection could be made: the request never reached the server."""


class Transient(ClusterError):
    """Worth retrying: 5xx, 429, timeouts and dropped connections."""

    def __init__(
        self,
        cluster: str,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(cluster, message, status=status, reason=reason)
        self.retry_after = retry_after


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove credentials and long quoted values (which may be echoed secrets) from `text`."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = _QUOTED.sub(_shorten, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} ***", text)
    text = _CREDENTIAL_FIELD.sub(lambda m: f"{m.group(1)}=***", text)
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 1] + "…"
    return text


def _shorten(match: re.Match[str]) -> str:
    quoted = match.group(0)
    return quoted if len(quoted) - 2 <= _LONG else f'"…({len(quoted) - 2} characters)"'


def translate(cluster: str, exc: BaseException, *, secrets: Iterable[str] = ()) -> ClusterError:
    """The bot's error for a failed call to `cluster`. The caller raises it `from exc`."""
    if isinstance(exc, ClusterError):
        return exc
    if isinstance(exc, ApiException):
        return _from_api_exception(cluster, exc, tuple(secrets))
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return translate(cluster, exc.reason, secrets=secrets)
    # urllib3 2.x: NewConnectionError subclasses ConnectTimeoutError, so it is checked first.
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return Unreachable(cluster, f"{cluster} is unreachable ({_connect_failure(exc)})")
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        return Unreachable(cluster, f"{cluster} is unreachable (connection timed out)")
    if isinstance(exc, urllib3.exceptions.NameResolutionError | socket.gaierror):
        return Unreachable(cluster, f"{cluster} is unreachable (its address does not resolve)")
    if isinstance(exc, urllib3.exceptions.SSLError):
        return Unreachable(cluster, f"{cluster} is unreachable (TLS handshake failed)")
    if isinstance(exc, ConnectionRefusedError):
        return Unreachable(cluster, f"{cluster} is unreachable (connection refused)")
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError | TimeoutError):
        return Transient(cluster, f"{cluster} did not answer in time (read timed out)")
    if isinstance(exc, urllib3.exceptions.ProtocolError | ConnectionError):
        return Transient(cluster, f"{cluster} dropped the connection ({_protocol_failure(exc)})")
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return Transient(cluster, f"{cluster}: network error ({type(exc).__name__})")
    # Unknown exception: its text could hold anything, so only its type is reported.
    return ClusterError(cluster, f"{cluster}: unexpected error ({type(exc).__name__})")


_BY_STATUS: dict[int, type[ClusterError]] = {
    400: Invalid,
    401: Forbidden,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: Invalid,
}


def _from_api_exception(cluster: str, exc: ApiException, secrets: tuple[str, ...]) -> ClusterError:
    status = int(exc.status or 0)
    body = _status_body(exc.body)
    reason = str(body.get("reason") or "") or None
    raw = body.get("message") or _plain_text(exc.body)
    if isinstance(raw, str) and raw:
        message = f"{cluster}: {scrub(raw, secrets)}"
    elif status:
        phrase = exc.reason if isinstance(exc.reason, str) and "\n" not in exc.reason else ""
        message = f"{cluster}: HTTP {status} {scrub(phrase, secrets)}".rstrip()
    else:
        # status 0: the client failed before any answer (the REST layer wraps SSL errors so)
        return Unreachable(cluster, f"{cluster} is unreachable (TLS or connection error)")
    if status == 429 or status >= 500:
        return Transient(
            cluster, message, status=status, reason=reason, retry_after=_retry_after(exc, body)
        )
    if status == 409 and reason == "AlreadyExists":
        return AlreadyExists(cluster, message, status=status, reason=reason)
    kind = _BY_STATUS.get(status, ClusterError)
    return kind(cluster, message, status=status, reason=reason)


def _plain_text(body: Any) -> str | None:
    """A short plain-text error answer (ks-apiserver writes errors as text, not a Status)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str):
        return None
    text = body.strip()
    if not text or text.startswith(("{", "<")) or len(text) > 500:
        return None
    return " ".join(text.split())


def _status_body(body: Any) -> dict[str, Any]:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body.strip().startswith("{"):
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _retry_after(exc: ApiException, body: dict[str, Any]) -> float | None:
    """Seconds from the Retry-After header, else from the Status details."""
    headers = exc.headers
    value: Any = None
    if headers is not None:
        try:
            value = headers.get("Retry-After")
        except AttributeError:
            value = None
    if value is None:
        details = body.get("details")
        value = details.get("retryAfterSeconds") if isinstance(details, dict) else None
    try:
        seconds = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None  # an HTTP-date Retry-After: fall back to our own backoff
    return max(seconds, 0.0) if seconds is not None else None


def _connect_failure(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
        ):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "its address does not resolve"
        if isinstance(cause, OSError) and cause.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "no route to host"
        if isinstance(cause, TimeoutError):
            return "connection timed out"
        cause = cause.__cause__ or cause.__context__
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    return "cannot connect"


def _protocol_failure(exc: BaseException) -> str:
    text = str(exc).lower()
    if "reset" in text:
        return "connection reset"
    if "aborted" in text or "remote end closed" in text or "disconnected" in text:
        return "closed without an answer"
    return "protocol error"
