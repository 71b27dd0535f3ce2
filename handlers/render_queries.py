"""The answers to questions asked in chat (`clusters`, `status`, `workspaces`, `projects`,
`components`, `history`, `show`, `help`) and the App Home tab, as pure functions to `Rendered`.

Each family lives in its own module; this one gathers them so `handlers.queries` and
`handlers.home` can ask for any answer by name:

- `handlers.answer`: the message with a text budget and the helpers every answer shares;
- `handlers.render_fleet`: `clusters`, `status`, `components`;
- `handlers.render_projects`: `workspaces`, `projects`;
- `handlers.render_history`: `history`, `show`;
- `handlers.render_help`: `help`;
- `handlers.render_home`: the App Home tab.

Everything a cluster or a user supplied is escaped; people appear only as mentions built from
user ids.
"""

from __future__ import annotations

from handlers.answer import ASK, SEVERITY_ICONS, Blocks
from handlers.render_fleet import (
    cluster_line,
    render_cluster_status,
    render_clusters,
    render_components,
    render_fleet_status,
)
from handlers.render_help import render_help
from handlers.render_history import (
    MAX_SHOW_MESSAGES,
    history_line,
    render_history,
    render_show,
    render_unknown_request,
)
from handlers.render_home import MAX_HOME_BLOCKS, MAX_HOME_TEXT, render_home
from handlers.render_projects import render_projects, render_workspaces

__all__ = [
    "ASK",
    "MAX_HOME_BLOCKS",
    "MAX_HOME_TEXT",
    "MAX_SHOW_MESSAGES",
    "SEVERITY_ICONS",
    "Blocks",
    "cluster_line",
    "history_line",
    "render_cluster_status",
    "render_clusters",
    "render_components",
    "render_fleet_status",
    "render_help",
    "render_history",
    "render_home",
    "render_projects",
    "render_show",
    "render_unknown_request",
    "render_workspaces",
]
