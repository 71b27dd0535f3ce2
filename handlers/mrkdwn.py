"""Text made safe for Slack's mrkdwn: escaping, code spans, plain text, cutting to a limit.

Every renderer goes through these helpers so that text that came from a user or a cluster is
escaped before it reaches mrkdwn (no injected `<!channel>`, mentions or links, no spoofed
formatting), and a cut never splits an entity, a `<…>` token or a code span. Block Kit's limits
and the blocks themselves are `handlers.blocks`.
"""

from __future__ import annotations

import re

# Markers that start or end bold, italic, strike and code in mrkdwn, and harmless look-alikes.
_LOOKALIKE = {"*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ"}
_BROADCAST = re.compile(r"@(?=(?:here|channel|everyone)\b)", re.IGNORECASE)


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
