"""Building blocks for ksmc-bot's Slack messages: escaping, mentions, times, Block Kit limits.

Every renderer goes through these helpers so that two rules hold everywhere: text that came from
a user or a cluster is escaped before it reaches mrkdwn (no injected `<!channel>`, mentions or
links, no spoofed formatting), and no message breaks a Block Kit limit, however long the lists
it shows (`pack` fills sections up to the limit and says how much it left out).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
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

# Markers that start or end bold, italic, strike and code in mrkdwn, and harmless look-alikes.
_LOOKALIKE = {"*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ"}
_BROADCAST = re.compile(r"@(?=(?:here|channel|everyone)\b)", re.IGNORECASE)
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,40}")
_GROUP_ID = re.compile(r"S[A-Z0-9]{2,40}")
_MENTION_FORMS = re.compile(r"<@([UW][A-Z0-9]{2,})>|<!subteam\^(S[A-Z0-9]{2,})(?:\|[^>]*)?>")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class Rendered:
    """One Slack message: `text` is the notification / screen-reader fallback, always set."""

    text: str
    blocks: list[dict[str, Any]]


# ---- escaping --------------------------------------------------------------------------------


def _visible(c: str, multiline: bool) -> str:
    if c == "\n":
        return "\n" if multiline else "⏎"
    if c.isprintable():
        return c
    return c.encode("unicode_escape").decode("ascii")


def _controls(s: str, multiline: bool) -> str:
    """Control and invisible format characters shown as `\\x07`-style escapes (newline as ⏎)."""
    s = s.replace("\r\n", "\n")
    return "".join(_visible(c, multiline) for c in s)


def _entities(s: str) -> str:
    """Slack's three mandatory escapes: `&`, `<` and `>` (so `<!channel>` is only text)."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(s: str, limit: int) -> str:
    """`s` cut to at most `limit` characters, with an ellipsis when something was cut."""
    if len(s) <= limit:
        return s
    return s[: max(0, limit - 1)] + "…"


def _fit(escaped: str, limit: int | None) -> str:
    """Escaped text cut to `limit` characters without splitting an `&amp;`-style entity."""
    if limit is None or len(escaped) <= limit:
        return escaped
    cut = escaped[: max(0, limit - 1)]
    amp = cut.rfind("&")
    if amp > cut.rfind(";"):
        cut = cut[:amp]
    return cut + "…"


def _safe(s: str, multiline: bool, limit: int | None, in_code: bool) -> str:
    if limit is not None:
        s = clip(s, limit)  # bounds the work; the escaped text is cut to `limit` again below
    s = _controls(s, multiline)
    out: list[str] = []
    for i, c in enumerate(s):
        if c == "`" or (c in _LOOKALIKE and not in_code):
            inside_word = (
                c != "`" and 0 < i < len(s) - 1 and s[i - 1].isalnum() and s[i + 1].isalnum()
            )
            out.append(c if inside_word else _LOOKALIKE[c])
        else:
            out.append(c)
    return _fit(_BROADCAST.sub("@\u2060", _entities("".join(out))), limit)


def escape_mrkdwn(s: str, *, multiline: bool = False, limit: int | None = None) -> str:
    """User- or cluster-supplied text made safe to put into mrkdwn.

    Escapes `&`, `<`, `>` (no mentions, broadcasts or links can be injected); breaks a bare
    `@here`/`@channel`/`@everyone`; shows control characters visibly (newlines as ⏎ unless
    `multiline`). A `*`, `_` or `~` between two letters or digits cannot open or close a span in
    Slack and is kept (`kube_system`); anywhere else, and every backtick, is replaced by a
    look-alike so that the text cannot restyle the message. The result has at most `limit`
    characters (cut with …).
    """
    return _safe(s, multiline, limit, in_code=False)


def code(s: str, *, limit: int = 100) -> str:
    """`s` as an inline code span (at most `limit` characters inside): nothing in it is
    formatted, mentions and links are escaped, backticks become ˋ."""
    return f"`{_safe(s, False, limit, in_code=True)}`" if s else "‹empty›"


def code_block(s: str, *, limit: int = 1500) -> str:
    """`s` as a preformatted block (newlines kept, at most `limit` characters inside)."""
    return f"```{_safe(s, True, limit, in_code=True) or ' '}```"


def plain(s: str, limit: int) -> str:
    """Text for a `plain_text` object (Slack parses nothing there): controls visible, clipped."""
    return clip(_controls(s, multiline=False), limit)


def truncate_mrkdwn(s: str, limit: int) -> str:
    """Bot-built mrkdwn cut to `limit` without splitting an entity, a `<…>` token or a code span.

    A safety net: renderers clip user text before formatting it, so lines rarely need this.
    """
    if len(s) <= limit:
        return s
    cut = s[: max(0, limit - 2)]
    amp, semi = cut.rfind("&"), cut.rfind(";")
    if amp > semi:
        cut = cut[:amp]
    lt, gt = cut.rfind("<"), cut.rfind(">")
    if lt > gt:
        cut = cut[:lt]
    if cut.count("`") % 2:
        cut = cut[: cut.rfind("`")]
    return cut + "…"


# ---- people and times ------------------------------------------------------------------------


def mention(user_id: str) -> str | None:
    """`<@U…>` for a well-formed Slack user id; None for anything else (never free text)."""
    return f"<@{user_id}>" if _USER_ID.fullmatch(user_id) else None


def mention_entry(entry: str) -> str | None:
    """A configured approver as a mention: a user id (U…/W…), a user group id (S…), or those
    already in Slack's `<@U…>` / `<!subteam^S…>` form. None when it is none of them."""
    entry = entry.strip()
    if m := _MENTION_FORMS.fullmatch(entry):
        entry = m.group(1) or m.group(2)
    if _USER_ID.fullmatch(entry):
        return f"<@{entry}>"
    if _GROUP_ID.fullmatch(entry):
        return f"<!subteam^{entry}>"
    return None


def person(user_id: str, name: str) -> str:
    """A mention when `user_id` is valid, else the escaped name (which notifies nobody)."""
    return mention(user_id) or escape_mrkdwn(name or user_id or "someone", limit=80)


def utc_text(when: datetime) -> str:
    """`2026-12-01 02:00 UTC`: a time every reader can parse, for plain text and fallbacks."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def slack_date(when: datetime) -> str:
    """A time Slack shows in each reader's own time zone, with UTC text as its fallback."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    epoch = int(when.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|{utc_text(when)}>"


def duration(seconds: float) -> str:
    """`42s`, `4m 05s`, `1h 02m`."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


# ---- fitting text into blocks ----------------------------------------------------------------


def pack(
    items: Sequence[str],
    *,
    max_chunks: int,
    limit: int = MAX_SECTION_TEXT,
    total: int | None = None,
    sep: str = "\n",
    head: str = "",
    more: Callable[[int], str] | None = None,
) -> list[str]:
    """Join `items` into at most `max_chunks` texts of at most `limit` characters each, and at
    most `total` characters together.

    `head` opens the first text (followed by a newline). Items that do not fit are left out
    and, when `more` is given, the last text ends with `more(number left out)` (items are
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
        note = truncate_mrkdwn(more(left), room)
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
            more=lambda n: f"… and {n:,} more",
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
