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

from bot.audit.anchors import ANCHOR_PREFIX, anchor_line, check_anchors, head, parse_anchors
from bot.audit.chain import (
    CHAIN_LOCK_KEY,
    GENESIS_HASH,
    KEYED,
    LEGACY,
    SYSTEM,
    Actor,
    AuditKeyMissing,
    VerifyResult,
    append,
    authentic,
    current_key,
    event_hash,
    lock_chain,
    set_key,
    verify,
)
from bot.audit.export import ExportFormat, export
from bot.audit.redaction import REDACTED, canonical_json, redact

__all__ = [
    "ANCHOR_PREFIX",
    "CHAIN_LOCK_KEY",
    "GENESIS_HASH",
    "KEYED",
    "LEGACY",
    "REDACTED",
    "SYSTEM",
    "Actor",
    "AuditKeyMissing",
    "ExportFormat",
    "VerifyResult",
    "anchor_line",
    "append",
    "authentic",
    "canonical_json",
    "check_anchors",
    "current_key",
    "event_hash",
    "export",
    "head",
    "lock_chain",
    "parse_anchors",
    "redact",
    "set_key",
    "verify",
]
