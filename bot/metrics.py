"""A few Prometheus metrics in the text exposition format, without a client library."""

from __future__ import annotations

import threading
from collections import defaultdict


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self._sums: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, int]] = {}
        self._help: dict[str, tuple[str, str]] = {}

    def inc(self, name: str, help_text: str, amount: float = 1.0, **labels: str) -> None:
        with self._lock:
            self._help[name] = ("counter", help_text)
            self._counters[(name, tuple(sorted(labels.items())))] += amount

    def set(self, name: str, help_text: str, value: float, **labels: str) -> None:
        with self._lock:
            self._help[name] = ("gauge", help_text)
            self._counters[(name, tuple(sorted(labels.items())))] = value

    def observe(self, name: str, help_text: str, value: float, **labels: str) -> None:
        with self._lock:
            self._help[name] = ("summary", help_text)
            key = (name, tuple(sorted(labels.items())))
            total, count = self._sums.get(key, (0.0, 0))
            self._sums[key] = (total + value, count + 1)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, (kind, help_text) in sorted(self._help.items()):
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} {kind}")
                for (n, labels), value in sorted(self._counters.items()):
                    if n == name:
                        lines.append(f"{name}{_labels(labels)} {value:g}")
                for (n, labels), (total, count) in sorted(self._sums.items()):
                    if n == name:
                        lines.append(f"{name}_sum{_labels(labels)} {total:g}")
                        lines.append(f"{name}_count{_labels(labels)} {count}")
        return "\n".join(lines) + "\n"


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels
    )
    return "{" + inner + "}"


#: The process-wide registry the HTTP endpoint serves.
METRICS = Metrics()
