"""A local stand-in for Slack's Web API that the real ``slack_sdk.WebClient`` talks to over HTTP,
so tests see what ksmc-bot really sends (and Slack's real answers) instead of patched methods.

It keeps the workspace state the bot touches — channel messages with their edit history,
ephemerals, users, user groups, Home tabs, response_url posts — and checks every request against
Slack's rules (:mod:`.rules`). Whatever breaks a rule is answered with Slack's error and listed in
:attr:`SlackStub.violations`, which a test asserts stays empty.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import rules
from .modals import ModalFailure, Modals
from .signing import APP_ID, BOT_ID, BOT_NAME, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID, TEAM_NAME
from .socket_mode import SocketModeStub

T = TypeVar("T")

# Methods that take the app-level token; every other Web API method here takes the bot token.
_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
_TOKEN_PREFIXES = ("xoxb-", "xapp-", "xoxp-", "xoxe-")
# Channel IDs accepted without add_channel(): public (C…) and private (G…) conversations.
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
# chat.* methods whose writes count against the per-channel write rate.
_WRITE_METHODS = frozenset({"chat.postMessage", "chat.update"})


@dataclass(frozen=True)
class Call:
    """One Web API request as the stub received it, and what it answered."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    time: float
    status: int
    response: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.response.get("ok") is True


@dataclass(frozen=True)
class Edit:
    """A message's content before one ``chat.update`` (or ``replace_original``) changed it."""

    text: str
    blocks: list[dict[str, Any]]
    time: float


@dataclass(frozen=True)
class Message:
    """A message as it currently stands in a channel."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    user: str
    bot_id: str | None = None
    thread_ts: str | None = None
    edits: tuple[Edit, ...] = ()

    @property
    def edited(self) -> bool:
        return bool(self.edits)

    def as_payload(self) -> dict[str, Any]:
        """Slack's message object (as in API answers and ``block_actions`` payloads)."""
        payload: dict[str, Any] = {
            "type": "message",
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
            "team": TEAM_ID,
            "blocks": copy.deepcopy(self.blocks),
        }
        if self.bot_id is not None:
            payload |= {
                "bot_id": self.bot_id,
                "app_id": APP_ID,
                "bot_profile": {"id": self.bot_id, "app_id": APP_ID, "name": BOT_NAME},
            }
        if self.thread_ts is not None:
            payload["thread_ts"] = self.thread_ts
        if self.edits:
            payload["edited"] = {"user": self.user, "ts": f"{self.edits[-1].time:.6f}"}
        return payload


@dataclass(frozen=True)
class Ephemeral:
    """An ephemeral message: shown to one user, never stored in channel history."""

    channel: str
    user: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None


@dataclass(frozen=True)
class User:
    """A workspace member as ``users.info`` describes them."""

    id: str
    name: str
    real_name: str
    display_name: str = ""
    is_bot: bool = False
    is_app_user: bool = False
    deleted: bool = False
    is_admin: bool = False
    is_restricted: bool = False
    is_ultra_restricted: bool = False
    tz: str = "UTC"

    def as_payload(self) -> dict[str, Any]:
        try:
            offset = datetime.now(ZoneInfo(self.tz)).utcoffset()
            label = datetime.now(ZoneInfo(self.tz)).tzname() or self.tz
        except ZoneInfoNotFoundError:
            offset, label = None, self.tz
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "deleted": self.deleted,
            "color": "9f69e7",
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": label,
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "profile": {
                "real_name": self.real_name,
                "real_name_normalized": self.real_name,
                "display_name": self.display_name,
                "display_name_normalized": self.display_name,
                "team": TEAM_ID,
                **({"bot_id": BOT_ID} if self.id == BOT_USER_ID else {}),
            },
            "is_admin": self.is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": self.is_restricted,
            "is_ultra_restricted": self.is_ultra_restricted,
            "is_bot": self.is_bot,
            "is_app_user": self.is_app_user,
            "updated": 1700000000,
        }


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    is_member: bool = True
    user: str | None = None  # the other member of a DM

    def as_payload(self) -> dict[str, Any]:
        if self.is_im:
            return {"id": self.id, "is_im": True, "user": self.user, "created": 1700000000}
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "is_archived": False,
            "is_general": False,
            "is_member": self.is_member,
            "created": 1700000000,
        }


@dataclass
class _Hook:
    """A response_url: who it answers and the bodies posted to it."""

    name: str
    created: float
    channel: str | None
    message_ts: str | None
    user: str | None
    bodies: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class _Injection:
    """A scripted answer for the next call of a method: HTTP 429, or ``ok: false``."""

    error: str
    retry_after: int | None = None


