"""No secret leaves the bot: the full flow — queries, preflight, migrations with a jwtSecret sync,
Kubernetes faults whose messages echo credentials, a retry, and crashes of preflight and the
executor — and then every place a secret could surface is searched for every secret.

Secrets: the Slack bot token and signing secret, each simulated cluster's bearer token, the
base64 kubeconfigs in the hosts' Cluster objects, and the demo world's jwtSecrets. Places: every
log record of every logger at DEBUG (formatted as `ksmc-bot serve` writes them), every Web API
call's arguments and response_url body the Slack stand-in received, /metrics, the exported audit
log, and the request and step rows.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bot_harness import (
    BOB,
    SECRET,
    TOKEN,
    Client,
    Env,
    environment,
    hook_of,
    in_process,
    latest_request_id,
    message_ts,
    state,
    wait_for,
    wait_state,
)
from sqlalchemy import select

from bot import audit, db, logfilter, settings
from bot.db import Request, StepProgress
from bot.states import RequestState as S
from k8s.sim.resources import CLUSTERS

JWT_SECRETS = ("gfIwilcc0WjNGKJ5DLeksf2JKfcLgTZU", "Q2hhbmdlTWVQbGVhc2UtbWVtYmVyLWI0")


def cluster_kubeconfigs(env: Env) -> set[str]:
    """The base64 kubeconfigs of every Cluster object on every host, as they are now."""
    found: set[str] = set()
    with env.world.lock:
        for cluster in env.world.clusters.values():
            for obj in cluster.store.iter(CLUSTERS):
                value = ((obj.get("spec") or {}).get("connection") or {}).get("kubeconfig")
                if isinstance(value, str) and value:
                    found.add(value)
    return found


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every logger at DEBUG for the test, whatever level it had set for itself."""
    caplog.set_level(logging.DEBUG)
    loggers = [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]
    levels = [(lg, lg.level) for lg in loggers if isinstance(lg, logging.Logger)]
    for lg, _level in levels:
        lg.setLevel(logging.DEBUG)
    yield caplog
    for lg, level in levels:
        lg.setLevel(level)


def submit(bot: Client, env: Env, text: str) -> str:
    before = latest_request_id(env)
    assert bot.command(text).status_code == 200
    return str(wait_for(lambda: (r := latest_request_id(env)) != before and r, 10, text))


def approve(bot: Client, env: Env, rid: str) -> None:
    wait_state(env, rid, S.PENDING, timeout=30)
    wait_for(lambda: message_ts(env, rid), 10, "the request message")
    response, _hook = bot.press("ksmc_approve", rid, BOB)
    assert response.status_code == 200


