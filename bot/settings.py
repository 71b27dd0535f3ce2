"""The bot's one settings object, read from the environment when `main()` starts.

Secrets are `SecretStr` so they never print by accident; a missing or malformed setting stops
start-up with one line naming it (`SettingsError`).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SLACK_ID = re.compile(r"^[USW][A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


class SettingsError(Exception):
    """One clear line saying which setting is wrong."""


def _ids(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    out = tuple(str(i).strip() for i in items if str(i).strip())
    bad = [i for i in out if not SLACK_ID.match(i)]
    if bad:
        raise ValueError(f"not Slack user (U…/W…) or user-group (S…) ids: {', '.join(bad)}")
    return out


def _channel_ids(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    out = tuple(str(i).strip() for i in items if str(i).strip())
    bad = [i for i in out if not CHANNEL_ID.match(i)]
    if bad:
        raise ValueError(f"not Slack channel ids (C…/G…): {', '.join(bad)}")
    return out


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    slack_bot_token: SecretStr = Field(validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr = Field(validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str | None = Field(default=None, validation_alias="KSMC_SLACK_API_URL")
    database_url: str = Field(default="sqlite:///ksmc.db", validation_alias="KSMC_DATABASE_URL")
    kubeconfig: str | None = Field(
        default=None, validation_alias=AliasChoices("KSMC_KUBECONFIG", "KUBECONFIG")
    )
    in_cluster_name: str | None = Field(default=None, validation_alias="KSMC_IN_CLUSTER_NAME")
    approvers: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias="KSMC_APPROVERS"
    )
    requesters: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias="KSMC_REQUESTERS"
    )
    required_approvals: int = Field(
        default=1, ge=1, le=5, validation_alias="KSMC_REQUIRED_APPROVALS"
    )
    approval_ttl: timedelta = Field(
        default=timedelta(minutes=30), validation_alias="KSMC_APPROVAL_TTL"
    )
    host: str = Field(default="127.0.0.1", validation_alias="KSMC_HOST")
    port: int = Field(default=3000, ge=0, le=65535, validation_alias="KSMC_PORT")
    concurrency: int = Field(default=8, ge=1, le=64, validation_alias="KSMC_CONCURRENCY")
    wait_timeout: float = Field(default=180.0, gt=0, validation_alias="KSMC_WAIT_TIMEOUT")
    installer_timeout: float = Field(default=900.0, gt=0, validation_alias="KSMC_INSTALLER_TIMEOUT")
    poll_interval: float = Field(default=0.5, gt=0, validation_alias="KSMC_POLL_INTERVAL")
    gather_timeout: float = Field(default=15.0, gt=0, validation_alias="KSMC_GATHER_TIMEOUT")
    log_level: str = Field(default="INFO", validation_alias="KSMC_LOG_LEVEL")
    #: "json": one JSON object per line, with the request id, user and step of a migration.
    log_format: Literal["text", "json"] = Field(default="text", validation_alias="KSMC_LOG_FORMAT")
    #: HTTP limits (issue #12, finding 6): connections served at once (beyond: 503), seconds a
    #: client gets to send its headers and then its body, seconds an idle connection is kept.
    http_max_connections: int = Field(
        default=200, ge=1, le=10000, validation_alias="KSMC_HTTP_MAX_CONNECTIONS"
    )
    http_header_timeout: float = Field(
        default=5.0, gt=0, validation_alias="KSMC_HTTP_HEADER_TIMEOUT"
    )
    http_body_timeout: float = Field(default=10.0, gt=0, validation_alias="KSMC_HTTP_BODY_TIMEOUT")
    http_keepalive_timeout: float = Field(
        default=5.0, gt=0, validation_alias="KSMC_HTTP_KEEPALIVE_TIMEOUT"
    )
    #: Per-user rate limits (issue #12, finding 5): questions (every `/ksmc` command but help
    #: and cancel) and migration requests, each at most LIMIT in any WINDOW seconds.
    query_limit: int = Field(default=20, ge=1, le=100000, validation_alias="KSMC_QUERY_LIMIT")
    query_window: float = Field(default=60.0, gt=0, validation_alias="KSMC_QUERY_WINDOW")
    request_limit: int = Field(default=5, ge=1, le=100000, validation_alias="KSMC_REQUEST_LIMIT")
    request_window: float = Field(default=300.0, gt=0, validation_alias="KSMC_REQUEST_WINDOW")
    #: Clusters read at once for questions and the Home tab (preflights have their own workers).
    max_cluster_reads: int = Field(
        default=16, ge=1, le=1000, validation_alias="KSMC_MAX_CLUSTER_READS"
    )
    #: Channels where migrations may be requested (empty: any channel).
    channels: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias="KSMC_CHANNELS"
    )
    #: The audit chain's HMAC key; never stored in the database.
    audit_key: SecretStr | None = Field(default=None, validation_alias="KSMC_AUDIT_KEY")
    #: Where the chain head is posted (besides the log), e.g. a private channel.
    audit_channel: str | None = Field(default=None, validation_alias="KSMC_AUDIT_CHANNEL")
    audit_anchor_interval: float = Field(
        default=300.0, gt=0, validation_alias="KSMC_AUDIT_ANCHOR_INTERVAL"
    )

    @field_validator("approvers", "requesters", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> tuple[str, ...]:
        return _ids(value)

    @field_validator("channels", mode="before")
    @classmethod
    def _split_channels(cls, value: Any) -> tuple[str, ...]:
        return _channel_ids(value)

    @field_validator("audit_key")
    @classmethod
    def _key_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("audit_channel")
    @classmethod
    def _audit_channel(cls, value: str | None) -> str | None:
        if value and not CHANNEL_ID.match(value):
            raise ValueError("must be a Slack channel id (C…/G…)")
        return value or None

    @field_validator("approval_ttl", mode="before")
    @classmethod
    def _ttl(cls, value: Any) -> Any:
        if isinstance(value, str) and re.fullmatch(r"\d+[smhd]", value.strip()):
            n, unit = int(value.strip()[:-1]), value.strip()[-1]
            return timedelta(
                **{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: n}
            )
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return timedelta(minutes=int(value))
        return value

    @field_validator("approval_ttl")
    @classmethod
    def _ttl_positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("must be positive, e.g. 30m")
        return value

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None


_NAMES = {
    name: (field.validation_alias if isinstance(field.validation_alias, str) else name.upper())
    for name, field in Settings.model_fields.items()
}
_NAMES["kubeconfig"] = "KSMC_KUBECONFIG"


def load(environ: dict[str, str] | None = None) -> Settings:
    """Read settings from `environ` (default: the process environment)."""
    env = dict(os.environ if environ is None else environ)
    try:
        values = {k: v for k, v in env.items() if k.startswith(("SLACK_", "KSMC_", "KUBECONFIG"))}
        return Settings.model_validate(values)
    except ValidationError as e:
        first = e.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        name = _NAMES.get(field, field)
        if first["type"] == "missing":
            raise SettingsError(f"{name} is required but not set") from None
        raise SettingsError(f"{name}: {first['msg']}") from None
