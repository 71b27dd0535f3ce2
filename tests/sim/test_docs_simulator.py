"""docs/simulator.md stays true: every behaviour row names an upstream file and a test, and
every test it names exists (a renamed or deleted test makes this fail, not the table rot)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "simulator.md"


def table_rows() -> list[list[str]]:
    rows = []
    for line in DOC.read_text().splitlines():
        if line.startswith("| ") and not line.startswith("| behaviour") and "---" not in line:
            rows.append([c.strip() for c in line.strip("|").split(" | ")])
    return rows


def test_every_row_names_upstream_and_a_test() -> None:
    rows = table_rows()
    assert len(rows) >= 50
    for cells in rows:
        assert len(cells) == 5, cells[0]
        behaviour, upstream, _does, test, _not = cells
        assert upstream and upstream != "—", behaviour
        assert re.search(r"tests/(\w+/)*test_\w+\.py", test), behaviour


def test_every_named_test_exists() -> None:
    missing, named = [], 0
    for cells in table_rows():
        for path, names in re.findall(r"tests/((?:\w+/)*test_\w+\.py)((?:,? ?::\w+)*)", cells[3]):
            source = (ROOT / "tests" / path).read_text()
            named += 1
            for name in re.findall(r"::(\w+)", names):
                if not re.search(rf"^(async )?def {name}\(", source, re.M):
                    missing.append(f"{path}::{name}")
    assert named >= 50 and not missing, missing
