"""Slack's message and Block Kit limits as pure checks, so the stub rejects what Slack would reject
(with the same error code) and records what Slack would merely tolerate but the bot must not do.

Limits are from Slack's Block Kit reference as summarised in ``/work/shared/docs/slack.md`` §7–8.
Each finding is a :class:`Problem`; ``fatal`` ones make the stub answer ``ok: false``.
"""

from __future__ import annotations

import contextlib
import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT_CHARS = 40_000
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_ACTION_ID = 255
MAX_BUTTON_VALUE = 2000
MAX_BUTTON_URL = 3000
MAX_ACTIONS_ELEMENTS = 25
MAX_BLOCK_ID = 255
MAX_CONTEXT_ELEMENTS = 10
MAX_IMAGE_ALT_TEXT = 2000
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
MAX_VIEW_PRIVATE_METADATA = 3000
MAX_VIEW_CALLBACK_ID = 255

TEXT_OBJECT_TYPES = frozenset({"plain_text", "mrkdwn"})
BUTTON_STYLES = frozenset({"primary", "danger"})
BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
# Fields that Slack accepts either as JSON or as a JSON-encoded string inside a form body.
STRUCTURED_ARGS = ("blocks", "attachments", "view", "metadata")


@dataclass(frozen=True)
class Problem:
    """One rule broken by a request.

    ``error`` is the code Slack answers with; ``pointer`` is a JSON pointer into the request,
    as in Slack's ``response_metadata.messages``. A non-fatal problem is one Slack accepts
    (so the stub answers ``ok: true``) but that ksmc-bot must still never cause.
    """

    error: str
    pointer: str
    detail: str
    fatal: bool = True

    def __str__(self) -> str:
        return f"[{self.error}] {self.pointer}: {self.detail}"

    def slack_message(self) -> str:
        """The line Slack puts in ``response_metadata.messages`` for this problem."""
        return f"[ERROR] {self.detail} [json-pointer:{self.pointer}]"


def decode_structured_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """``args`` with JSON-string ``blocks``/``view``/… decoded; undecodable strings stay strings."""
    decoded = dict(args)
    for key in STRUCTURED_ARGS:
        value = decoded.get(key)
        if isinstance(value, str) and value.strip():
            with contextlib.suppress(ValueError):
                decoded[key] = json.loads(value)
    return decoded


