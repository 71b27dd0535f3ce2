"""The lanes: work that fails is logged with its traceback, and the lane goes on working."""

from __future__ import annotations

import logging

import pytest

from bot.work import Lane, Lanes


def test_failing_work_is_logged_and_the_lane_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    lanes = Lanes({Lane.QUERY: 1, Lane.URGENT: 1, Lane.INTAKE: 1, Lane.PREFLIGHT: 1})
    done: list[str] = []

    def broken() -> None:
        raise RuntimeError("the cluster said no")

    try:
        with caplog.at_level(logging.ERROR, logger="ksmc"):
            lanes.submit(Lane.INTAKE, broken)
            lanes.submit(Lane.INTAKE, lambda: done.append("after"))
            assert lanes.wait_idle(10)
    finally:
        lanes.shutdown()
    assert done == ["after"]
    failures = [r for r in caplog.records if "intake lane failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert "the cluster said no" in str(failures[0].exc_info[1])