def test_no_secret_reaches_logs_slack_metrics_audit_or_rows(
    tmp_path: Path, debug_logs: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    db.upgrade(url)
    with environment(tmp_path, url) as env, in_process(env) as (bot, app):
        world = env.world
        tokens = {c.token for c in world.clusters.values()}
        secrets = {TOKEN, SECRET, *tokens, *JWT_SECRETS, *cluster_kubeconfigs(env)}
        # As `ksmc-bot serve` configures logging: the filter on every handler of the process.
        config = settings.load(env.environ(0))
        safe = logfilter.install_for(config)
        # What a cluster might echo back: every token the bot holds and a member kubeconfig.
        echoed = " ".join([*sorted(tokens), *sorted(cluster_kubeconfigs(env))[:1]])
        try:
            run_the_flow(bot, env, app, echoed)
            bot_flushed = app.notifier.flush(20)
            assert bot_flushed
            metrics = bot.get("/metrics").text
            secrets |= cluster_kubeconfigs(env)  # the one the bot wrote for host-b, too
        finally:
            for handler in logging.getLogger().handlers:
                handler.removeFilter(safe)

        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        logs = "\n".join(formatter.format(r) for r in debug_logs.records)
        # Every call's arguments (its Authorization header carries the bot token, as it must).
        slack = "\n".join(f"{c.method} {json.dumps(c.args)}" for c in env.stub.calls())
        hooks = "\n".join(
            json.dumps(b) for name in list(env.stub._hooks) for b in env.stub.responses(name)
        )
        engine = db.make_engine(url)
        with db.session_factory(engine)() as session:
            out = io.StringIO()
            exported = audit.export(session, None, "jsonl", out)
            assert audit.verify(session).ok
            rows = [
                json.dumps([r.command_text, r.error, r.preflight_json, r.plan_json], default=str)
                for r in session.execute(select(Request)).scalars()
            ] + [m or "" for m in session.execute(select(StepProgress.message)).scalars()]
        engine.dispose()

    assert exported > 50 and len(debug_logs.records) > 100
    assert "DEBUG" in logs and "chat.postMessage" in slack
    places = {
        "logs": logs,
        "slack web api": slack,
        "response_url": hooks,
        "metrics": metrics,
        "audit export": out.getvalue(),
        "request rows": "\n".join(rows),
    }
    leaks = [
        f"{place}: {secret[:12]}…"
        for place, text in places.items()
        for secret in sorted(secrets)
        if secret in text
    ]
    assert leaks == []


def run_the_flow(bot: Client, env: Env, app: Any, echoed: str) -> None:
    """Queries, a blocked preflight, a failed and retried migration, a jwtSecret sync, crashes."""
    world = env.world
    for text in ("status", "clusters", "workspaces member-a", "components member-a vs member-b"):
        bot.command(text)

    # Preflight sees a cluster answer 403 and 500 with credentials in the message.
    member_a = world.clusters["member-a"]
    member_a.add_fault(
        {
            "method": "GET",
            "path": "/api/v1/namespaces$",
            "status": 403,
            "message": f"forbidden for token {echoed}",
            "times": 1,
        }
    )
    member_a.add_fault(
        {
            "method": "GET",
            "path": "/configmaps",
            "status": 500,
            "message": f"etcd said: {echoed}",
            "times": 3,
        }
    )
    first = submit(bot, env, "migrate member-a to host-b keep ns1,ns2")
    wait_for(lambda: state(env, first) in (S.BLOCKED, S.PENDING), 30, "the first preflight")
    if state(env, first) is S.PENDING:
        bot.command(f"cancel {first}")
    with world.lock:
        member_a.faults.clear()

    # A step fails with a 403 echoing every credential, then a Retry meets a 500 and succeeds.
    host_b = world.clusters["host-b"]
    rid = submit(bot, env, "migrate member-a to host-b keep ns1,ns2")
    host_b.add_fault(
        {
            "method": "POST",
            "path": "/clusters$",
            "status": 403,
            "message": f"webhook denied kubeconfig with token {echoed}",
            "times": 1,
        }
    )
    approve(bot, env, rid)
    wait_state(env, rid, S.FAILED, timeout=60)
    host_b.add_fault(
        {
            "method": "POST",
            "path": "/clusters$",
            "status": 500,
            "message": f"apiserver overloaded, retry {echoed}",
            "times": 1,
        }
    )
    bot.press("ksmc_retry", rid, BOB)
    wait_state(env, rid, S.SUCCEEDED, timeout=120)

    # member-b joins host-a with the jwtSecret synced. The first patch meets a 500 echoing the
    # credentials (retried), the second a validation error quoting the jwtSecret it was sent
    # (the step fails), and a Retry then succeeds.
    member_b = world.clusters["member-b"]
    member_b.add_fault(
        {
            "method": "PATCH",
            "path": "clusterconfigurations",
            "status": 500,
            "message": f'Invalid value: "{echoed}"',
            "times": 1,
        }
    )
    invalid = (
        'ClusterConfiguration.installer.kubesphere.io "ks-installer" is invalid: '
        f'spec.authentication.jwtSecret: Invalid value: "{JWT_SECRETS[0]}": immutable'
    )
    member_b.add_fault(
        {
            "method": "PATCH",
            "path": "clusterconfigurations",
            "status": 422,
            "message": invalid,
            "times": 1,
        }
    )
    jwt = submit(bot, env, "migrate member-b to host-a keep qa-env sync-jwt")
    approve(bot, env, jwt)
    wait_state(env, jwt, S.FAILED, timeout=60)
    bot.press("ksmc_retry", jwt, BOB)
    wait_state(env, jwt, S.SUCCEEDED, timeout=120)

    # Crashes: preflight and the executor raise exceptions whose text holds credentials.
    from k8s import execution

    real_engine, real_execute = app.service.engine, execution.execute

    jwt_text = " ".join(f"jwtSecret: {s}" for s in JWT_SECRETS)  # as a YAML snippet quotes it

    class CrashingPreflight:
        def preflight(self, *_args: Any) -> Any:
            raise RuntimeError(f"kubeconfig parse failed near: {echoed} {jwt_text}")

    def crashing_execute(*_args: Any, **_kw: Any) -> Any:  # as a YAML parser quoting a line
        raise ValueError(f"while scanning kubesphere.yaml: {jwt_text} {echoed}")

    execution.execute = crashing_execute
    try:
        back = submit(bot, env, "migrate member-a to host-a keep ns1,ns2")
        approve(bot, env, back)
        wait_state(env, back, S.FAILED, timeout=30)
    finally:
        execution.execute = real_execute
    bot.press("ksmc_abandon", back, BOB)  # a failed request holds its member until abandoned
    wait_state(env, back, S.ABANDONED)
    app.service.engine = CrashingPreflight()
    try:
        crashed = submit(bot, env, "migrate member-a to host-a keep ns1,ns2")
        wait_state(env, crashed, S.FAILED, timeout=30)
    finally:
        app.service.engine = real_engine
    response = bot.command(f"show {back}")
    wait_for(lambda: env.stub.responses(hook_of(response)), 10, "show")
    bot.command("history 20")
