"""People, times and counts as ksmc-bot's messages say them: mentions that can only be of a
well-formed Slack id, times every reader can read, durations, plurals."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from handlers.mrkdwn import escape_mrkdwn

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,40}")
_GROUP_ID = re.compile(r"S[A-Z0-9]{2,40}")
_MENTION_FORMS = re.compile(r"<@([UW][A-Z0-9]{2,})>|<!subteam\^(S[A-Z0-9]{2,})(?:\|[^>]*)?>")


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
