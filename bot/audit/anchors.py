"""Anchors: the chain's head published outside the database (the log, the audit channel), and
the check of published heads against the database, which catches a cut-off end."""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.audit.chain import GENESIS_HASH
from bot.db import AuditEvent

ANCHOR_PREFIX = "ksmc-audit-anchor"
_ANCHOR = re.compile(ANCHOR_PREFIX + r" id=(\d+) hash=([0-9a-f]{64})")


def head(session: Session) -> tuple[int, str]:
    """The newest event's id and MAC ((0, genesis) for an empty log)."""
    row = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).one_or_none()
    return (0, GENESIS_HASH) if row is None else (int(row.id), str(row.hash))


def anchor_line(event_id: int, mac: str, at: datetime) -> str:
    """One anchor as text: logged and posted to the audit channel, and read back by verify."""
    return f"{ANCHOR_PREFIX} id={event_id} hash={mac} at={at.astimezone(UTC).isoformat()}"


def parse_anchors(text_: str) -> list[tuple[int, str]]:
    """Every anchor in a text (a log file, an export of the audit channel)."""
    return [(int(m.group(1)), m.group(2)) for m in _ANCHOR.finditer(text_)]


def check_anchors(session: Session, anchors: Iterable[tuple[int, str]]) -> list[str]:
    """Problems found by comparing published anchors with the database (empty: all match).
    An anchor past the last event means events were cut off the end."""
    problems: list[str] = []
    last_id, _ = head(session)
    for event_id, mac in anchors:
        if event_id == 0:
            continue
        stored = session.execute(
            select(AuditEvent.hash).where(AuditEvent.id == event_id)
        ).scalar_one_or_none()
        if stored is None and event_id > last_id:
            problems.append(
                f"anchor at event {event_id} is past the last event {last_id}: the newest events "
                "were removed"
            )
        elif stored is None:
            problems.append(f"anchored event {event_id} is missing")
        elif not hmac.compare_digest(stored, mac):
            problems.append(f"event {event_id} differs from its anchor: history was rewritten")
    return problems