class _Checker:
    """Collects problems for one request; ``error`` is the code Block Kit problems map to."""

    def __init__(self, error: str) -> None:
        self.error = error
        self.problems: list[Problem] = []

    def add(self, pointer: str, detail: str) -> None:
        self.problems.append(Problem(self.error, pointer, detail))

    def max_len(self, value: object, limit: int, pointer: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.add(pointer, f"must be at most {limit} characters (got {len(value)})")

    def text_object(
        self, obj: object, pointer: str, *, limit: int | None = None, plain_only: bool = False
    ) -> None:
        if not isinstance(obj, dict):
            self.add(pointer, "must provide an object")
            return
        kind = obj.get("type")
        if kind not in TEXT_OBJECT_TYPES:
            self.add(f"{pointer}/type", f"must be one of plain_text, mrkdwn (got {kind!r})")
            return
        if plain_only and kind != "plain_text":
            self.add(f"{pointer}/type", "must be plain_text")
        text = obj.get("text")
        if not isinstance(text, str):
            self.add(f"{pointer}/text", "must be a string")
        elif not text:
            self.add(f"{pointer}/text", "must be more than 0 characters")
        elif limit is not None:
            self.max_len(text, limit, f"{pointer}/text")
        if "emoji" in obj and kind != "plain_text":
            self.add(f"{pointer}/emoji", "emoji is only allowed on plain_text")
        if "verbatim" in obj and kind != "mrkdwn":
            self.add(f"{pointer}/verbatim", "verbatim is only allowed on mrkdwn")
        for key in obj:
            if key not in {"type", "text", "emoji", "verbatim"}:
                self.add(f"{pointer}/{key}", "is not a valid property of a text object")

    def confirm(self, obj: object, pointer: str) -> None:
        if not isinstance(obj, dict):
            self.add(pointer, "must provide an object")
            return
        for key, limit in (
            ("title", MAX_CONFIRM_TITLE),
            ("text", MAX_CONFIRM_TEXT),
            ("confirm", MAX_CONFIRM_BUTTON),
            ("deny", MAX_CONFIRM_BUTTON),
        ):
            self.text_object(
                obj.get(key), f"{pointer}/{key}", limit=limit, plain_only=key != "text"
            )
        if "style" in obj and obj["style"] not in BUTTON_STYLES:
            self.add(f"{pointer}/style", "must be one of primary, danger")

    def element(self, obj: object, pointer: str, action_ids: set[str]) -> None:
        if not isinstance(obj, dict):
            self.add(pointer, "must provide an object")
            return
        action_id = obj.get("action_id")
        if action_id is not None:
            if not isinstance(action_id, str) or not action_id:
                self.add(f"{pointer}/action_id", "must be a non-empty string")
            else:
                self.max_len(action_id, MAX_ACTION_ID, f"{pointer}/action_id")
                if action_id in action_ids:
                    self.add(f"{pointer}/action_id", f"duplicate action_id {action_id!r}")
                action_ids.add(action_id)
        if obj.get("type") == "button":
            self.text_object(
                obj.get("text"), f"{pointer}/text", limit=MAX_BUTTON_TEXT, plain_only=True
            )
            self.max_len(obj.get("value"), MAX_BUTTON_VALUE, f"{pointer}/value")
            self.max_len(obj.get("url"), MAX_BUTTON_URL, f"{pointer}/url")
            if "style" in obj and obj["style"] not in BUTTON_STYLES:
                self.add(f"{pointer}/style", "must be one of primary, danger")
            if "confirm" in obj:
                self.confirm(obj["confirm"], f"{pointer}/confirm")
        elif obj.get("type") == "image":
            self.max_len(obj.get("alt_text"), MAX_IMAGE_ALT_TEXT, f"{pointer}/alt_text")
        elif not isinstance(obj.get("type"), str):
            self.add(f"{pointer}/type", "must be a string")

    def block(self, block: object, pointer: str, block_ids: set[str]) -> None:
        if not isinstance(block, dict):
            self.add(pointer, "must provide an object")
            return
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            self.add(f"{pointer}/type", f"unsupported block type {kind!r}")
            return
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id:
                self.add(f"{pointer}/block_id", "must be a non-empty string")
            else:
                self.max_len(block_id, MAX_BLOCK_ID, f"{pointer}/block_id")
                if block_id in block_ids:
                    self.add(f"{pointer}/block_id", f"duplicate block_id {block_id!r}")
                block_ids.add(block_id)
        action_ids: set[str] = set()
        if kind == "section":
            self.section(block, pointer, action_ids)
        elif kind == "header":
            self.text_object(
                block.get("text"), f"{pointer}/text", limit=MAX_HEADER_TEXT, plain_only=True
            )
        elif kind == "context":
            self.elements(block, pointer, MAX_CONTEXT_ELEMENTS, context=True)
        elif kind == "actions":
            elements = self.elements(block, pointer, MAX_ACTIONS_ELEMENTS, context=False)
            for i, element in enumerate(elements):
                self.element(element, f"{pointer}/elements/{i}", action_ids)
        elif kind == "image":
            if not isinstance(block.get("alt_text"), str):
                self.add(f"{pointer}/alt_text", "must be a string")
            self.max_len(block.get("alt_text"), MAX_IMAGE_ALT_TEXT, f"{pointer}/alt_text")

    def section(self, block: dict[str, Any], pointer: str, action_ids: set[str]) -> None:
        if "text" not in block and "fields" not in block:
            self.add(pointer, "a section needs text or fields")
        if "text" in block:
            self.text_object(block["text"], f"{pointer}/text", limit=MAX_SECTION_TEXT)
        if "fields" in block:
            fields = block["fields"]
            if not isinstance(fields, list) or not fields:
                self.add(f"{pointer}/fields", "must be a non-empty array")
            else:
                if len(fields) > MAX_SECTION_FIELDS:
                    self.add(
                        f"{pointer}/fields",
                        f"must have at most {MAX_SECTION_FIELDS} items (got {len(fields)})",
                    )
                for i, item in enumerate(fields):
                    self.text_object(item, f"{pointer}/fields/{i}", limit=MAX_FIELD_TEXT)
        if "accessory" in block:
            self.element(block["accessory"], f"{pointer}/accessory", action_ids)

    def elements(
        self, block: dict[str, Any], pointer: str, limit: int, *, context: bool
    ) -> list[Any]:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.add(f"{pointer}/elements", "must be a non-empty array")
            return []
        if len(elements) > limit:
            self.add(
                f"{pointer}/elements", f"must have at most {limit} items (got {len(elements)})"
            )
        if context:
            for i, element in enumerate(elements):
                if isinstance(element, dict) and element.get("type") == "image":
                    self.element(element, f"{pointer}/elements/{i}", set())
                else:
                    self.text_object(element, f"{pointer}/elements/{i}")
        return elements

    def blocks(self, blocks: object, pointer: str, max_blocks: int) -> None:
        if not isinstance(blocks, list):
            self.add(pointer, "must provide an array")
            return
        if len(blocks) > max_blocks:
            self.add(pointer, f"no more than {max_blocks} items allowed (got {len(blocks)})")
        block_ids: set[str] = set()
        for i, block in enumerate(blocks):
            self.block(block, f"{pointer}/{i}", block_ids)


def check_blocks(
    blocks: object,
    *,
    max_blocks: int = MAX_MESSAGE_BLOCKS,
    error: str = "invalid_blocks",
    pointer: str = "/blocks",
) -> list[Problem]:
    """Every Block Kit rule ``blocks`` breaks, each reported with ``error``."""
    checker = _Checker(error)
    checker.blocks(blocks, pointer, max_blocks)
    return checker.problems


def _has_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def check_message_content(args: Mapping[str, Any]) -> list[Problem]:
    """Rules for a message body (``chat.postMessage``/``update``/``postEphemeral``, response_url).

    Expects :func:`decode_structured_args` to have run. ``blocks`` without a top-level ``text``
    is accepted by Slack but recorded (non-fatal): notifications and screen readers get nothing.
    """
    problems: list[Problem] = []
    text = args.get("text")
    blocks = args.get("blocks")
    has_content = (
        _has_text(text)
        or _has_text(args.get("markdown_text"))
        or (blocks is not None and blocks != [])
        or bool(args.get("attachments"))
    )
    if not has_content:
        problems.append(Problem("no_text", "/text", "text, blocks or attachments is required"))
    if text is not None and not isinstance(text, str):
        problems.append(Problem("invalid_arguments", "/text", "must be a string"))
    elif isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
        problems.append(
            Problem(
                "msg_too_long",
                "/text",
                f"must be at most {MAX_TEXT_CHARS} characters (got {len(text)})",
            )
        )
    if blocks is not None:
        if isinstance(blocks, str):
            problems.append(Problem("invalid_blocks_format", "/blocks", "blocks is not valid JSON"))
        else:
            problems.extend(check_blocks(blocks))
            if blocks and not _has_text(text) and not _has_text(args.get("markdown_text")):
                problems.append(
                    Problem(
                        "missing_text_fallback",
                        "/text",
                        "blocks sent without a top-level text fallback "
                        "(notifications and screen readers show nothing)",
                        fatal=False,
                    )
                )
    return problems


def check_view(view: object) -> list[Problem]:
    """Rules for a ``views.publish`` Home tab view; Slack reports them as ``invalid_arguments``."""
    checker = _Checker("invalid_arguments")
    if isinstance(view, str):
        checker.add("/view", "view is not valid JSON")
        return checker.problems
    if not isinstance(view, dict):
        checker.add("/view", "must provide an object")
        return checker.problems
    if view.get("type") != "home":
        checker.add("/view/type", f"must be home for views.publish (got {view.get('type')!r})")
    checker.max_len(
        view.get("private_metadata"), MAX_VIEW_PRIVATE_METADATA, "/view/private_metadata"
    )
    checker.max_len(view.get("callback_id"), MAX_VIEW_CALLBACK_ID, "/view/callback_id")
    checker.blocks(view.get("blocks"), "/view/blocks", MAX_VIEW_BLOCKS)
    return checker.problems


class WriteRateWatch:
    """Counts message writes per channel over a sliding window.

    Slack allows about one ``chat.postMessage`` per second per channel with short bursts;
    progress must be throttled, so more than ``max_writes`` in ``window_s`` seconds is reported
    (non-fatal: Slack itself would start answering 429 only later, and unpredictably).
    """

    def __init__(self, window_s: float, max_writes: int) -> None:
        self.window_s = window_s
        self.max_writes = max_writes
        self._writes: dict[str, deque[float]] = {}

    def record(self, channel: str, now: float) -> Problem | None:
        writes = self._writes.setdefault(channel, deque())
        writes.append(now)
        while writes and writes[0] <= now - self.window_s:
            writes.popleft()
        if len(writes) <= self.max_writes:
            return None
        return Problem(
            "ratelimited",
            "/channel",
            f"{len(writes)} writes to {channel} within {self.window_s:g}s "
            f"(allowed: {self.max_writes}); throttle to about 1 per second per channel",
            fatal=False,
        )
