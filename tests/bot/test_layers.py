"""The layering README's Architecture section describes, checked on the running bot.

import-linter (`make lint`, contracts in pyproject.toml) checks the static imports; what it
cannot see is what a process loads lazily. Here `ksmc-bot serve` answers a question and a
migration request (preflight included) with Python's import trace on, and neither the simulator
nor the terminal front end is among what it loaded.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from bot_harness import ALICE, CHANNEL, SECRET, BotProcess, environment, wait_for
from slackstub import TEAM_ID, sign, slash_command_body

from bot import db

IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$")


def test_serve_loads_neither_the_simulator_nor_the_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    db.upgrade(url)
    log_path = tmp_path / "bot.log"
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")  # the child writes each import to stderr
    with environment(tmp_path, url) as env:
        process = BotProcess(env, log_path)
        client = process.start()
        try:
            for text, hook_id in (("clusters", "q"), ("migrate member-a to host-b keep ns1", "m")):
                hook = env.stub.response_url(hook_id, channel=CHANNEL, user=ALICE)
                body = slash_command_body(text, ALICE, CHANNEL, TEAM_ID, hook)
                assert client.post(body, sign(SECRET, body)).status_code == 200
            wait_for(lambda: env.stub.responses("q"), 60, "the answer to `clusters`")
            wait_for(lambda: env.stub.messages(CHANNEL), 60, "the request message")
        finally:
            process.stop()
    loaded = {
        m.group(1) for line in log_path.read_text().splitlines() if (m := IMPORTED.match(line))
    }
    assert {"bot.app", "handlers.commands", "k8s.preflight"} <= loaded  # the trace is complete
    assert sorted(m for m in loaded if m.startswith(("k8s.sim", "console"))) == []


def test_the_simulator_contract_names_every_module_of_the_cluster_side() -> None:
    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c.get("forbidden_modules") == ["k8s.sim"]]
    modules = {
        f"k8s.{p.stem}"
        for p in (root / "k8s").iterdir()
        if p.stem not in ("__init__", "sim", "__pycache__") and (p.suffix == ".py" or p.is_dir())
    }
    assert modules - set(contract["source_modules"]) == set()
