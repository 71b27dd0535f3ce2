"""A migrate request, followed from the HTTP handler to the first cluster write, never returns to
a file it left (issue #13): no call chain on the way re-enters a module of ours while a frame of
that module is still below it (a callback up into a caller, a wrapper calling back into the
module that wrapped it). Calls go down the layers and come back by returning.

The bot runs in this process; a profile hook on every thread it starts records, at each call
into a product module (bot/, handlers/, k8s/ without the simulator, console/), the chain of
product modules on that thread's stack, until the first write any cluster receives.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from bot_harness import BOB, Env, environment, in_process, latest_request_id, wait_state
from waiting import wait_for

from bot.states import RequestState as S
from k8s.retry import Mode, Retrier

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = tuple(f"{ROOT / d}/" for d in ("bot", "handlers", "k8s", "console"))
SIMULATOR = f"{ROOT / 'k8s' / 'sim'}/"


def _module(filename: str) -> str | None:
    if filename.startswith(PRODUCT) and not filename.startswith(SIMULATOR):
        return filename[len(str(ROOT)) + 1 :]
    return None


class CallChains:
    """The profile hook: every product call chain seen (as modules, each run of frames in one
    module counted once), the ones that re-enter a module, and the chain of the first write."""

    def __init__(self) -> None:
        self._modules: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self.seen: set[str] = set()
        self.reentries: dict[tuple[str, ...], str] = {}
        self.first_write: tuple[str, ...] | None = None

    def module(self, filename: str) -> str | None:
        if filename not in self._modules:
            self._modules[filename] = _module(filename)
        return self._modules[filename]

    def chain(self, frame: FrameType | None) -> tuple[tuple[str, ...], list[str]]:
        """The modules from the thread's first product frame down to `frame`, and each frame
        as module:function (for the failure message)."""
        frames: list[str] = []
        modules: list[str] = []
        while frame is not None:
            module = self.module(frame.f_code.co_filename)
            if module is not None:
                frames.append(f"{module}:{frame.f_code.co_name}")
                if not modules or modules[-1] != module:
                    modules.append(module)
            frame = frame.f_back
        modules.reverse()
        frames.reverse()
        return tuple(modules), frames

    def __call__(self, frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call" or self.first_write is not None:
            return
        if self.module(frame.f_code.co_filename) is None:
            return
        modules, frames = self.chain(frame)
        with self._lock:
            self.seen.update(modules)
            if len(set(modules)) != len(modules):
                self.reentries.setdefault(_cycle(modules), "\n    ".join(frames))
            code = frame.f_code
            if code is Retrier.attempts.__code__ and frame.f_locals.get("mode") is not Mode.READ:
                self.first_write = modules


def _cycle(modules: tuple[str, ...]) -> tuple[str, ...]:
    """The first module that appears twice, and what lies between: A → B → A."""
    for i, module in enumerate(modules):
        if module in modules[i + 1 :]:
            return modules[i : modules.index(module, i + 1) + 1]
    return modules


@pytest.fixture
def env(tmp_path: Path, migrated_db_url: str) -> Iterator[Env]:
    # the profile hook slows every call: generous read budgets, so nothing times out
    with environment(tmp_path, migrated_db_url, KSMC_GATHER_TIMEOUT="60") as e:
        yield e


def test_a_migrate_request_never_returns_to_a_module_it_left(env: Env) -> None:
    chains = CallChains()
    threading.setprofile(chains)  # every thread the bot starts from here on: HTTP, lanes, timers
    try:
        with in_process(env) as (client, _bot):
            before = latest_request_id(env)
            response = client.command("migrate member-a to host-b keep ns1,ns2")
            assert response.status_code == 200
            rid = wait_for(lambda: (r := latest_request_id(env)) != before and r, 30, "the row")
            wait_state(env, rid, S.PENDING, timeout=60)
            response, _ = client.press("ksmc_approve", rid, BOB)
            assert response.status_code == 200
            wait_for(lambda: chains.first_write, 60, "the migration's first cluster write")
    finally:
        threading.setprofile(None)

    # the whole way was watched: the HTTP front, the command, its preflight, the approval, the
    # runner and the executor, down to the access layer that wrote
    for module in (
        "bot/http.py",
        "handlers/commands.py",
        "bot/service/intake.py",
        "bot/service/decisions.py",
        "bot/runner.py",
        "k8s/executor.py",
    ):
        assert module in chains.seen, f"{module} was never called: the trace missed part of it"
    assert chains.first_write is not None and chains.first_write[0] == "bot/runner.py"
    assert "k8s/execution.py" in chains.first_write

    assert not chains.reentries, "call chains that return to a module they left:\n" + "\n".join(
        f"  {' → '.join(cycle)}\n    {frames}" for cycle, frames in chains.reentries.items()
    )
