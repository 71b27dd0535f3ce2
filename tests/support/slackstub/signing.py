"""Signed request bodies shaped exactly like the ones Slack sends, so HTTP-mode tests exercise the
bot's real signature check and payload parsing instead of a hand-built dict.

The field lists follow Slack's slash-command and ``block_actions`` references (see
``/work/shared/docs/slack.md`` §3–5); the ``*_fields``/``*_payload`` builders return the decoded
form, which is also what a Socket Mode envelope carries as its ``payload``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

# The stand-in workspace's identity, shared by these payload builders and the Web API stub.
TEAM_ID = "T0TEAM"
TEAM_DOMAIN = "ksmc-test"
TEAM_NAME = "KSMC Test"
APP_ID = "A0KSMC"
BOT_USER_ID = "UBOT"
BOT_ID = "B0BOT"
BOT_NAME = "ksmc-bot"

VERIFICATION_TOKEN = "xyzz0WbapA4vBCDEFasx0q6G"
"""The deprecated per-app verification token Slack still puts in every payload."""


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}`` keyed by the signing secret."""
    base = b"v0:" + str(timestamp).encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack adds to a request: timestamp (now by default) and its signature."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature(secret, body, ts),
        "Content-Type": "application/x-www-form-urlencoded",
    }


def new_trigger_id() -> str:
    """A trigger id in Slack's ``<digits>.<digits>.<hex>`` shape."""
    return f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**11)}.{secrets.token_hex(16)}"


def slash_command_fields(
    text: str,
    user_id: str,
    channel_id: str,
    team_id: str,
    response_url: str,
    trigger_id: str | None = None,
    command: str = "/ksmc",
    *,
    user_name: str | None = None,
    channel_name: str = "ksmc-ops",
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = APP_ID,
    token: str = VERIFICATION_TOKEN,
    enterprise_id: str | None = None,
    enterprise_name: str | None = None,
) -> dict[str, str]:
    """The decoded form fields of a slash command, in the order Slack sends them."""
    fields = {
        "token": token,
        "team_id": team_id,
        "team_domain": team_domain,
    }
    if enterprise_id is not None:
        fields["enterprise_id"] = enterprise_id
        fields["enterprise_name"] = enterprise_name or enterprise_id
    fields |= {
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }
    return fields


def slash_command_body(
    text: str,
    user_id: str,
    channel_id: str,
    team_id: str,
    response_url: str,
    trigger_id: str | None = None,
    command: str = "/ksmc",
    **extra: Any,
) -> bytes:
    """A slash command as the raw form-encoded body Slack POSTs (sign it with :func:`sign`)."""
    fields = slash_command_fields(
        text, user_id, channel_id, team_id, response_url, trigger_id, command, **extra
    )
    return urlencode(fields).encode("utf-8")


def _find_action(
    message: Mapping[str, Any], action_id: str
) -> tuple[str | None, dict[str, Any] | None]:
    """The block_id and element of ``action_id`` in a posted message's blocks, if present."""
    for block in message.get("blocks") or []:
        elements = list(block.get("elements") or [])
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        for element in elements:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                block_id = block.get("block_id")
                return (block_id if isinstance(block_id, str) else None), element
    return None, None


def block_action_payload(
    action_id: str,
    value: str,
    user_id: str,
    channel_id: str,
    message_ts: str,
    response_url: str,
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
    *,
    block_id: str | None = None,
    button_text: str | None = None,
    style: str | None = None,
    message: Mapping[str, Any] | None = None,
    user_name: str | None = None,
    channel_name: str = "ksmc-ops",
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = APP_ID,
    token: str = VERIFICATION_TOKEN,
) -> dict[str, Any]:
    """The decoded ``block_actions`` payload for one button click.

    Pass ``message`` (e.g. ``stub.message(channel, ts).as_payload()``) to click a button that
    really is in a posted message: its ``block_id`` and button text are then taken from it.
    """
    message = dict(message) if message is not None else None
    found_block_id, element = _find_action(message, action_id) if message else (None, None)
    text = button_text
    if text is None and element is not None and isinstance(element.get("text"), dict):
        text = str(element["text"].get("text", ""))
    if style is None and element is not None and isinstance(element.get("style"), str):
        style = element["style"]
    name = user_name or user_id.lower()
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id or found_block_id or "ksmc",
        "text": {"type": "plain_text", "text": text or action_id, "emoji": True},
        "value": value,
        "type": "button",
        "action_ts": f"{time.time():.6f}",
    }
    if style is not None:
        action["style"] = style
    if message is None:
        message = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": api_app_id,
            "team": team_id,
            "text": "",
            "ts": message_ts,
            "blocks": [],
        }
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": name, "name": name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": token,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name},
        "message": message,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }


def block_action_body(
    action_id: str,
    value: str,
    user_id: str,
    channel_id: str,
    message_ts: str,
    response_url: str,
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
    **extra: Any,
) -> bytes:
    """A button click as the raw body Slack POSTs: ``payload=`` + URL-encoded JSON."""
    payload = block_action_payload(
        action_id,
        value,
        user_id,
        channel_id,
        message_ts,
        response_url,
        team_id,
        trigger_id,
        **extra,
    )
    return b"payload=" + quote(json.dumps(payload, separators=(",", ":"))).encode("ascii")
