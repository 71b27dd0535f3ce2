"""Leader election: exactly one replica runs the scheduler and the executor.

On PostgreSQL the leader holds a session-level advisory lock on a dedicated connection. The
database is already what every replica depends on, and PostgreSQL releases the lock the moment
the leader's connection dies — SIGKILL included — so a standby takes over within one poll, with
no clocks, leases or extra permissions involved. On SQLite (one replica only) the process is
always the leader.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from bot.metrics import LEADER

log = logging.getLogger("ksmc.leader")

LOCK_KEY = 0x6B736D63  # "ksmc"


class Leadership:
    def __init__(
        self,
        engine: Engine,
        on_elected: Callable[[], None],
        interval: float = 1.0,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.on_elected = on_elected
        self.interval = interval
        self.on_lost = on_lost or _exit_on_loss
        self.is_leader = False
        self._conn: Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def shared(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def start(self) -> None:
        LEADER.set(0)
        if not self.shared:
            self._become_leader()
            return
        self._thread = threading.Thread(target=self._loop, daemon=True, name="ksmc-leader")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # closing a dead connection may fail; the lock goes with it
                log.debug("closing the leader connection failed", exc_info=True)
            self._conn = None

    def _become_leader(self) -> None:
        self.is_leader = True
        LEADER.set(1)
        log.info("this replica (pid %d) is the leader", os.getpid())
        self.on_elected()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.is_leader:
                    if self._try_acquire():
                        self._become_leader()
                elif not self._still_held():
                    log.error("lost the leader lock; stopping this replica's leader duties")
                    self.is_leader = False
                    self.on_lost()
            except Exception:
                log.warning("leader election round failed", exc_info=True)
            self._stop.wait(self.interval)

    def _try_acquire(self) -> bool:
        if self._conn is None:
            self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar()
        return bool(got)

    def _still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            held = self._conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() AND objid = :k"
                ),
                {"k": LOCK_KEY},
            ).scalar()
        except Exception:
            return False
        return bool(held)


def _exit_on_loss() -> None:
    # Another replica may already be executing: stopping at once is the only safe choice;
    # the orchestrator restarts this one as a standby.
    os._exit(3)
