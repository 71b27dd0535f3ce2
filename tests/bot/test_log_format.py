"""Operator conventions of the process: `KSMC_LOG_FORMAT=json` and `ksmc-bot --version`.

In JSON, every line `ksmc-bot serve` writes is one JSON object, and every line logged while a
migration runs names its request, its requester and the step running — checked on a real
migration through signed Slack requests, with the bot's log records captured as the serving
process formats them (bot.logcontext).
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bot_harness import (
    ALICE,
    BOB,
    CHANNEL,
    SECRET,
    BotProcess,
    audit_actions,
    environment,
    in_process,
    latest_request_id,
    wait_for,
    wait_state,
)
from slackstub import TEAM_ID, sign, slash_command_body

from bot import db, logcontext
from bot.states import RequestState as S

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The root logger's records at DEBUG, formatted as `serve` does with KSMC_LOG_FORMAT=json."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(logcontext.ContextFilter())
    handler.setFormatter(logcontext.json_formatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_every_line_of_a_migration_names_request_user_and_step(
    tmp_path: Path, json_log: io.StringIO
) -> None:
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    db.upgrade(url)
    with environment(tmp_path, url) as env, in_process(env) as (bot, _app):
        assert bot.command("migrate member-a to host-b keep ns1,ns2", user=ALICE).status_code == 200
        rid = str(wait_for(lambda: latest_request_id(env), 10, "the request"))
        wait_state(env, rid, S.PENDING)
        bot.press("ksmc_approve", rid, BOB)
        wait_state(env, rid, S.SUCCEEDED, timeout=60)
    lines: list[dict[str, Any]] = [json.loads(x) for x in json_log.getvalue().splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    # the runner's executor threads run the migration: every line they log is about it
    migration = [line for line in lines if line["thread"].startswith("ksmc-exec")]
    assert migration, "the migration logged nothing (the Kubernetes client logs each call)"
    assert {(line["request_id"], line["user"]) for line in migration} == {(rid, ALICE)}
    steps = {line["step"] for line in migration if line["step"]}
    ran = audit_actions(env, rid).count("step.started")
    assert ran >= 8 and {s.split()[0] for s in steps} == {str(n) for n in range(1, ran + 1)}
    assert any(s.endswith(" join_cluster") for s in steps)  # number in the plan, then kind
    outside = [line for line in lines if not line["thread"].startswith("ksmc-exec")]
    assert all(line["request_id"] is None for line in outside)  # nothing leaks elsewhere


def test_serve_writes_only_json_lines(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    db.upgrade(url)
    log_path = tmp_path / "bot.log"
    with environment(tmp_path, url, KSMC_LOG_FORMAT="json", KSMC_LOG_LEVEL="DEBUG") as env:
        process = BotProcess(env, log_path)
        client = process.start()
        try:
            hook = env.stub.response_url("json-help", channel=CHANNEL, user=ALICE)
            body = slash_command_body("help", ALICE, CHANNEL, TEAM_ID, hook)
            assert client.post(body, sign(SECRET, body)).status_code == 200
            wait_for(lambda: env.stub.responses("json-help"), 10, "the answer")
        finally:
            process.stop()
    written = [x for x in log_path.read_text().splitlines() if x.strip()]
    logged = [x for x in written if not x.startswith("ksmc-bot serving")]  # stdout's banner
    assert len(logged) > 3
    for line in logged:
        record = json.loads(line)  # raises on any line that is not one JSON object
        assert {"time", "level", "logger", "message", "request_id", "user", "step"} <= set(record)
    assert SECRET not in log_path.read_text()


def test_version_is_the_installed_distributions() -> None:
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == f"ksmc-bot {expected}"


def test_an_unknown_log_format_stops_start_up_naming_it() -> None:
    from bot import settings

    with pytest.raises(settings.SettingsError, match="KSMC_LOG_FORMAT"):
        settings.load(
            {"SLACK_BOT_TOKEN": "x", "SLACK_SIGNING_SECRET": "y", "KSMC_LOG_FORMAT": "xml"}
        )
