"""kubectl against the simulated fleet, as an operator runs it to check what a migration did."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

KUBECTL = shutil.which("kubectl")


def kubectl(rig: Any, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    # kubectl sends the kubeconfig's token only to https servers; every simulated port speaks TLS
    config = yaml.safe_load(Path(rig.kubeconfig).read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = entry["cluster"]["server"].replace("http://", "https://")
        entry["cluster"]["insecure-skip-tls-verify"] = True
    tls_kubeconfig = tmp_path / "kubeconfig-tls"
    tls_kubeconfig.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [
            KUBECTL,
            "--kubeconfig",
            str(tls_kubeconfig),
            "--cache-dir",
            str(tmp_path / "kubectl-cache"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
