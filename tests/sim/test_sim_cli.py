"""Proves `ksmc-bot sim` works as a program: run as a subprocess it prints `READY <kubeconfig>`
once the clusters answer, writes one kubeconfig context per cluster (named after it) that the
official client can use, serves until SIGTERM/SIGINT and then exits 0 promptly with its ports
closed; `--clusters a,b` starts fresh clusters; an unknown world exits 2 with a clear message.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from simclients import close, new_client

STARTUP_TIMEOUT = 20.0


def command() -> list[str]:
    script = Path(sys.executable).with_name("ksmc-bot")
    if script.exists():
        return [str(script)]
    found = shutil.which("ksmc-bot")
    return [found] if found else [sys.executable, "-m", "bot.cli"]


class Sim:
    """A running `ksmc-bot sim` process with its stdout read line by line on a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*command(), "sim", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def readline(self, timeout: float = STARTUP_TIMEOUT) -> str | None:
        return self.lines.get(timeout=timeout)

    def rest(self) -> list[str]:
        out: list[str] = []
        while (line := self.lines.get(timeout=5)) is not None:
            out.append(line)
        return out

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> tuple[int, float]:
        started = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def sims() -> Iterator[list[Sim]]:
    started: list[Sim] = []
    yield started
    for sim in started:
        sim.kill()


def servers(kubeconfig: Path) -> dict[str, str]:
    data = yaml.safe_load(kubeconfig.read_text())
    by_cluster = {c["name"]: c["cluster"]["server"] for c in data["clusters"]}
    return {c["name"]: by_cluster[c["context"]["cluster"]] for c in data["contexts"]}


def refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_demo_world_ready_kubeconfig_and_sigterm(sims: list[Sim], tmp_path: Path) -> None:
    out = tmp_path / "kc" / "kubeconfig"
    sim = Sim("--world", "demo", "--kubeconfig-out", str(out), "--quiet", "--join-delay", "0.05")
    sims.append(sim)
    assert sim.readline() == f"READY {out.resolve()}"
    contexts = servers(out)
    assert sorted(contexts) == ["host-a", "host-b", "member-a", "member-b"]
    assert len(set(contexts.values())) == 4
    assert all(url.startswith("http://127.0.0.1:") for url in contexts.values())
    assert (out.stat().st_mode & 0o777) == 0o600

    api = new_client(str(out), "member-a")
    try:
        names = {n.metadata.name for n in client.CoreV1Api(api).list_namespace().items}
    finally:
        close(api)
    assert {"ns1", "ns2", "ns3", "scratch"} <= names

    code, took = sim.stop(signal.SIGTERM)
    assert code == 0 and took < 3
    assert sim.rest() == []  # --quiet: nothing but the READY line
    assert all(refused(url) for url in contexts.values())


def test_fresh_clusters_and_sigint(sims: list[Sim], tmp_path: Path) -> None:
    out = tmp_path / "kubeconfig"
    sim = Sim("--clusters", "a, b", "--kubeconfig-out", str(out))
    sims.append(sim)
    assert sim.readline() == f"READY {out.resolve()}"
    contexts = servers(out)
    assert sorted(contexts) == ["a", "b"]
    listing = [sim.readline(), sim.readline()]
    assert [line.split() if line else None for line in listing] == [
        ["a", contexts["a"]],
        ["b", contexts["b"]],
    ]
    api = new_client(str(out), "b")
    try:
        names = {n.metadata.name for n in client.CoreV1Api(api).list_namespace().items}
    finally:
        close(api)
    assert names == {"default", "kube-system", "kube-public", "kube-node-lease"}
    code, took = sim.stop(signal.SIGINT)
    assert code == 0 and took < 3


def test_unknown_world_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [*command(), "sim", "--world", "nope", "--kubeconfig-out", str(tmp_path / "kc")],
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    message = result.stderr.strip()
    assert message.startswith("ksmc-bot sim: unknown world 'nope'; built-in worlds: ")
    assert "demo" in message.rsplit(": ", 1)[1].split(", ")
    assert not (tmp_path / "kc").exists()
