"""Polling, the one way tests wait for something that happens in another thread or process."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 30.0,
    what: str | Callable[[], str] = "",
    interval: float = 0.02,
) -> Any:
    """The first truthy value of `predicate()` within `timeout` seconds; else fail naming `what`
    (a callable is asked at the timeout, so that it can say how things stand then)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"timed out waiting for {said or predicate}")
        time.sleep(interval)
