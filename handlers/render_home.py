"""The App Home tab: the fleet summary (problems first) and the requests in flight, as blocks
for `views.publish` (the listener is `handlers.home`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.snapshot import RequestSnapshot
from handlers.answer import Blocks, _ask, _finding, _Message, _more
from handlers.blocks import actions, button
from handlers.migrate_form import OPEN_ACTION
from handlers.people_and_times import plural, slack_date
from handlers.render_fleet import cluster_line
from handlers.render_history import history_line
from k8s.fleet import Fleet

#: The App Home tab: Slack allows 100 blocks in a view; no cumulative limit is documented, this
#: keeps the tab readable.
MAX_HOME_BLOCKS = 100
MAX_HOME_TEXT = 15_000


def render_home(view: Fleet | None, requests: Sequence[RequestSnapshot], now: datetime) -> Blocks:
    """The Home tab: the fleet summary (problems first) and the requests in flight. `view` is
    None while the clusters are still being read."""
    m = _Message("home", MAX_HOME_BLOCKS, MAX_HOME_TEXT)
    m.header("ksmc-bot · KubeSphere fleet")
    # the form that builds `/ksmc migrate …` (handlers.migrate_modal opens it)
    m.blocks.append(
        actions([button("New migration", OPEN_ACTION, "new", style="primary")], m.ids("new"))
    )
    if view is None:
        m.section("⏳ Reading the clusters…", "loading")
    else:
        errors, warnings = view.count("error"), view.count("warning")
        icon = "🔴" if errors else ("🟡" if warnings else "🟢")
        m.section(
            f"{icon} *{plural(len(view.rows), 'cluster')}* · {plural(errors, 'error')} · "
            f"{plural(warnings, 'warning')} · read {slack_date(now)}",
            "summary",
        )
        if view.findings:
            m.listing(
                [_finding(f) for f in view.findings],
                name="problems",
                head="*Problems first*",
                more=_more("findings", f"{_ask('status')} lists them"),
                max_sections=6,
                share=0.35,
                reserve_chars=3000,
                reserve_blocks=25,
            )
        m.listing(
            [cluster_line(view, r) for r in view.rows],
            name="clusters",
            head="*Clusters*",
            more=_more("clusters", f"{_ask('clusters')} lists them all"),
            max_sections=30,
            share=0.6,
            reserve_chars=2500,
            reserve_blocks=15,
        )
    m.divider()
    active = list(requests)
    if active:
        m.listing(
            [history_line(s) for s in active],
            name="requests",
            head=f"*Requests in flight ({len(active):,})*",
            more=_more("requests", f"{_ask('history')} lists them"),
            max_sections=10,
            reserve_chars=300,
            reserve_blocks=1,
        )
    else:
        m.section("*Requests in flight:* none", "requests")
    m.context(
        [f"Ask with {_ask('help')} · {_ask('migrate <member> to <host> keep <ns>,…')}"], "foot"
    )
    return m.blocks