class SlackApiFailure(Exception):
    """Raised inside a method handler: answer ``ok: false`` with ``error``."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []


class SlackStub:
    """Slack's Web API (``/api/<method>``), response_urls (``/webhook/<name>``) and Socket Mode
    (:attr:`socket`) on 127.0.0.1, with the state and rule checks described in the module doc.

    ``write_window_s``/``max_writes_per_window`` set the per-channel write-rate rule
    (``chat.postMessage`` + ``chat.update``); ``strict_channels`` makes unregistered channel IDs
    answer ``channel_not_found`` instead of being created on first use.
    """

    def __init__(
        self,
        *,
        write_window_s: float = 5.0,
        max_writes_per_window: int = 8,
        response_url_max_uses: int = 5,
        response_url_ttl_s: float = 30 * 60,
        strict_channels: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host
        self.strict_channels = strict_channels
        self.response_url_max_uses = response_url_max_uses
        self.response_url_ttl_s = response_url_ttl_s
        self.free_plan = False
        """When True, ``usergroups.users.list`` answers ``plan_upgrade_required`` (free Slack)."""
        self.socket = SocketModeStub(host=host, app_id=APP_ID)
        self._lock = threading.RLock()
        self._rate = rules.WriteRateWatch(write_window_s, max_writes_per_window)
        self._calls: list[Call] = []
        self._violations: list[str] = []
        self._channels: dict[str, Channel] = {}
        self._messages: dict[str, list[Message]] = {}
        self._ephemerals: list[Ephemeral] = []
        self._users: dict[str, User] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._hooks: dict[str, _Hook] = {}
        self._injections: dict[str, deque[_Injection]] = {}
        self._last_ts_us = 0
        self._view_seq = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.modals = Modals(self._lock, self._violate, self._enforce)
        """Modals: trigger ids, open views, what the user enters (see :mod:`.modals`)."""
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "api.test": lambda args: {"ok": True, "args": args},
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "conversations.info": self._conversations_info,
            "views.publish": self._views_publish,
            "views.open": _modal_method(self.modals.views_open),
            "views.update": _modal_method(self.modals.views_update),
            "apps.connections.open": self._apps_connections_open,
        }
        self.add_user(BOT_USER_ID, BOT_NAME, real_name="KSMC Bot", is_bot=True)

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> SlackStub:
        self._httpd = _HTTPServer((self.host, 0), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slackstub-web-api",
            daemon=True,
        )
        self._thread.start()
        self.socket.start()
        return self

    def stop(self) -> None:
        self.socket.stop()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> SlackStub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``; the Web API is under ``/api/``."""
        if self._httpd is None:
            raise RuntimeError("SlackStub is not started")
        return f"http://{self.host}:{self._httpd.server_address[1]}"

    @property
    def api_url(self) -> str:
        """What to pass as ``WebClient(base_url=…)``."""
        return self.base_url + "/api/"

    # workspace setup -------------------------------------------------------------------------

    def add_user(
        self,
        id: str,
        name: str,
        real_name: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
        is_restricted: bool = False,
        is_ultra_restricted: bool = False,
        tz: str = "UTC",
        *,
        display_name: str | None = None,
        is_admin: bool = False,
        is_app_user: bool = False,
    ) -> User:
        user = User(
            id=id,
            name=name,
            real_name=real_name if real_name is not None else name,
            display_name=display_name if display_name is not None else name,
            is_bot=is_bot,
            is_app_user=is_app_user,
            deleted=deleted,
            is_admin=is_admin,
            is_restricted=is_restricted,
            is_ultra_restricted=is_ultra_restricted,
            tz=tz,
        )
        with self._lock:
            self._users[id] = user
        return user

    def add_usergroup(self, id: str, users: list[str]) -> None:
        with self._lock:
            self._usergroups[id] = list(users)

    def add_channel(
        self, id: str, name: str, *, is_private: bool = False, is_member: bool = True
    ) -> Channel:
        """Register a channel; ``is_member=False`` makes bot posts there fail ``not_in_channel``."""
        channel = Channel(id=id, name=name, is_private=is_private, is_member=is_member)
        with self._lock:
            self._channels[id] = channel
        return channel

    def add_message(
        self, channel: str, text: str, *, user: str, thread_ts: str | None = None
    ) -> Message:
        """Seed a message by someone other than the bot (the bot cannot edit or delete it)."""
        with self._lock:
            message = Message(
                channel=channel,
                ts=self._next_ts(),
                text=text,
                blocks=[],
                user=user,
                thread_ts=thread_ts,
            )
            self._messages.setdefault(channel, []).append(message)
            return message

    def dm_channel(self, user_id: str) -> str:
        """The ID of the bot's DM with ``user_id`` (what posting to a user ID posts to)."""
        return f"D{user_id}"

    def response_url(
        self,
        name: str,
        *,
        channel: str | None = None,
        message_ts: str | None = None,
        user: str | None = None,
    ) -> str:
        """A response_url on the stub. With ``channel``+``message_ts``, ``replace_original`` /
        ``delete_original`` act on that message; with ``channel`` (+``user``), ``in_channel``
        posts and ephemeral replies land in the channel state as Slack would put them."""
        with self._lock:
            self._hooks[name] = _Hook(name, time.time(), channel, message_ts, user)
        return f"{self.base_url}/webhook/{name}"

    # failure injection -----------------------------------------------------------------------

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` get HTTP 429 with ``Retry-After``."""
        with self._lock:
            queue = self._injections.setdefault(method, deque())
            queue.extend(_Injection("ratelimited", retry_after) for _ in range(times))

    def fail(self, method: str, error: str = "internal_error", times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer ``{"ok": false, "error": error}``."""
        with self._lock:
            queue = self._injections.setdefault(method, deque())
            queue.extend(_Injection(error) for _ in range(times))

    # inspection ------------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def messages(self, channel: str) -> list[Message]:
        """The channel's current messages (threads included), oldest first."""
        with self._lock:
            return list(self._messages.get(self._channel_key(channel), []))

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """The replies in one thread, oldest first."""
        return [m for m in self.messages(channel) if m.thread_ts == thread_ts and m.ts != thread_ts]

    def message(self, channel: str, ts: str) -> Message | None:
        return next((m for m in self.messages(channel) if m.ts == ts), None)

    def ephemerals(self, channel: str, user: str | None = None) -> list[Ephemeral]:
        with self._lock:
            key = self._channel_key(channel)
            return [
                e for e in self._ephemerals if e.channel == key and (user is None or e.user == user)
            ]

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        """The Home tab last published for ``user_id``."""
        with self._lock:
            view = self._views.get(user_id)
            return copy.deepcopy(view) if view is not None else None

    def responses(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            hook = self._hooks.get(name)
            return copy.deepcopy(hook.bodies) if hook is not None else []

    @property
    def violations(self) -> list[str]:
        with self._lock:
            return list(self._violations)

    def wait_for(
        self, predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02
    ) -> T:
        """Poll ``predicate`` until it returns something truthy, and return that."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s: {predicate!r}")
            time.sleep(interval)

    # request handling ------------------------------------------------------------------------

    def handle_api(
        self, method: str, headers: dict[str, str], query: str, body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one Web API call: (HTTP status, JSON body, extra response headers)."""
        now = time.time()
        status, extra = 200, {}
        args: dict[str, Any] = {}
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        with self._lock:
            try:
                try:
                    args, is_json = _parse_args(content_type, body, query)
                except SlackApiFailure as failure:
                    self._violate(method, f"[{failure.error}] request body could not be parsed")
                    raise
                args = rules.decode_structured_args(args)
                answer = self._dispatch(method, args, headers, is_json=is_json)
            except SlackApiFailure as failure:
                answer = {"ok": False, "error": failure.error}
                if failure.messages:
                    answer["response_metadata"] = {"messages": failure.messages}
            except _RateLimited as limited:
                status, extra = 429, {"Retry-After": str(limited.retry_after)}
                answer = {"ok": False, "error": "ratelimited"}
            self._calls.append(Call(method, args, headers, now, status, copy.deepcopy(answer)))
        return status, answer, extra

    def _dispatch(
        self, method: str, args: dict[str, Any], headers: dict[str, str], *, is_json: bool
    ) -> dict[str, Any]:
        handler = self._methods.get(method)
        if handler is None:
            self._violate(method, f"unknown method {method!r}")
            raise SlackApiFailure("unknown_method")
        self._authenticate(method, args, headers, is_json=is_json)
        queue = self._injections.get(method)
        if queue:
            injected = queue.popleft()
            if injected.retry_after is not None:
                raise _RateLimited(injected.retry_after)
            raise SlackApiFailure(injected.error)
        return handler(args)

    def _authenticate(
        self, method: str, args: Mapping[str, Any], headers: Mapping[str, str], *, is_json: bool
    ) -> None:
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        token: str | None
        if auth is not None:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer":
                self._violate(method, "Authorization header is not 'Bearer <token>'")
                raise SlackApiFailure("invalid_auth")
        else:
            # Slack reads a body token from form posts only, never from a JSON body.
            value = None if is_json else args.get("token")
            token = value if isinstance(value, str) else None
        if not token:
            self._violate(method, "no token (Authorization: Bearer … or token=)")
            raise SlackApiFailure("not_authed")
        expected = "xapp-" if method in _APP_TOKEN_METHODS else "xoxb-"
        if token.startswith(expected):
            return
        kind = "app-level (xapp-)" if expected == "xapp-" else "bot (xoxb-)"
        self._violate(method, f"needs a {kind} token, got {token[:5]}…")
        if token.startswith(_TOKEN_PREFIXES):
            raise SlackApiFailure("not_allowed_token_type")
        raise SlackApiFailure("invalid_auth")

    def _violate(self, method: str, detail: str) -> None:
        self._violations.append(f"{method}: {detail}")

    def _enforce(self, method: str, problems: list[rules.Problem]) -> None:
        """Record every problem; answer with the first fatal one's error, as Slack does."""
        for problem in problems:
            self._violate(method, str(problem))
        fatal = [p for p in problems if p.fatal]
        if fatal:
            same = [p.slack_message() for p in fatal if p.error == fatal[0].error]
            raise SlackApiFailure(fatal[0].error, same)

    def _next_ts(self) -> str:
        """A message ts: now, in Slack's ``seconds.micros`` form, strictly increasing."""
        micros = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
        self._last_ts_us = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _channel_key(self, channel: str) -> str:
        """Where a channel argument's messages are stored (user IDs map to the bot's DM)."""
        if channel in self._users and channel not in self._channels:
            return self.dm_channel(channel)
        return channel

    def _resolve_channel(self, method: str, args: Mapping[str, Any]) -> Channel:
        value = args.get("channel")
        if not isinstance(value, str) or not value:
            self._violate(method, "[channel_not_found] /channel: channel is required")
            raise SlackApiFailure("channel_not_found")
        if value in self._channels:
            return self._channels[value]
        if value in self._users:
            dm = Channel(self.dm_channel(value), value, is_im=True, user=value)
            return self._channels.setdefault(dm.id, dm)
        if _CHANNEL_ID.match(value) and not self.strict_channels:
            return self._channels.setdefault(value, Channel(value, value.lower()))
        self._violate(method, f"[channel_not_found] /channel: no channel {value!r}")
        raise SlackApiFailure("channel_not_found")

    def _content(self, args: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        text = args.get("text")
        blocks = args.get("blocks")
        return (
            text if isinstance(text, str) else "",
            copy.deepcopy(blocks) if isinstance(blocks, list) else [],
        )

    # Web API methods ---------------------------------------------------------------------------

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        method = "chat.postMessage"
        channel = self._resolve_channel(method, args)
        if not channel.is_member:
            raise SlackApiFailure("not_in_channel")
        self._watch_write(method, channel.id)
        self._enforce(method, rules.check_message_content(args))
        thread_ts = args.get("thread_ts")
        thread_ts = str(thread_ts) if thread_ts not in (None, "") else None
        if thread_ts is not None:
            parent = next(
                (m for m in self._messages.get(channel.id, []) if m.ts == thread_ts), None
            )
            if parent is None:
                self._violate(method, f"thread_ts {thread_ts} is not a message in {channel.id}")
            elif parent.thread_ts not in (None, parent.ts):
                thread_ts = parent.thread_ts  # Slack threads a reply-to-a-reply on the parent
        text, blocks = self._content(args)
        message = Message(
            channel=channel.id,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            user=BOT_USER_ID,
            bot_id=BOT_ID,
            thread_ts=thread_ts,
        )
        self._messages.setdefault(channel.id, []).append(message)
        return {
            "ok": True,
            "channel": channel.id,
            "ts": message.ts,
            "message": message.as_payload(),
        }

    def _find_message(self, method: str, args: Mapping[str, Any]) -> tuple[Channel, int]:
        channel = self._resolve_channel(method, args)
        ts = args.get("ts")
        if not isinstance(ts, str) or not ts:
            self._violate(method, "[invalid_arguments] /ts: ts is required")
            raise SlackApiFailure("invalid_arguments", ["[ERROR] missing required field: ts"])
        for index, message in enumerate(self._messages.get(channel.id, [])):
            if message.ts == ts:
                return channel, index
        raise SlackApiFailure("message_not_found")

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        method = "chat.update"
        channel, index = self._find_message(method, args)
        self._watch_write(method, channel.id)
        self._enforce(method, rules.check_message_content(args))
        old = self._messages[channel.id][index]
        if old.user != BOT_USER_ID:
            raise SlackApiFailure("cant_update_message")
        message = self._edit(old, args)
        return {
            "ok": True,
            "channel": channel.id,
            "ts": message.ts,
            "text": message.text,
            "message": message.as_payload(),
        }

    def _edit(self, old: Message, args: Mapping[str, Any]) -> Message:
        """Apply an edit; like Slack, omitted ``blocks`` keep the old ones."""
        text, blocks = self._content(args)
        if "blocks" not in args:
            blocks = copy.deepcopy(old.blocks)
        edit = Edit(old.text, old.blocks, time.time())
        message = replace(old, text=text, blocks=blocks, edits=(*old.edits, edit))
        messages = self._messages[old.channel]
        messages[messages.index(old)] = message
        return message

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        method = "chat.postEphemeral"
        channel = self._resolve_channel(method, args)
        user = args.get("user")
        if not isinstance(user, str) or not user:
            self._violate(method, "[user_not_in_channel] /user: user is required")
            raise SlackApiFailure("user_not_in_channel")
        self._enforce(method, rules.check_message_content(args))
        if user not in self._users:
            raise SlackApiFailure("user_not_in_channel")
        text, blocks = self._content(args)
        thread_ts = args.get("thread_ts")
        ephemeral = Ephemeral(
            channel=channel.id,
            user=user,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            thread_ts=str(thread_ts) if thread_ts else None,
        )
        self._ephemerals.append(ephemeral)
        return {"ok": True, "message_ts": ephemeral.ts}

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, index = self._find_message("chat.delete", args)
        message = self._messages[channel.id][index]
        if message.user != BOT_USER_ID:
            raise SlackApiFailure("cant_delete_message")
        del self._messages[channel.id][index]
        return {"ok": True, "channel": channel.id, "ts": message.ts}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(str(args.get("user", "")))
        if user is None:
            raise SlackApiFailure("user_not_found")
        return {"ok": True, "user": user.as_payload()}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.free_plan:
            raise SlackApiFailure("plan_upgrade_required")
        users = self._usergroups.get(str(args.get("usergroup", "")))
        if users is None:
            raise SlackApiFailure("no_such_subteam")
        return {"ok": True, "users": list(users)}

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel("conversations.info", args)
        return {"ok": True, "channel": channel.as_payload()}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        method = "views.publish"
        user_id = args.get("user_id")
        if not isinstance(user_id, str) or not user_id:
            self._violate(method, "[invalid_arguments] /user_id: user_id is required")
            raise SlackApiFailure("invalid_arguments", ["[ERROR] missing required field: user_id"])
        if "view" not in args:
            self._violate(method, "[invalid_arguments] /view: view is required")
            raise SlackApiFailure("invalid_arguments", ["[ERROR] missing required field: view"])
        view = args["view"]
        self._enforce(method, rules.check_view(view))
        current = self._views.get(user_id)
        wanted_hash = args.get("hash")
        if wanted_hash and current is not None and current["hash"] != wanted_hash:
            raise SlackApiFailure("hash_conflict")
        self._view_seq += 1
        published = {
            "id": f"V{self._view_seq:08d}",
            "team_id": TEAM_ID,
            "type": "home",
            "blocks": copy.deepcopy(view["blocks"]),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
            "title": {"type": "plain_text", "text": "View Title"},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": None,
            "previous_view_id": None,
            "root_view_id": f"V{self._view_seq:08d}",
            "app_id": APP_ID,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        self._views[user_id] = published
        return {"ok": True, "view": copy.deepcopy(published)}

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.socket.new_url()}

    def _watch_write(self, method: str, channel: str) -> None:
        if method in _WRITE_METHODS:
            problem = self._rate.record(channel, time.monotonic())
            if problem is not None:
                self._violate(method, str(problem))

    # response_url ----------------------------------------------------------------------------

    def handle_webhook(self, name: str, body: bytes) -> tuple[int, str]:
        """Answer a POST to a response_url: (HTTP status, plain-text body) as Slack does."""
        where = f"response_url {name}"
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = None
        with self._lock:
            hook = self._hooks.get(name)
            if hook is None:
                self._violate(where, "posted to a response_url the stub never handed out")
                return 404, "no_service"
            if not isinstance(payload, dict):
                hook.bodies.append({"_raw": body.decode("utf-8", "replace")})
                self._violate(where, "body is not a JSON object")
                return 400, "invalid_payload"
            hook.bodies.append(copy.deepcopy(payload))
            if len(hook.bodies) > self.response_url_max_uses:
                self._violate(where, f"used more than {self.response_url_max_uses} times")
                return 404, "used_url"
            if time.time() - hook.created > self.response_url_ttl_s:
                self._violate(where, "used after it expired (30 minutes)")
                return 404, "expired_url"
            payload = rules.decode_structured_args(payload)
            problems = (
                [] if payload.get("delete_original") else rules.check_message_content(payload)
            )
            for problem in problems:
                self._violate(where, str(problem))
            fatal = [p for p in problems if p.fatal]
            if fatal:
                return 400, fatal[0].error
            self._apply_response(hook, payload)
        return 200, "ok"

    def _apply_response(self, hook: _Hook, payload: Mapping[str, Any]) -> None:
        """What Slack does with a response_url body, for the hooks that know their message."""
        if hook.channel is None:
            return
        original = next(
            (m for m in self._messages.get(hook.channel, []) if m.ts == hook.message_ts), None
        )
        if _truthy(payload.get("delete_original")):
            if original is not None:
                self._messages[hook.channel].remove(original)
        elif _truthy(payload.get("replace_original")):
            if original is not None:
                self._edit(original, payload)
        elif payload.get("response_type") == "in_channel":
            text, blocks = self._content(payload)
            thread_ts = payload.get("thread_ts")
            self._messages.setdefault(hook.channel, []).append(
                Message(
                    channel=hook.channel,
                    ts=self._next_ts(),
                    text=text,
                    blocks=blocks,
                    user=BOT_USER_ID,
                    bot_id=BOT_ID,
                    thread_ts=str(thread_ts) if thread_ts else None,
                )
            )
        elif hook.user is not None:
            text, blocks = self._content(payload)
            self._ephemerals.append(
                Ephemeral(hook.channel, hook.user, self._next_ts(), text, blocks)
            )


def _modal_method(
    method: Callable[[dict[str, Any]], dict[str, Any]],
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def call(args: dict[str, Any]) -> dict[str, Any]:
        try:
            return method(args)
        except ModalFailure as failure:
            raise SlackApiFailure(failure.error, failure.messages) from None

    return call


class _RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in {"true", "1"})


def _parse_args(content_type: str, body: bytes, query: str) -> tuple[dict[str, Any], bool]:
    """Arguments from the query string and the body (form, multipart or JSON); and is-JSON."""
    args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json":
        try:
            decoded = json.loads(body or b"{}")
        except ValueError as e:
            raise SlackApiFailure("invalid_json", ["[ERROR] body is not valid JSON"]) from e
        if not isinstance(decoded, dict):
            raise SlackApiFailure("invalid_json", ["[ERROR] body is not a JSON object"])
        args.update(decoded)
        return args, True
    if kind == "multipart/form-data":
        parser = email.parser.BytesParser(policy=email.policy.HTTP)
        message = parser.parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(data, bytes):
                args[name] = data.decode("utf-8", "replace")
        return args, False
    args.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return args, False


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], stub: SlackStub) -> None:
        self.stub = stub
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server_version = "slackstub/1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read :meth:`SlackStub.calls` instead of access logs."""

    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._serve(self.rfile.read(length) if length else b"")

    def _serve(self, body: bytes) -> None:
        stub = cast(_HTTPServer, self.server).stub
        url = urlsplit(self.path)
        headers = {k: v for k, v in self.headers.items()}
        if url.path.startswith("/api/"):
            method = unquote(url.path[len("/api/") :])
            status, answer, extra = stub.handle_api(method, headers, url.query, body)
            self._reply(status, answer, extra)
        elif url.path.startswith("/webhook/"):
            status, text = stub.handle_webhook(unquote(url.path[len("/webhook/") :]), body)
            self._send(status, text.encode("utf-8"), "text/html", {})
        else:
            self._send(404, b"not found", "text/plain", {})

    def _reply(self, status: int, body: dict[str, Any], extra: dict[str, str]) -> None:
        self._send(
            status, json.dumps(body).encode("utf-8"), "application/json; charset=utf-8", extra
        )

    def _send(self, status: int, data: bytes, content_type: str, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
