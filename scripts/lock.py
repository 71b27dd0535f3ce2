"""Write the hash-pinned lock files (`make lock`) from pyproject.toml, with uv.

Installs (`make`, CI, the Dockerfile) use `pip install --require-hashes -r requirements/….txt`, so
what runs is exactly what was reviewed, and a tampered or re-uploaded wheel fails the install.
Two files, resolved together so a package has one version everywhere:

- requirements/dev.txt: runtime, the `dev` and `postgres` extras, and the build backend
  (setuptools, for `pip install --no-deps --no-build-isolation -e .`);
- requirements/runtime.txt: runtime, `postgres` and the build backend (the image), constrained
  to dev.txt's versions.

Each file's header records a digest of pyproject.toml's dependency sections
(`DIGEST_PREFIX`); tests/deploy/test_lock.py fails when pyproject.toml changed without `make lock`.
An existing lock's pins are kept where they still satisfy pyproject (uv prefers the output
file's versions), so `make lock` after adding one dependency changes little else;
`make lock UPGRADE=1` moves everything to the newest allowed versions.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
LOCKS = ROOT / "requirements"
DIGEST_PREFIX = "# pyproject-dependencies-sha256: "
#: The Python the image and CI run (Dockerfile's PYTHON_IMAGE); markers cover other platforms.
PYTHON_VERSION = "3.11"


def dependency_sections(pyproject: Path = PYPROJECT) -> dict[str, Any]:
    """What the locks are resolved from: build requires, dependencies and extras."""
    data = tomllib.loads(pyproject.read_text())
    return {
        "build-system.requires": data["build-system"]["requires"],
        "project.dependencies": data["project"]["dependencies"],
        "project.optional-dependencies": data["project"].get("optional-dependencies", {}),
    }


def digest(pyproject: Path = PYPROJECT) -> str:
    """A digest of the dependency sections only: editing a description needs no new lock."""
    canonical = json.dumps(dependency_sections(pyproject), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def compile_lock(output: Path, extras: list[str], constraint: Path | None, upgrade: bool) -> None:
    build_requires = "\n".join(dependency_sections()["build-system.requires"]) + "\n"
    command = [
        str(Path(sys.executable).parent / "uv"),
        "pip",
        "compile",
        "pyproject.toml",
        "-",  # the build backend, read from stdin (uv cannot read build-system.requires)
        *(f"--extra={extra}" for extra in extras),
        "--generate-hashes",
        "--universal",
        f"--python-version={PYTHON_VERSION}",
        "--custom-compile-command=make lock",
        "--quiet",
        f"--output-file={output.relative_to(ROOT)}",
    ]
    if constraint is not None:
        command.append(f"--constraint={constraint.relative_to(ROOT)}")
    if upgrade:
        command.append("--upgrade")
    subprocess.run(command, input=build_requires, text=True, check=True, cwd=ROOT)
    lines = output.read_text().splitlines(keepends=True)
    # after uv's two header lines, so the digest is the first thing after "how to regenerate"
    lines.insert(2, f"{DIGEST_PREFIX}{digest()}\n")
    output.write_text("".join(lines))


def main() -> int:
    LOCKS.mkdir(exist_ok=True)
    upgrade = os.environ.get("UPGRADE", "") not in ("", "0")
    dev = LOCKS / "dev.txt"
    compile_lock(dev, ["dev", "postgres"], None, upgrade)
    compile_lock(LOCKS / "runtime.txt", ["postgres"], dev, upgrade)
    print(f"wrote {dev.relative_to(ROOT)} and requirements/runtime.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
