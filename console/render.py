"""Block Kit as terminal text, and the terminal it is written to.

The console shows the messages the bot would post in Slack, rendered by the same functions
(`handlers.render*`) as for Slack. Rather than a second set of renderers for the terminal, the
Block Kit they return is turned into readable lines here: mrkdwn as plain or ANSI-bold text,
mentions as @name, dates as their fallback, buttons as numbered choices. `Screen` is the terminal
itself, shared by everything the console prints (the executor reports from its own threads).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

# The console modules are a front end, like bot.app: the other places in bot/ that use handlers/.
from handlers.blocks import Rendered

if TYPE_CHECKING:
    from console.ports import DirectoryIdentity


# ---- Block Kit as terminal text ----------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """A button as the console shows it: `[n] label`."""

    label: str
    action_id: str
    value: str
    confirm: str | None = None


_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")
_USER = re.compile(r"<@([UW][A-Z0-9]+)>")
_GROUP = re.compile(r"<!subteam\^([A-Z0-9]+)(?:\|[^>]*)?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")


def mrkdwn_to_text(text: str, people: Callable[[str], str], bold: bool = False) -> str:
    """Slack mrkdwn as terminal text: dates as their fallback, mentions as @name, links as
    `label (url)`, bold as ANSI bold (or plain), entities unescaped last."""
    text = _DATE.sub(lambda m: m[1], text)
    text = _USER.sub(lambda m: "@" + people(m[1]), text)
    text = _GROUP.sub(lambda m: f"@{m[1]}", text)
    text = _SPECIAL.sub(lambda m: f"@{m[1]}", text)
    text = _LINK.sub(lambda m: f"{m[2]} ({m[1]})" if m[2] else m[1], text)
    text = _BOLD.sub(lambda m: f"\033[1m{m[1]}\033[0m" if bold else m[1], text)
    text = _ITALIC.sub(lambda m: m[1], text)
    text = text.replace("```", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def blocks_to_text(
    blocks: Sequence[dict[str, Any]], people: Callable[[str], str], bold: bool = False
) -> tuple[list[str], list[Choice]]:
    """A message's blocks as lines of text, and its buttons as choices (numbered from 1)."""
    lines: list[str] = []
    choices: list[Choice] = []

    def md(obj: Any) -> str:
        if not isinstance(obj, dict):
            return ""
        return mrkdwn_to_text(str(obj.get("text", "")), people, bold)

    def add_button(element: dict[str, Any]) -> str:
        confirm = element.get("confirm")
        asked = None
        if isinstance(confirm, dict):
            asked = f"{md(confirm.get('title'))} {md(confirm.get('text'))}".strip()
        label = str((element.get("text") or {}).get("text", "?"))
        choices.append(
            Choice(label, str(element.get("action_id", "")), str(element.get("value", "")), asked)
        )
        return f"[{len(choices)}] {label}"

    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = md(block.get("text"))
            lines.append(f"\033[1m{title}\033[0m" if bold else title)
        elif kind == "section":
            if block.get("text"):
                lines += md(block["text"]).splitlines() or [""]
            for item in block.get("fields") or []:
                lines.append("  " + md(item).replace("\n", " "))
            accessory = block.get("accessory")
            if isinstance(accessory, dict) and accessory.get("type") == "button":
                lines.append("  " + add_button(accessory))
        elif kind == "context":
            parts = [md(e) for e in block.get("elements") or [] if isinstance(e, dict)]
            lines.append("  " + " · ".join(p for p in parts if p))
        elif kind == "divider":
            lines.append("─" * 40)
        elif kind == "actions":
            buttons = [
                add_button(e)
                for e in block.get("elements") or []
                if isinstance(e, dict) and e.get("type") == "button"
            ]
            if buttons:
                lines.append("  ".join(buttons))
    return lines, choices


# ---- the terminal ------------------------------------------------------------------------------


class Screen:
    """The terminal: one writer at a time (the executor reports from its own threads), and the
    buttons of the last message that showed some. On a terminal (`tty`), a transient line (a
    step in progress) is redrawn in place by whatever is written next."""

    def __init__(
        self, out: TextIO, identity: DirectoryIdentity, color: bool = False, tty: bool = False
    ) -> None:
        self.out = out
        self.identity = identity
        self.color = color
        self.tty = tty
        self.lock = threading.RLock()
        self.choices: list[Choice] = []
        self._transient = False

    def person(self, user_id: str) -> str:
        found = self.identity.user(user_id)
        return found.name if found else user_id

    def write(self, text: str) -> None:
        with self.lock:
            if self._transient:
                self.out.write("\r\033[K")  # the step line in progress is replaced
                self._transient = False
            self.out.write(text if text.endswith("\n") else text + "\n")
            self.out.flush()

    def transient(self, text: str) -> None:
        """A line shown until the next write replaces it (terminals only; else not shown)."""
        if not self.tty:
            return
        with self.lock:
            self.out.write(("\r\033[K" if self._transient else "") + text)
            self.out.flush()
            self._transient = True

    def message(self, where: str, shown: Rendered, *, compact: bool = False) -> list[Choice]:
        """A message as a boxed block of text; its buttons become the current choices."""
        lines, choices = blocks_to_text(shown.blocks, self.person, self.color)
        if not lines:
            lines = [mrkdwn_to_text(shown.text, self.person, self.color)]
        if compact:
            lines = [lines[0], *(line for line in lines[1:] if line.lstrip().startswith("["))]
        with self.lock:
            self.write("\n".join([f"┌ {where}", *(f"│ {line}" for line in lines), "└"]))
            if choices:
                self.choices = choices
        return choices
