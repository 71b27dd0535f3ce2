"""The tamper-evident audit log: who did what to which request, as a keyed hash chain.

Each event's MAC covers its content and the previous event's MAC, so rewriting or removing an
event breaks every link after it and `verify()` names the first broken one. The MAC is an
HMAC-SHA256 with `KSMC_AUDIT_KEY`, which is not in the database: whoever can write the tables
(and drop the append-only triggers) can still delete or garble events, but cannot forge one or
recompute the chain after a rewrite. Truncation of the newest events is caught by the anchors
(`anchor_line`), the chain head published outside the database. Events written before a key was
set carry an unkeyed SHA-256 (`scheme` "sha256"); the first keyed event covers the last of them,
so that prefix is sealed too, and an unkeyed event after a keyed one is refused as a forgery.

Secrets never enter the log: details are redacted before they are hashed and stored. Events are
appended inside the caller's transaction, so a state change and its audit event commit (or roll
back) together.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, TextIO

from sqlalchemy import Row, select, text
from sqlalchemy.orm import Session

from bot.db import AuditEvent, utcnow
from bot.metrics import REFUSALS

#: prev_hash of the first event.
GENESIS_HASH = "0" * 64

#: The two hash schemes: unkeyed (events from before the key) and keyed.
LEGACY, KEYED = "sha256", "hmac"

#: The process's audit key (`KSMC_AUDIT_KEY`), set once by `bot.app.build`; None: unkeyed.
_KEY: dict[str, bytes | None] = {"key": None}


class AuditKeyMissing(RuntimeError):
    """The log is keyed but this process has no key: appending unkeyed would break the chain."""


def set_key(key: bytes | None) -> None:
    """Use `key` for every event this process appends and verifies (None: unkeyed)."""
    _KEY["key"] = key or None


def current_key() -> bytes | None:
    return _KEY["key"]


#: pg_advisory_xact_lock key that serializes appends to the chain on PostgreSQL.
CHAIN_LOCK_KEY = 0x6B736D63_61756474  # "ksmcaudt"

REDACTED = "[redacted]"

# Key names (lowercased, without "_", "-", ".", spaces) containing one of these are secret.
_SECRET_KEY_PARTS = (
    "token",
    "secret",
    "password",
    "passwd",
    "kubeconfig",
    "jwt",
    "authorization",
    "credential",
    "apikey",
    "privatekey",
    "keydata",  # kubeconfig client-key-data
)
_KEY_NOISE = re.compile(r"[\s_.\-]")
_SECRET_STRINGS = re.compile(
    r"\bxox[abeoprs]-[0-9A-Za-z-]+"  # Slack bot/user/app-level/refresh tokens
    r"|\bxapp-[0-9A-Za-z-]+"  # Slack app-level tokens
    r"|\beyJ[0-9A-Za-z_-]+\.[0-9A-Za-z_-]+\.[0-9A-Za-z_-]+"  # JWTs (service-account tokens)
    # PEM private keys; the body may only be base64, whitespace and (JSON-escaped) line breaks,
    # so text with many BEGIN lines and no END is scanned in linear time, not quadratic.
    r"|-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----[A-Za-z0-9+/=\s\\]*"
    r"-----END [A-Z ]{0,40}PRIVATE KEY-----",
)

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


@dataclass(frozen=True)
class Actor:
    """Who causes an event: a Slack user, or the bot itself (scheduler, executor)."""

    id: str
    name: str


#: The actor for transitions nobody clicked: expiry, maintenance windows, the executor.
SYSTEM = Actor(id="ksmc-bot", name="ksmc-bot")


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of walking the chain. `checked` counts the events examined (including a bad one);
    `last_hash` is the head of the chain when ok — record it elsewhere to detect truncation,
    which a chain alone cannot reveal."""

    ok: bool
    checked: int
    first_bad_id: int | None
    reason: str
    last_hash: str = GENESIS_HASH
    last_id: int = 0
    #: The first event with a keyed MAC (None: none yet); events before it are legacy SHA-256.
    keyed_from: int | None = None


# --- redaction and canonical JSON -----------------------------------------------------------


def _is_secret_key(key: str) -> bool:
    folded = _KEY_NOISE.sub("", key.lower())
    return any(part in folded for part in _SECRET_KEY_PARTS)


def redact(value: Any) -> Any:
    """A copy of JSON-like `value` with secrets replaced by "[redacted]".

    Values under secret-looking keys (token, secret, password, kubeconfig, jwt, authorization,
    credential, … — case-insensitive, at any depth) are replaced whole; Slack tokens, JWTs and
    PEM private keys inside any string are replaced where they occur.
    """
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and _is_secret_key(k) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _SECRET_STRINGS.sub(REDACTED, value)
    return value


