"""kubectl against the simulated fleet, as an operator runs it to check what a migration did."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

KUBECTL = shutil.which("kubectl")


def tls_kubeconfig(kubeconfig: Path, out: Path) -> Path:
    """`kubeconfig` rewritten to `out` for kubectl: client-go sends a kubeconfig's token only to
    https servers (over http the simulator sees system:anonymous and answers 403), and every
    simulated port also speaks TLS, with a certificate kubectl is told not to check."""
    config = yaml.safe_load(kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = entry["cluster"]["server"].replace("http://", "https://")
        entry["cluster"]["insecure-skip-tls-verify"] = True
    out.write_text(yaml.safe_dump(config))
    return out


def kubectl(rig: Any, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    config = tls_kubeconfig(Path(rig.kubeconfig), tmp_path / "kubeconfig-tls")
    return subprocess.run(
        [
            KUBECTL,
            "--kubeconfig",
            str(config),
            "--cache-dir",
            str(tmp_path / "kubectl-cache"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
