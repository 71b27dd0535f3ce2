"""A faithful local stand-in for Slack (Web API, response_urls, Socket Mode, request signing), so
ksmc-bot's tests drive the real slack_sdk/slack_bolt clients over real HTTP and WebSockets.

Typical use::

    with SlackStub() as stub:
        client = WebClient(token="xoxb-test", base_url=stub.api_url)
        ...
        assert stub.violations == []
"""

from .rules import Problem
from .server import (
    Call,
    Channel,
    Edit,
    Ephemeral,
    Message,
    SlackApiFailure,
    SlackStub,
    User,
)
from .signing import (
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    TEAM_NAME,
    VERIFICATION_TOKEN,
    block_action_body,
    block_action_payload,
    sign,
    signature,
    slash_command_body,
    slash_command_fields,
)
from .socket_mode import SocketModeStub

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_NAME",
    "BOT_USER_ID",
    "TEAM_DOMAIN",
    "TEAM_ID",
    "TEAM_NAME",
    "VERIFICATION_TOKEN",
    "Call",
    "Channel",
    "Edit",
    "Ephemeral",
    "Message",
    "Problem",
    "SlackApiFailure",
    "SlackStub",
    "SocketModeStub",
    "User",
    "block_action_body",
    "block_action_payload",
    "sign",
    "signature",
    "slash_command_body",
    "slash_command_fields",
]