def _clean_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded as UTF-8.
    return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _to_json(value: Any) -> Any:
    """Plain JSON types from what callers naturally pass (datetimes, enums, dataclasses…)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("audit details cannot hold NaN or infinity")
        return value
    if isinstance(value, enum.Enum):
        return _to_json(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "get_secret_value"):  # pydantic SecretStr / SecretBytes
        return REDACTED
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _to_json(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_to_json(v) for v in value]
        return sorted(items, key=canonical_json) if isinstance(value, set | frozenset) else items
    # No repr: the value may be exactly what must not reach a log.
    raise TypeError(f"audit details cannot hold a {type(value).__name__}")


def canonical_json(value: Any) -> str:
    """The one textual form of a JSON value: sorted keys, no spaces, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _digest(
    *,
    prev_hash: str,
    at: datetime,
    team_id: str,
    channel_id: str,
    actor_id: str,
    actor_name: str,
    action: str,
    request_id: str | None,
    details: str,
    scheme: str = LEGACY,
    key: bytes | None = None,
) -> str | None:
    content = {
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "team_id": team_id,
        "channel_id": channel_id,
        "actor_id": actor_id,
        "actor_name": actor_name,
        "action": action,
        "request_id": request_id,
        "details": details,  # the stored canonical text, byte for byte
        "prev_hash": prev_hash,
    }
    data = canonical_json(content).encode("ascii")
    if scheme == LEGACY:
        return hashlib.sha256(data).hexdigest()
    if scheme != KEYED or key is None:
        return None  # cannot be computed here: no key, or a scheme this code does not know
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def event_hash(event: AuditEvent | Row[Any], key: bytes | None = None) -> str | None:
    """The MAC an event (row or object) must carry, given its content, prev_hash and scheme
    (None when it is keyed and no key is at hand). `key` defaults to the process's key."""
    return _digest(
        scheme=getattr(event, "scheme", None) or LEGACY,
        key=key if key is not None else current_key(),
        prev_hash=event.prev_hash,
        at=event.at,
        team_id=event.team_id,
        channel_id=event.channel_id,
        actor_id=event.actor_id,
        actor_name=event.actor_name,
        action=event.action,
        request_id=event.request_id,
        details=event.details,
    )


# --- appending ------------------------------------------------------------------------------


