"""The `help` answer: every command of `GRAMMAR` with its examples, or one command in full."""

from __future__ import annotations

from handlers.answer import ASK, _ask, _Message
from handlers.blocks import Rendered
from handlers.command_types import GRAMMAR, CommandSpec
from handlers.mrkdwn import code, code_block, escape_mrkdwn


def _spec_text(spec: CommandSpec, examples: bool) -> str:
    text = f"{code(f'{ASK} {spec.synopsis}', limit=300)}\n{escape_mrkdwn(spec.summary, limit=1200)}"
    if examples and spec.examples:
        text += "\n_Examples:_ " + " · ".join(code(f"{ASK} {e}", limit=200) for e in spec.examples)
    return text


def render_help(topic: str | None = None) -> Rendered:
    """Every command of the grammar with its examples, or one command."""
    m = _Message("help")
    specs = [s for s in GRAMMAR if topic is None or s.name == topic]
    if topic is not None and specs:
        spec = specs[0]
        m.header(f"/ksmc {spec.name}")
        m.section(f"*Usage:*\n{code_block(f'{ASK} {spec.synopsis}', limit=1000)}", "usage")
        m.section(escape_mrkdwn(spec.summary, limit=2000), "summary")
        m.section(
            "*Examples:*\n" + "\n".join(code(f"{ASK} {e}", limit=300) for e in spec.examples),
            "examples",
        )
        m.context([f"{_ask('help')} lists every command"], "foot")
        return m.done(f"{ASK} {spec.synopsis}")
    m.header("ksmc-bot commands")
    for spec in specs:
        m.section(_spec_text(spec, examples=True), spec.name)
    m.context(
        [
            "Add `public` at the end of a question to answer in the channel instead of only "
            f"to you · {_ask('help <command>')} shows one command"
        ],
        "foot",
    )
    return m.done("ksmc-bot commands: " + ", ".join(s.name for s in GRAMMAR))
