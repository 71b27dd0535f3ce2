"""The `at <time>` clause of chat commands: user words in, one aware UTC minute out.

Kept apart from the command grammar because scheduling has rules of its own (the next occurrence
of a wall-clock time, zone names, a 30-day window) that are easier to read and test alone.
Nothing here knows about Slack or about the other clauses; errors are `TimeParseError`, which the
grammar turns into a usage error for the command concerned.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, available_timezones

#: How far ahead a request may be scheduled; approvals and reminders are planned within it.
MAX_AHEAD = timedelta(days=30)

#: The accepted forms, as shown in error messages and help.
TIME_FORMS = (
    "HH:MM [zone], YYYY-MM-DD HH:MM [zone], or ISO-8601 like 2026-12-01T02:00Z "
    "or 2026-12-01T02:00+01:00 (UTC unless a zone or offset is given)"
)

_HHMM = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?"
)


class TimeParseError(ValueError):
    """The words after `at` are not a time we accept; the message says why."""


def parse_time(words: Sequence[str], now: datetime) -> tuple[datetime, int]:
    """Read a time from the start of `words` and return it with the number of words used.

    The result is aware, in UTC, with seconds zeroed, strictly after `now` and at most
    `MAX_AHEAD` after it. `HH:MM` means the next time the clock (in UTC, or in the zone that
    follows) shows that time. A zone is recognised after a time without an offset when the next
    word contains "/" or is a zone name such as UTC or CET (case-insensitively); other words are
    left for the caller. In a DST gap or overlap the offset before the change applies (fold=0).
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if not words:
        raise TimeParseError(f"at needs a time: {TIME_FORMS}")
    first = words[0]
    if _HHMM.fullmatch(first):
        zone, used = _zone_after(words, 1)
        when = _next_occurrence(first, zone or UTC, now)
    elif _DATE.fullmatch(first) and len(words) > 1 and _HHMM.fullmatch(words[1]):
        zone, used = _zone_after(words, 2)
        when = _on_date(first, words[1], zone or UTC)
        used += 1
    elif first.isascii() and _ISO.fullmatch(first.upper()):
        when = _iso(first.upper())
        if when.tzinfo is None:
            zone, used = _zone_after(words, 1)
            when = when.replace(tzinfo=zone or UTC)
        elif len(words) > 1 and _looks_like_zone(words[1]):
            raise TimeParseError(
                f"{first} already has an offset; give an offset or a zone, not both"
            )
        else:
            used = 0
    elif _DATE.fullmatch(first):
        raise TimeParseError(f"{first} needs a time of day too, like {first} 02:00")
    else:
        raise TimeParseError(f"{quote(first)} is not a time; use {TIME_FORMS}")
    return _checked(when, now), 1 + used


def format_time(when: datetime) -> str:
    """The canonical text of a time, `YYYY-MM-DDTHH:MMZ`, which `parse_time` reads back."""
    u = when.astimezone(UTC)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}Z"


def _next_occurrence(hhmm: str, zone: tzinfo, now: datetime) -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    today = now.astimezone(zone).date()
    when = datetime(today.year, today.month, today.day, hour, minute, tzinfo=zone)
    if when <= now:
        tomorrow = today + timedelta(days=1)
        when = datetime(tomorrow.year, tomorrow.month, tomorrow.day, hour, minute, tzinfo=zone)
    return when


def _on_date(day_text: str, hhmm: str, zone: tzinfo) -> datetime:
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        raise TimeParseError(f"{day_text} is not a valid date (YYYY-MM-DD)") from None
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


def _iso(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise TimeParseError(f"{text} is not a valid date and time ({TIME_FORMS})") from None


def _checked(when: datetime, now: datetime) -> datetime:
    try:
        when = when.astimezone(UTC).replace(second=0, microsecond=0)
    except (OverflowError, ValueError):
        raise TimeParseError("that time is out of range; give a time in the next 30 days") from None
    if when <= now:
        raise TimeParseError(f"{_human(when)} is in the past (it is now {_human(now)})")
    if when - now > MAX_AHEAD:
        raise TimeParseError(
            f"{_human(when)} is more than {MAX_AHEAD.days} days ahead; schedule at most "
            f"{MAX_AHEAD.days} days out (until {_human(now + MAX_AHEAD)})"
        )
    return when


def _zone_after(words: Sequence[str], index: int) -> tuple[tzinfo | None, int]:
    """The zone named by `words[index]` if that word is meant as one, and the words it took."""
    if index >= len(words) or not _looks_like_zone(words[index]):
        return None, 0
    word = words[index]
    if word.upper() == "UTC":
        return UTC, 1
    key = _zones().get(word.lower())
    if key is None:
        close = difflib.get_close_matches(word, sorted(_zones().values()), n=1, cutoff=0.8)
        hint = f" — did you mean {close[0]}?" if close else " (use an IANA name like Europe/Berlin)"
        raise TimeParseError(f"unknown time zone {quote(word)}{hint}")
    try:
        return ZoneInfo(key), 1
    except (KeyError, ValueError, OSError):
        raise TimeParseError(f"time zone {key} is not available on this server") from None


def _looks_like_zone(word: str) -> bool:
    return "/" in word or word.upper() == "UTC" or word.lower() in _zones()


@functools.cache
def _zones() -> dict[str, str]:
    """IANA zone keys by their lowercase form, so `europe/berlin` works too."""
    usable = available_timezones() - {"localtime", "Factory"}  # server-dependent / no real offset
    return {key.lower(): key for key in usable}


def _human(when: datetime) -> str:
    u = when.astimezone(UTC)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d} {u.hour:02d}:{u.minute:02d} UTC"


def quote(word: str, limit: int = 40) -> str:
    """A user's word as shown in an error message: quoted, shortened, control characters escaped."""
    shown = word if len(word) <= limit else word[: limit - 1] + "…"
    escaped = (c if c.isprintable() else c.encode("unicode_escape").decode() for c in shown)
    return '"' + "".join(escaped) + '"'
