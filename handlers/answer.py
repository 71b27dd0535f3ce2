"""One answer to a question asked in chat, packed under Slack's limits, and the few
formatting helpers every answer shares (`handlers.render_fleet`, `render_projects`,
`render_history`, `render_help` and `render_home` build on them).

Fleets can be large, so every list goes through one text budget per message (`_Message`): it is
packed into as few sections as fit under Slack's limits, problems first, and whatever is cut is
counted and followed by the command that narrows the question. The helpers keep their leading
underscore: they are internal to those renderers, not an API for listeners.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from handlers.blocks import (
    MAX_BLOCKS,
    MAX_FALLBACK_TEXT,
    MAX_HEADER_TEXT,
    MAX_MESSAGE_TEXT,
    BlockIds,
    More,
    Rendered,
    context,
    divider,
    header,
    pack,
    section,
    text_size,
)
from handlers.mrkdwn import code, escape_mrkdwn, plain, truncate_mrkdwn
from k8s.fleet import Finding

Blocks = list[dict[str, Any]]

SEVERITY_ICONS = {"error": "🔴", "warning": "⚠️", "info": "ℹ️"}
ASK = "/ksmc"


# ---- a message with a text budget ---------------------------------------------------------------


class _Message:
    """Blocks of one answer, and how much room they leave under the block and text limits."""

    def __init__(
        self, kind: str, max_blocks: int = MAX_BLOCKS, max_chars: int = MAX_MESSAGE_TEXT
    ) -> None:
        self.ids = BlockIds("q", kind)
        self.blocks: Blocks = []
        self.max_blocks = max_blocks
        self.max_chars = max_chars

    @property
    def blocks_left(self) -> int:
        return self.max_blocks - len(self.blocks)

    @property
    def chars_left(self) -> int:
        return self.max_chars - text_size(self.blocks)

    def header(self, text: str) -> None:
        self.blocks.append(header(plain(text, MAX_HEADER_TEXT), self.ids("header")))

    def section(self, text: str, name: str = "section") -> None:
        if self.blocks_left > 0:
            self.blocks.append(section(truncate_mrkdwn(text, self.chars_left), self.ids(name)))

    def context(self, texts: Iterable[str], name: str = "context") -> None:
        shown = [t for t in texts if t]
        if shown and self.blocks_left > 0:
            self.blocks.append(context(shown, self.ids(name)))

    def divider(self) -> None:
        if self.blocks_left > 0:
            self.blocks.append(divider(self.ids("divider")))

    def listing(
        self,
        lines: Sequence[str],
        *,
        name: str = "list",
        head: str = "",
        more: More | None = None,
        max_sections: int = 10,
        share: float = 1.0,
        reserve_chars: int = 600,
        reserve_blocks: int = 2,
    ) -> int:
        """Lines packed into sections, taking `share` of what is left after the reserve;
        returns how many sections were added."""
        chars = int((self.chars_left - reserve_chars) * share)
        sections = min(max_sections, self.blocks_left - reserve_blocks)
        if sections < 1 or chars < 200 or (not lines and not head):
            return 0
        texts = pack(lines, max_chunks=sections, total=chars, head=head, more=more)
        for text in texts:
            self.section(text, name)
        return len(texts)

    def done(self, fallback: str) -> Rendered:
        return Rendered(truncate_mrkdwn(fallback, MAX_FALLBACK_TEXT), self.blocks)


def _c(name: str) -> str:
    """A cluster, workspace or namespace name, escaped, as code."""
    return code(name, limit=80)


def _ask(text: str) -> str:
    return code(f"{ASK} {text}", limit=200)


def _finding(f: Finding, with_cluster: bool = True) -> str:
    where = f"{_c(f.cluster)}: " if with_cluster else ""
    return f"{SEVERITY_ICONS[f.severity]} {where}{escape_mrkdwn(f.text, limit=500)}"


def _more(what: str, hint: str) -> More:
    return More("… and {n} more " + what.replace("{", "{{").replace("}", "}}"), f"; {hint}")
