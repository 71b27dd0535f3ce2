"""`ksmc-bot console` (console/): the whole bot in a terminal, driven by scripts.

Checks: a scripted session runs the full migration flow through the real handlers, service,
runner and engine — alice asks, bob presses the numbered Approve button, the member moves — and
exits 0 with the simulated clusters in their new state; without a terminal and without a script
it runs the built-in demo on its own simulated fleet and exits 0 (what `make run` does in CI); a
script whose approval is refused, whose command does not parse, or whose `:wait` times out exits
non-zero at that line; Block Kit is rendered as readable text with numbered buttons.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from console.render import blocks_to_text, mrkdwn_to_text
from handlers.blocks import actions, button, context, divider, header, section
from k8s.sim.resources import CLUSTERS, NAMESPACES, WORKSPACES
from k8s.sim.store import meta

ROOT = Path(__file__).resolve().parents[2]


def console_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "KSMC_"))}
    env.update({"KSMC_POLL_INTERVAL": "0.05", "KSMC_WAIT_TIMEOUT": "20", "NO_COLOR": "1"})
    env.pop("KUBECONFIG", None)
    return env


def run_console(*args: str, stdin: Any = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "console", *args],
        cwd=ROOT,
        env=console_env(),
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


# ---- whole sessions --------------------------------------------------------------------------


def test_a_scripted_session_migrates_member_a_to_host_b(
    fresh_world: Any, fresh_kubeconfig: Path, tmp_path: Path
) -> None:
    script = tmp_path / "migrate.ksmc"
    script.write_text(
        "# alice asks, bob approves\n"
        "/ksmc clusters\n"
        "migrate member-a to host-b keep ns1,ns2\n"
        ":wait pending last\n"
        ":as bob\n"
        ":press 1\n"
        ":wait succeeded last 60\n"
        "status member-a\n"
        "show $last\n"
    )
    done = run_console("--script", str(script), "--kubeconfig", str(fresh_kubeconfig))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "[1] Approve  [2] Reject" in out
    assert "(bob pressed Approve on" in out
    assert "succeeded" in out and "✅" in out
    assert "*Host:* `host-b`" not in out and "Host: `host-b`" in out  # mrkdwn shown as text

    world = fresh_world
    assert world.settle(10)
    with world.lock:
        on_b = world.clusters["host-b"].store.peek(CLUSTERS, "", "member-a")
        on_a = world.clusters["host-a"].store.peek(CLUSTERS, "", "member-a")
        member = world.clusters["member-a"].store
        team_x = member.peek(WORKSPACES, "", "team-x")
        bound = {n: member.peek(NAMESPACES, "", n) for n in ("ns1", "ns2")}
    assert on_a is None and on_b is not None
    ready = [c for c in on_b["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"
    assert on_b["status"]["uid"] == world.clusters["member-a"].kube_system_uid
    assert team_x is not None
    for ns in bound.values():
        assert ns is not None
        assert meta(ns)["labels"]["kubesphere.io/workspace"] == "team-x"
        assert [r["uid"] for r in meta(ns)["ownerReferences"]] == [meta(team_x)["uid"]]


def test_without_a_terminal_it_runs_the_built_in_demo_and_exits_0() -> None:
    done = run_console()  # stdin is /dev/null: no terminal, as in CI
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Simulated KubeSphere fleet 'demo' started" in out
    assert "alice> migrate member-a to host-b keep ns1,ns2" in out
    assert "bob> :press approve last" in out
    assert "is now a member of `host-b`" in out
    final = out.rsplit("bob> clusters", 1)[1]
    assert "member-a · member of `host-b` (Ready)" in final


@pytest.mark.parametrize(
    ("lines", "says"),
    [
        (
            ["migrate member-a to host-b keep ns1,ns2", ":wait pending last", ":press 1"],
            "line 3: refused (approval.refused)",
        ),
        (["migrate membr-a to host-b keep ns1"], "line 1: refused (command.usage_error)"),
        (
            ["migrate member-a to host-b keep ns1,ns2", ":wait succeeded last 0.5"],
            "is still pending after 0.5s (waited for succeeded)",
        ),
        (["show nosuchid"], "line 1: refused"),
        ([":press 1"], "line 1: there is no button 1"),
    ],
    ids=["own-approval", "usage-error", "wait-timeout", "unknown-request", "no-button"],
)
def test_a_script_stops_with_a_non_zero_exit_at_the_line_that_errs(
    demo_world: Any,
    kubeconfig_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    lines: list[str],
    says: str,
) -> None:
    script = tmp_path / "script.ksmc"
    script.write_text("\n".join([*lines, "clusters"]) + "\n")
    code = cli.main(["console", "--script", str(script), "--kubeconfig", str(kubeconfig_path)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "✗ line " in out and says in out.split("✗ ", 1)[1]
    assert "alice> clusters" not in out  # nothing after the failing line ran


# ---- Block Kit as text ------------------------------------------------------------------------


def test_blocks_render_as_text_with_numbered_buttons() -> None:
    blocks = [
        header("🟡 Migration r1: member-a → host-b", "h"),
        section("*Requested by* <@U0ALICE> <!date^1700000000^{date}|2023-11-14 22:13 UTC>", "s"),
        section("a &lt;b&gt; &amp; c <https://example.com|the docs>", "t"),
        divider("d"),
        actions(
            [button("Approve", "ksmc_approve", "r1"), button("Reject", "ksmc_reject", "r1")], "a"
        ),
        context(["Request `r1` · version 3"], "c"),
    ]
    names = {"U0ALICE": "alice"}
    lines, choices = blocks_to_text(blocks, lambda u: names.get(u, u))
    assert lines[0] == "🟡 Migration r1: member-a → host-b"
    assert lines[1] == "Requested by @alice 2023-11-14 22:13 UTC"
    assert lines[2] == "a <b> & c the docs (https://example.com)"
    assert lines[3].startswith("─")
    assert lines[4] == "[1] Approve  [2] Reject"
    assert lines[5] == "  Request `r1` · version 3"
    assert [(c.label, c.action_id, c.value) for c in choices] == [
        ("Approve", "ksmc_approve", "r1"),
        ("Reject", "ksmc_reject", "r1"),
    ]


def test_mrkdwn_keeps_escaped_look_alikes_and_bolds_only_real_spans() -> None:
    assert mrkdwn_to_text("*bold* and kube_system_x", str) == "bold and kube_system_x"
    assert mrkdwn_to_text("*bold*", str, bold=True) == "\033[1mbold\033[0m"
    assert mrkdwn_to_text("&lt;!channel&gt;", str) == "<!channel>"
