"""Log lines that cannot be forged or leak: one record is one line, and secrets are redacted.

Values in log messages can come from Slack payloads (user ids, channel ids) or from clusters
(error messages), so a newline in one could start a fake log line, and an error echoing a
request could carry a token. `SafeLogFilter`, installed on the process's log handlers by
`ksmc-bot serve`, escapes control characters in every message, indents tracebacks so that none
of their lines looks like a record, and replaces the bot's own secrets (Slack tokens, the signing
secret, kubeconfig credentials, also when base64-encoded), values of fields named like secrets
(`jwtSecret: …`), values Kubernetes quotes back as invalid, and anything shaped like a Slack
token, JWT or private key. The same cleaning is applied to cluster texts before they are stored.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.audit import REDACTED, redact

if TYPE_CHECKING:
    from bot.settings import Settings

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
#: `jwtSecret: abc`, `"token": "abc"`, `PASSWORD=abc`, `Authorization: Bearer abc`: the value
#: of a field named like a secret, in YAML, JSON, env or header form (the bot cannot know every
#: secret in advance, e.g. a cluster's jwtSecret quoted back in a parser's error).
_SECRET_FIELD = re.compile(
    r"(?i)((?:jwt_?secret|token|password|passwd|client-key-data|kubeconfig|authorization)"
    r"[\"']?\s*[:=]\s*)(?!Invalid value: )"
    r"(\[redacted\]|\"(?:[^\"\\]|\\.)*\"|'[^']*'|(?:bearer|basic)\s+\S+|[^\s,;}\]]+)"
)
#: A run of base64 long enough to hide a credential (a kubeconfig in a Cluster object).
_BASE64 = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")
#: Kubernetes validation errors quote the value that was sent back: never repeat it.
_INVALID_VALUE = re.compile(r'(Invalid value: )("(?:[^"\\]|\\.)*"|\S+)')
#: Every traceback line is written after this, so none can pass for a new record.
TRACEBACK_PREFIX = "  | "


def _escape(match: re.Match[str]) -> str:
    c = match.group(0)
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c, c.encode("unicode_escape").decode())


class SafeLogFilter(logging.Filter):
    """Rewrites each record in place (message formatted, escaped and redacted; args cleared)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so that a secret containing another is replaced whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def clean(self, text: str) -> str:
        """`text` without the known secrets, secret-named fields' values, echoed invalid
        values, or anything shaped like a Slack token, JWT or private key."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        if self.secrets:
            text = _BASE64.sub(self._encoded_secret, text)
        text = _INVALID_VALUE.sub(lambda m: m.group(1) + REDACTED, text)
        text = _SECRET_FIELD.sub(
            lambda m: m.group(0) if m.group(2) == REDACTED else m.group(1) + REDACTED, text
        )
        cleaned: str = redact(text)
        return cleaned

    def _encoded_secret(self, match: re.Match[str]) -> str:
        """A base64 run is redacted when what it encodes holds a known secret."""
        try:
            decoded = base64.b64decode(match.group(0) + "==", validate=False).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return match.group(0)
        return REDACTED if any(s in decoded for s in self.secrets) else match.group(0)

    def filter(self, record: logging.LogRecord) -> bool:
        """Clean the record in place; never raises (a logging call must not become an error
        path of its own): a record that cannot be cleaned is replaced by a placeholder."""
        try:
            return self._filter(record)
        except Exception as e:  # e.g. an exception whose __str__ raises inside the traceback
            record.msg = f"[log record dropped: it could not be cleaned ({type(e).__name__})]"
            record.args = None
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
            return True

    def _filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the template, drop the arguments
            message = f"{record.msg!s} (unformattable arguments)"
        record.msg = _CONTROL.sub(_escape, self.clean(message))
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = self._block(text)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self._block(record.exc_text)
        if record.stack_info:
            record.stack_info = self._block(record.stack_info)
        return True

    def _block(self, text: str) -> str:
        if text.startswith(TRACEBACK_PREFIX):  # already cleaned by another handler's filter
            return text
        lines = self.clean(text).split("\n")
        return "\n".join(TRACEBACK_PREFIX + _CONTROL.sub(_escape, line) for line in lines)


def kubeconfig_secrets(paths: str | None) -> list[str]:
    """The credentials in kubeconfig files (tokens, passwords, client keys), to be redacted.
    `paths` is a KUBECONFIG-style list (os.pathsep between files)."""
    import yaml

    found: list[str] = []
    for path in (paths or "").split(os.pathsep):
        if not path:
            continue
        try:
            config: Any = yaml.safe_load(Path(path).expanduser().read_text())
        except (OSError, yaml.YAMLError):
            continue
        users = config.get("users") if isinstance(config, dict) else None
        for entry in users if isinstance(users, list) else []:
            user = entry.get("user") if isinstance(entry, dict) else None
            if isinstance(user, dict):
                for key in ("token", "password", "client-key-data", "client-certificate-data"):
                    value = user.get(key)
                    if isinstance(value, str):
                        found.append(value)
    return found


def install(secrets: Iterable[str], logger: logging.Logger | None = None) -> SafeLogFilter:
    """Put one `SafeLogFilter` on every handler of `logger` (default: the root logger)."""
    safe = SafeLogFilter(secrets)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(safe)
    return safe


def install_for(settings: Settings) -> SafeLogFilter:
    """`install` with the secrets of these settings and of the kubeconfig they name."""
    secrets = [settings.slack_bot_token.get_secret_value()]
    secrets.append(settings.slack_signing_secret.get_secret_value())
    if settings.slack_app_token is not None:
        secrets.append(settings.slack_app_token.get_secret_value())
    if settings.audit_key is not None:
        secrets.append(settings.audit_key.get_secret_value())
    return install([*secrets, *kubeconfig_secrets(settings.kubeconfig)])
