"""A short soak: the mixed workload of `benchmarks/soak.py` for 30 seconds against `ksmc-bot
serve` (PostgreSQL when `make test` provides it, else SQLite), with ~1 in 50 Kubernetes calls
failing transiently. It checks the outcomes, never the timings: no unhandled error, a request row
and a `request.received` event for every request the bot acknowledged, an approval event for
every approval row, `ksmc-bot audit verify` passing, every approved migration either succeeded
or failed with its failure recorded, and no request left in flight once the run has drained.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `benchmarks` beside `tests`

from benchmarks import soak


def test_thirty_seconds_of_mixed_load_lose_nothing(tmp_path: Path) -> None:
    report = soak.run(
        seconds=30,
        requests=150,
        users=100,
        workers=8,
        pg_url=os.environ.get("KSMC_TEST_PG_URL"),
        log_path=tmp_path / "bot.log",
    )
    print("\n".join(report.lines()))
    assert report.handled > 0 and report.request_rows > 0
    # approvals pressed on the buttons the bot drew, and real migrations carried out
    assert report.approvals > 0
    assert report.migrations["succeeded"] > 0, report.migrations
    assert report.faults_injected > 0, "the fault injector never fired"
    assert report.problems() == []
    assert report.unhandled == 0
    assert report.acknowledged_requests == report.request_rows == report.received_events
    assert report.audit_ok
    assert report.stuck == 0 and report.unclean == []
