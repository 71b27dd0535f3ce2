"""The hash-pinned lock files agree with pyproject.toml, and every install path uses them.

A dependency added to pyproject.toml without `make lock` would install on a developer's machine
(pip resolves it) but not from the lock in CI or the image; these tests say so first, naming
the package. Checked: the lock's recorded digest of pyproject's dependency sections is current;
every requirement pyproject names (build backend, runtime, every extra, with its extras such as
psycopg's `binary`) is pinned at a version its specifier allows, with hashes; runtime.txt's pins
are dev.txt's; and the Makefile, CI and the Dockerfile install with `--require-hashes`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import lock  # noqa: E402  (scripts/lock.py: the digest is computed one way only)

LOCKS = {"dev": ROOT / "requirements" / "dev.txt", "runtime": ROOT / "requirements" / "runtime.txt"}
#: What each lock must satisfy: the extras it is resolved with (scripts/lock.py).
EXTRAS = {"dev": ("dev", "postgres"), "runtime": ("postgres",)}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?: ;.*)?(?: \\)?$")


def pins(path: Path) -> dict[str, Version]:
    found: dict[str, Version] = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            found[canonicalize_name(match.group(1))] = Version(match.group(2))
    return found


def required(extras: tuple[str, ...]) -> list[Requirement]:
    sections = lock.dependency_sections()
    names = list(sections["build-system.requires"]) + list(sections["project.dependencies"])
    for extra in extras:
        names += sections["project.optional-dependencies"][extra]
    return [Requirement(name) for name in names]


@pytest.mark.parametrize("which", LOCKS)
def test_lock_was_made_from_the_current_pyproject(which: str) -> None:
    header = LOCKS[which].read_text().splitlines()[:5]
    recorded = [line.removeprefix(lock.DIGEST_PREFIX) for line in header if "sha256: " in line]
    assert recorded == [lock.digest()], (
        f"{LOCKS[which].name} was not generated from the current pyproject.toml: run `make lock`"
    )


@pytest.mark.parametrize("which", LOCKS)
def test_every_dependency_is_pinned_at_an_allowed_version(which: str) -> None:
    pinned = pins(LOCKS[which])
    for requirement in required(EXTRAS[which]):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement} is not in {LOCKS[which].name}: run `make lock`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{LOCKS[which].name} pins {name}=={pinned[name]}, outside {requirement}"
        )
        if "binary" in requirement.extras and name == "psycopg":
            assert "psycopg-binary" in pinned  # the C build: no libpq needed in the image


def test_every_pin_has_hashes_and_runtime_agrees_with_dev() -> None:
    for path in LOCKS.values():
        entries = re.split(r"\n(?=[A-Za-z0-9])", path.read_text())
        for entry in entries:
            if PIN.match(entry.splitlines()[0]):
                assert "--hash=sha256:" in entry, entry.splitlines()[0]
    dev, runtime = pins(LOCKS["dev"]), pins(LOCKS["runtime"])
    assert {n: v for n, v in runtime.items() if dev.get(n) != v} == {}


def test_every_install_path_installs_from_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "$(STAMP): pyproject.toml $(LOCK)" in makefile  # a new lock reinstalls the venv
    assert "LOCK   := requirements/dev.txt" in makefile
    assert "pip install -q --require-hashes -r $(LOCK)" in makefile
    assert "pip install -q --no-deps --no-build-isolation -e ." in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()  # CI goes through the Makefile
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r requirements/runtime.txt" in dockerfile
    assert "--no-deps" in dockerfile
