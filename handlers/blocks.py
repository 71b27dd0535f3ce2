"""Block Kit for ksmc-bot's Slack messages: its limits, fitting text into them, block ids, and
the blocks themselves.

Every renderer builds its blocks through these helpers so that no message breaks a Block Kit
limit, however long the lists it shows (`pack` fills sections up to the limit and says how much
it left out). The text that goes into the blocks is escaped by `handlers.mrkdwn`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from handlers.mrkdwn import code, plain, truncate_mrkdwn

# Block Kit limits (docs/slack.md §8), and the bot's own, stricter, ones.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_BLOCK_ID = 255
MAX_CONTEXT_ELEMENTS = 10
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
#: Slack allows 40,000 characters of top-level text; a notification needs a few hundred.
MAX_FALLBACK_TEXT = 1500
#: All the text in one message's blocks, together. Slack refuses messages past an undocumented
#: cumulative size (`msg_blocks_too_long`, reported at about 12,000-13,000 characters: bolt-js
#: issues #2509 and #2867), whatever each block's own limit; this leaves a wide margin.
MAX_MESSAGE_TEXT = 9000

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class Rendered:
    """One Slack message: `text` is the notification / screen-reader fallback, always set."""

    text: str
    blocks: list[dict[str, Any]]


# ---- fitting text into blocks ----------------------------------------------------------------


@dataclass(frozen=True)
class More:
    """The note that ends a packed list when items were left out: `text` (our own words) with
    `{n}` for how many and `{s}` for a plural 's', then `tail` as it is (it may hold names)."""

    text: str
    tail: str = ""

    def note(self, left: int) -> str:
        return self.text.format(n=f"{left:,}", s="" if left == 1 else "s") + self.tail


MORE = More("… and {n} more")


def pack(
    items: Sequence[str],
    *,
    max_chunks: int,
    limit: int = MAX_SECTION_TEXT,
    total: int | None = None,
    sep: str = "\n",
    head: str = "",
    more: More | None = None,
) -> list[str]:
    """Join `items` into at most `max_chunks` texts of at most `limit` characters each, and at
    most `total` characters together.

    `head` opens the first text (followed by a newline). Items that do not fit are left out
    and, when `more` is given, the last text ends with its note of how many were left out (items are
    dropped from its end until that note fits). Items longer than a whole text are cut with
    `truncate_mrkdwn`. Returns [] for no items and no head.
    """
    if max_chunks < 1:
        return []
    total = max_chunks * limit if total is None else total
    limit = min(limit, total)
    room = max(1, limit - (len(head) + 1 if head else 0))  # what the first text has after head
    chunks: list[list[str]] = [[]]
    sizes = [limit - room]
    used = sizes[0]
    shown = 0
    for item in items:
        item = truncate_mrkdwn(item, room)
        joined = len(item) + (len(sep) if chunks[-1] else 0)
        if sizes[-1] + joined <= limit and used + joined <= total:
            chunks[-1].append(item)
            sizes[-1] += joined
            used += joined
        elif len(chunks) < max_chunks and used + len(item) <= total:
            chunks.append([item])
            sizes.append(len(item))
            used += len(item)
        else:
            break
        shown += 1
    left = len(items) - shown
    while left and more is not None:
        note = truncate_mrkdwn(more.note(left), room)
        joined = len(note) + (len(sep) if chunks[-1] else 0)
        if (sizes[-1] + joined <= limit and used + joined <= total) or not chunks[-1]:
            chunks[-1].append(note)
            break
        dropped = chunks[-1].pop()
        freed = len(dropped) + (len(sep) if chunks[-1] else 0)
        sizes[-1] -= freed
        used -= freed
        left += 1
        if not chunks[-1] and len(chunks) > 1:
            chunks.pop()
            sizes.pop()
    texts = [sep.join(chunk) for chunk in chunks if chunk]
    if head:
        texts = [f"{head}\n{texts[0]}" if texts else head, *texts[1:]]
    return texts


def text_size(value: object) -> int:
    """Characters of text in blocks (every `text` string, at any depth): what Slack's cumulative
    limit counts, near enough."""
    if isinstance(value, list):
        return sum(text_size(v) for v in value)
    if isinstance(value, dict):
        return sum(
            len(v) if k == "text" and isinstance(v, str) else text_size(v) for k, v in value.items()
        )
    return 0


def names_inline(names: Sequence[str], limit: int, *, name_limit: int = 80) -> str:
    """Names as code spans separated by commas, as many as fit in `limit` characters, then
    `… and 4,990 more` for the rest."""
    return "".join(
        pack(
            [code(n, limit=name_limit) for n in names],
            max_chunks=1,
            limit=limit,
            sep=", ",
            more=MORE,
        )
    )


# ---- Block Kit -------------------------------------------------------------------------------


class BlockIds:
    """Unique block ids for one rendering: `<prefix>:<name>`, numbered when a name repeats.

    The prefix carries the request id, state and version, so every re-rendered message gets new
    ids (Slack keeps the old content of a block whose id did not change).
    """

    def __init__(self, *parts: str) -> None:
        safe = [_ID_UNSAFE.sub("-", p)[:40] for p in parts]
        self.prefix = ":".join(["ksmc", *safe])
        self._seen: dict[str, int] = {}

    def __call__(self, name: str) -> str:
        count = self._seen.get(name, 0) + 1
        self._seen[name] = count
        suffix = name if count == 1 else f"{name}-{count}"
        return f"{self.prefix}:{suffix}"[:MAX_BLOCK_ID]


@dataclass(frozen=True)
class BlockRef:
    """What a request message's block id says: which request, in which state and version."""

    request_id: str
    state: str
    version: int
    part: str


