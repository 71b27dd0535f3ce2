"""`ksmc-bot audit export`: the events as JSON lines or CSV, MACs included for offline checks."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from typing import Any, Literal, TextIO

from sqlalchemy import Row
from sqlalchemy.orm import Session

from bot.audit.chain import streamed_rows

ExportFormat = Literal["jsonl", "csv"]

_EXPORT_COLUMNS = (
    "id",
    "at",
    "team_id",
    "channel_id",
    "actor_id",
    "actor_name",
    "action",
    "request_id",
    "details",
    "prev_hash",
    "hash",
)


def _record(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at.isoformat(timespec="microseconds"),
        "team_id": row.team_id,
        "channel_id": row.channel_id,
        "actor_id": row.actor_id,
        "actor_name": row.actor_name,
        "action": row.action,
        "request_id": row.request_id,
        "details": row.details,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


def export(session: Session, since: datetime | None, fmt: ExportFormat, out: TextIO) -> int:
    """Write events (at or after `since`, all when None) in id order to `out`; return the count.

    jsonl: one JSON object per line, `details` as an object, ASCII-escaped so control characters
    and Unicode line separators can never split a line. csv: a header, then every field quoted
    (newlines inside names survive as quoted data; open `out` with newline=""), `details` as its
    canonical JSON text. Both keep prev_hash and hash, so an export can be checked offline.
    """
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"unknown export format {fmt!r}: use 'jsonl' or 'csv'")
    count = 0
    with streamed_rows(session, since) as rows:
        if fmt == "jsonl":
            for row in rows:
                record = _record(row)
                record["details"] = json.loads(row.details)
                out.write(json.dumps(record, ensure_ascii=True) + "\n")
                count += 1
            return count
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow(_EXPORT_COLUMNS)
        for row in rows:
            record = _record(row)
            writer.writerow([record[c] for c in _EXPORT_COLUMNS])
            count += 1
        return count