def lock_chain(session: Session) -> None:
    """Hold the chain's write lock until the end of the session's current transaction.

    PostgreSQL: a transaction-scoped advisory lock (re-entrant, so taking it early — as
    `bot.store.transition` does, before touching any row — is cheap and keeps lock order
    consistent). It requires READ COMMITTED, so the last hash read after the lock is current.
    SQLite: a no-op write, which takes the database's single write lock. Engines from
    `bot.db.make_engine` already hold it (BEGIN IMMEDIATE); this keeps other engines correct too.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        isolation = session.execute(
            text("SELECT pg_advisory_xact_lock(:key), current_setting('transaction_isolation')"),
            {"key": CHAIN_LOCK_KEY},
        ).one()[1]
        if isolation != "read committed":
            raise RuntimeError(f"audit appends need READ COMMITTED, not {isolation!r}")
    elif dialect == "sqlite":
        session.execute(text("UPDATE audit_events SET id = id WHERE 0"))
    else:  # pragma: no cover - only the two supported databases
        raise RuntimeError(f"no audit chain lock for {dialect}")


def append(
    session: Session,
    *,
    action: str,
    actor_id: str,
    actor_name: str,
    team_id: str,
    channel_id: str,
    request_id: str | None,
    details: Mapping[str, Any] | None,
    at: datetime | None = None,
) -> AuditEvent:
    """Add one event to the chain, in the caller's transaction (flushed, not committed).

    Details are redacted, then stored as canonical JSON. Appends from any number of threads or
    processes form one chain: the chain lock is taken before the last hash is read. On
    PostgreSQL that lock is held until commit, so write the audit event last in a transaction
    (or call `lock_chain` first) and commit promptly.
    """
    when = utcnow() if at is None else at
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("audit timestamps must be timezone-aware")
    when = when.astimezone(UTC)
    details_text = canonical_json(redact(_to_json(dict(details or {}))))
    event = AuditEvent(
        at=when,
        team_id=_clean_text(team_id),
        channel_id=_clean_text(channel_id),
        actor_id=_clean_text(actor_id),
        actor_name=_clean_text(actor_name),
        action=_clean_text(action),
        request_id=None if request_id is None else _clean_text(request_id),
        details=details_text,
    )

    lock_chain(session)
    last = session.execute(
        select(AuditEvent.hash, AuditEvent.scheme).order_by(AuditEvent.id.desc()).limit(1)
    ).one_or_none()
    key = current_key()
    if key is None and last is not None and last.scheme == KEYED:
        raise AuditKeyMissing("the audit log is keyed: set KSMC_AUDIT_KEY to append to it")
    event.scheme = LEGACY if key is None else KEYED
    event.prev_hash = GENESIS_HASH if last is None else last.hash
    mac = event_hash(event, key)
    assert mac is not None  # the scheme was chosen to match the key
    event.hash = mac
    session.add(event)
    session.flush()
    if event.action.endswith(".refused"):  # every refusal is audited: one place to count them
        REFUSALS.labels(event.action).inc()
    return event


# --- reading --------------------------------------------------------------------------------

_COLUMNS = (
    AuditEvent.id,
    AuditEvent.at,
    AuditEvent.team_id,
    AuditEvent.channel_id,
    AuditEvent.actor_id,
    AuditEvent.actor_name,
    AuditEvent.action,
    AuditEvent.request_id,
    AuditEvent.details,
    AuditEvent.prev_hash,
    AuditEvent.hash,
    AuditEvent.scheme,
)


def authentic(row: AuditEvent | Row[Any], key: bytes | None = None) -> bool:
    """Whether one event's MAC checks out on its own (the executor trusts no other event).
    An unkeyed event counts only while this process has no key either."""
    key = key if key is not None else current_key()
    scheme = getattr(row, "scheme", None) or LEGACY
    if key is not None and scheme != KEYED:
        return False
    expected = event_hash(row, key)
    return expected is not None and hmac.compare_digest(expected, row.hash)


@contextmanager
def _rows(session: Session, since: datetime | None = None) -> Iterator[Iterable[Row[Any]]]:
    """The events in id order, streamed (a server-side cursor on PostgreSQL), and the cursor
    closed when the caller is done, also when it stops early at a bad event."""
    stmt = select(*_COLUMNS).order_by(AuditEvent.id)
    if since is not None:
        if since.tzinfo is None or since.utcoffset() is None:
            raise ValueError("`since` must be timezone-aware")
        stmt = stmt.where(AuditEvent.at >= since)
    result = session.execute(stmt.execution_options(yield_per=1000))
    try:
        rows: Iterable[Row[Any]] = result  # type: ignore[assignment]  # Row is invariant
        yield rows
    finally:
        result.close()


def verify(session: Session, key: bytes | None = None) -> VerifyResult:
    """Walk the whole chain in id order and report the first event that does not check out.

    Keyed events are checked with `key` (default: the process's); without a key they cannot be
    checked, which is a failure, not a pass. Unkeyed events are accepted only before the first
    keyed one: one after it was written by someone without the key.
    """
    with _rows(session) as rows:
        return _walk(rows, key if key is not None else current_key())


def _walk(rows: Iterable[Row[Any]], key: bytes | None) -> VerifyResult:
    expected_prev = GENESIS_HASH
    prev_id: int | None = None
    keyed_from: int | None = None
    checked = 0
    for row in rows:
        checked += 1
        scheme = row.scheme or LEGACY
        if scheme == KEYED and keyed_from is None:
            keyed_from = row.id
        if scheme == KEYED and key is None:
            return VerifyResult(
                False, checked, row.id, f"event {row.id} is keyed: give KSMC_AUDIT_KEY to check it"
            )
        if scheme != KEYED and keyed_from is not None:
            return VerifyResult(
                False,
                checked,
                row.id,
                f"event {row.id} is unkeyed after keyed event {keyed_from}: it was not written "
                "by the bot (forged)",
            )
        expected = event_hash(row, key)
        if expected is None or not hmac.compare_digest(expected, row.hash):
            return VerifyResult(
                False,
                checked,
                row.id,
                f"event {row.id} was altered or forged: its content does not match its "
                + (
                    "MAC (or the key is not the one it was written with)"
                    if scheme == KEYED
                    else "hash"
                ),
            )
        if row.prev_hash != expected_prev:
            after = "the start of the log" if prev_id is None else f"event {prev_id}"
            return VerifyResult(
                False,
                checked,
                row.id,
                f"event {row.id} does not follow {after}: an event in between was removed, "
                "or an earlier event was rewritten along with its hash",
            )
        expected_prev = row.hash
        prev_id = row.id
    if keyed_from is None:
        how = "unkeyed SHA-256 only (set KSMC_AUDIT_KEY)" if checked else "empty"
    elif keyed_from == 1 or checked == 0:
        how = "keyed (HMAC-SHA256)"
    else:
        how = f"keyed (HMAC-SHA256) from event {keyed_from}; earlier events sealed by it"
    return VerifyResult(
        True,
        checked,
        None,
        f"ok: {checked} events, {how}" if checked else "ok: 0 events",
        last_hash=expected_prev,
        last_id=prev_id or 0,
        keyed_from=keyed_from,
    )


# --- anchors: the chain head, published outside the database -------------------------------

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
    with _rows(session, since) as rows:
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