_BLOCK_REF = re.compile(
    r"ksmc:(?P<id>[A-Za-z0-9_-]{1,40}):(?P<state>[a-z_-]{1,40}):v(?P<version>[0-9]{1,9})"
    r":(?P<part>[A-Za-z0-9_-]{1,80})"
)


def parse_block_id(block_id: str) -> BlockRef | None:
    """Read back a block id made by `render_request`, e.g. the version a button was pressed on."""
    m = _BLOCK_REF.fullmatch(block_id)
    if m is None:
        return None
    return BlockRef(m["id"], m["state"], int(m["version"]), m["part"])


def md(text: str) -> MarkdownTextObject:
    # verbatim: Slack must not auto-link URLs, channel names or bare @mentions in the text.
    return MarkdownTextObject(text=text, verbatim=True)


def header(text: str, block_id: str) -> dict[str, Any]:
    return HeaderBlock(text=PlainTextObject(text=text), block_id=block_id).to_dict()


def section(text: str, block_id: str) -> dict[str, Any]:
    text = truncate_mrkdwn(text, MAX_SECTION_TEXT) if text.strip() else "—"  # never empty
    return SectionBlock(text=md(text), block_id=block_id).to_dict()


def context(texts: Iterable[str], block_id: str) -> dict[str, Any]:
    elements = [md(truncate_mrkdwn(t, MAX_SECTION_TEXT)) for t in texts if t]
    return ContextBlock(elements=elements[:MAX_CONTEXT_ELEMENTS], block_id=block_id).to_dict()


def divider(block_id: str) -> dict[str, Any]:
    return DividerBlock(block_id=block_id).to_dict()


def confirm(
    title: str, text: str, yes: str, no: str = "Back", style: str | None = None
) -> ConfirmObject:
    return ConfirmObject(
        title=PlainTextObject(text=plain(title, MAX_CONFIRM_TITLE)),
        text=md(truncate_mrkdwn(text, MAX_CONFIRM_TEXT)),
        confirm=PlainTextObject(text=plain(yes, MAX_CONFIRM_BUTTON)),
        deny=PlainTextObject(text=plain(no, MAX_CONFIRM_BUTTON)),
        style=style,
    )


def button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm_with: ConfirmObject | None = None,
) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text=plain(text, MAX_BUTTON_TEXT)),
        action_id=action_id,
        value=value[:MAX_BUTTON_VALUE],
        style=style,
        confirm=confirm_with,
    )


def actions(buttons: Sequence[ButtonElement], block_id: str) -> dict[str, Any]:
    return ActionsBlock(elements=list(buttons), block_id=block_id).to_dict()
