"""The chain itself: the key, the MAC of one event, appending under the chain's lock, and
walking the chain to verify it."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.orm import Session

from bot.audit.redaction import canonical_json, clean_text, redact, to_json
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
    details_text = canonical_json(redact(to_json(dict(details or {}))))
    event = AuditEvent(
        at=when,
        team_id=clean_text(team_id),
        channel_id=clean_text(channel_id),
        actor_id=clean_text(actor_id),
        actor_name=clean_text(actor_name),
        action=clean_text(action),
        request_id=None if request_id is None else clean_text(request_id),
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
def streamed_rows(session: Session, since: datetime | None = None) -> Iterator[Iterable[Row[Any]]]:
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
    with streamed_rows(session) as rows:
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
