"""The `/ksmc` command language: chat text in, typed frozen commands out, and back to text.

Parsing is a pure function so Slack listeners stay thin and every error can be tested without
Slack: any text either becomes a command value or raises `UsageError`, whose message names the
problem and shows the right form of the command. `render` is the inverse of `parse`, so a request
can be echoed, stored and re-read as text. `GRAMMAR` describes the commands for `help`; it and
the command values live in `handlers.command_types` and are re-exported here. The words
themselves (lexical rules, keywords, names, `UsageError`) are `handlers.command_words`.

A trailing `public` on a query is the flag unless the query needs that word as its id.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import assert_never

from handlers.command_types import (
    GRAMMAR,
    CancelCommand,
    ClustersCommand,
    Command,
    CommandSpec,
    ComponentsCommand,
    HelpCommand,
    HistoryCommand,
    MigrateCommand,
    ProjectsCommand,
    ShowCommand,
    StatusCommand,
    WorkspacesCommand,
)
from handlers.command_words import (
    LIST_ENDS,
    MIGRATE_CLAUSES,
    Reader,
    UsageError,
    as_keyword,
    command_name,
    split_words,
    usage,
)
from handlers.timeparse import TimeParseError, format_time, parse_time, quote

__all__ = [
    "GRAMMAR",
    "CancelCommand",
    "ClustersCommand",
    "Command",
    "CommandSpec",
    "ComponentsCommand",
    "HelpCommand",
    "HistoryCommand",
    "MigrateCommand",
    "ProjectsCommand",
    "ShowCommand",
    "StatusCommand",
    "WorkspacesCommand",
    "parse",
    "render",
]

#: Commands whose synopsis ends in `[public]`, with the number of words they require before it.
_QUERIES = {
    s.name: len(s.synopsis.split("[")[0].split()) - 1
    for s in GRAMMAR
    if s.synopsis.endswith("[public]")
}


def parse(
    text: str, *, known_clusters: Collection[str] = (), now: datetime | None = None
) -> Command:
    """Parse the text after `/ksmc` into a command, or raise `UsageError` (and nothing else).

    Cluster names are checked against `known_clusters` when it is non-empty. `now` (default: the
    current time; naive means UTC) anchors `at` times. Empty text is a request for help.
    """
    words = split_words(text)
    if not words:
        return HelpCommand()
    name = command_name(words[0])
    rest = words[1:]
    public = name in _QUERIES and len(rest) > _QUERIES[name] and as_keyword(rest[-1]) == "public"
    r = Reader(name, rest[:-1] if public else rest, frozenset(known_clusters))
    if name == "migrate":
        moment = datetime.now(UTC) if now is None else now
        return _migrate(r, moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    if name == "cancel":
        request_id = r.request_id()
        if r.next_is("public"):
            r.fail('"public" does not apply to cancel; only queries can answer in the channel')
        r.end()
        return CancelCommand(request_id)
    command = _query(r, name, public)
    r.end(("public", "vs") if name == "components" else ("public",))
    return command


def _query(r: Reader, name: str, public: bool) -> Command:
    if name == "status":
        return StatusCommand(r.optional_cluster(), public)
    if name == "clusters":
        return ClustersCommand(public)
    if name == "workspaces":
        return WorkspacesCommand(r.optional_cluster(), public)
    if name == "projects":
        cluster = r.cluster("projects needs a cluster name")
        return ProjectsCommand(cluster, r.optional_name("workspace"), public)
    if name == "components":
        cluster = r.cluster("components needs a cluster name")
        other = None
        if r.next_is("vs"):
            r.pos += 1
            other = r.cluster('"vs" needs a second cluster to compare with')
            if other == cluster:
                r.fail(f"comparing {cluster} with itself shows nothing; name another cluster")
        return ComponentsCommand(cluster, other, public)
    if name == "history":
        return HistoryCommand(r.history_limit(), public)
    if name == "show":
        return ShowCommand(r.request_id(), public)
    topic = r.peek()
    if topic is None:
        return HelpCommand(None, public)
    r.pos += 1
    return HelpCommand(command_name(topic), public)


def _migrate(r: Reader, now: datetime) -> MigrateCommand:
    member = r.cluster("migrate needs the member cluster to move")
    if not r.next_is("to"):
        if r.peek() is None:
            r.fail(f'missing "to <host>" after {quote(r.so_far(), 60)}')
        r.fail(f'expected "to <host>" after {quote(r.so_far(), 60)}, got {quote(r.words[r.pos])}')
    r.pos += 1
    host = r.cluster('"to" needs the host cluster to move onto')
    if host == member:
        r.fail(f"cannot migrate {member} onto itself; the target must be another host cluster")
    keep: tuple[str, ...] = ()
    discard: tuple[str, ...] = ()
    into: str | None = None
    at: datetime | None = None
    keep_all = sync_jwt = dry_run = False
    seen: set[str] = set()
    while (word := r.peek()) is not None:
        kw = as_keyword(word)
        if kw == "public":
            r.fail('"public" does not apply to migrate; only queries can answer in the channel')
        if kw not in MIGRATE_CLAUSES:
            r.unexpected(MIGRATE_CLAUSES)
        if kw in seen:
            if kw == "keep" and keep_all != r.next_is("all", 1):  # one `keep all`, one list
                r.fail("keep all cannot be combined with a list of namespaces")
            r.fail(f"{kw} is given twice; say it once")
        seen.add(kw)
        r.pos += 1
        if kw == "keep" and r.next_is("all"):
            r.pos += 1
            after = r.peek()
            if after is not None and (after == "," or as_keyword(after) not in LIST_ENDS):
                r.fail("keep all cannot be combined with a list of namespaces")
            keep_all = True
        elif kw == "keep":
            keep = r.name_list("keep")
        elif kw == "discard":
            discard = r.name_list("discard")
        elif kw == "into":
            into = r.name("workspace", "into needs a workspace name")
        elif kw == "at":
            try:
                at, used = parse_time(r.words[r.pos :], now)
            except TimeParseError as e:
                raise UsageError(str(e), usage("migrate")) from e
            r.pos += used
        elif kw == "sync-jwt":
            sync_jwt = True
        else:
            dry_run = True
    if both := [ns for ns in keep if ns in discard]:
        r.fail(f"keep and discard both name {', '.join(both)}; a namespace is one or the other")
    if keep_all and discard:
        r.fail("keep all and discard contradict each other; list the namespaces to keep instead")
    return MigrateCommand(member, host, keep, keep_all, discard, into, sync_jwt, at, dry_run)


def render(cmd: Command) -> str:
    """The canonical text of `cmd`; `parse(render(cmd))` gives `cmd` back."""
    if isinstance(cmd, MigrateCommand):
        parts = ["migrate", cmd.member, "to", cmd.target_host]
        if cmd.keep_all:
            parts += ["keep", "all"]
        elif cmd.keep:
            parts += ["keep", ",".join(cmd.keep)]
        parts += ["discard", ",".join(cmd.discard)] if cmd.discard else []
        parts += ["into", cmd.into] if cmd.into else []
        parts += ["sync-jwt"] if cmd.sync_jwt else []
        parts += ["at", format_time(cmd.at)] if cmd.at else []
        parts += ["dry-run"] if cmd.dry_run else []
        return " ".join(parts)
    if isinstance(cmd, CancelCommand):
        return f"cancel {cmd.request_id}"
    words: list[str | None]
    if isinstance(cmd, StatusCommand | WorkspacesCommand):
        name = "status" if isinstance(cmd, StatusCommand) else "workspaces"
        words = [name, cmd.cluster]
    elif isinstance(cmd, ClustersCommand):
        words = ["clusters"]
    elif isinstance(cmd, ProjectsCommand):
        words = ["projects", cmd.cluster, cmd.workspace]
    elif isinstance(cmd, ComponentsCommand):
        words = ["components", cmd.cluster, *(["vs", cmd.other] if cmd.other else [])]
    elif isinstance(cmd, HistoryCommand):
        words = ["history", str(cmd.limit)]
    elif isinstance(cmd, ShowCommand):
        words = ["show", cmd.request_id]
    elif isinstance(cmd, HelpCommand):
        words = ["help", cmd.topic]
    else:
        assert_never(cmd)
    words += ["public"] if cmd.public else []
    return " ".join(w for w in words if w)
