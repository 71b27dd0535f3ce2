"""What a `/ksmc` command is once parsed: one frozen value per command, their union `Command`,
and `GRAMMAR`, the description of every command that `help` shows and the parser checks
command names and `public` against.

Kept apart from `handlers.grammar` (which parses text into these values and renders them back,
and re-exports everything here) so that the values and the help text read on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class MigrateCommand:
    """Move cluster `member` from its current host to `target_host`."""

    member: str
    target_host: str
    keep: tuple[str, ...] = ()
    keep_all: bool = False
    discard: tuple[str, ...] = ()
    into: str | None = None
    sync_jwt: bool = False
    at: datetime | None = None  # aware, UTC, whole minutes
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class StatusCommand:
    cluster: str | None = None
    public: bool = False


@dataclass(frozen=True, slots=True)
class ClustersCommand:
    public: bool = False


@dataclass(frozen=True, slots=True)
class WorkspacesCommand:
    cluster: str | None = None
    public: bool = False


@dataclass(frozen=True, slots=True)
class ProjectsCommand:
    cluster: str
    workspace: str | None = None
    public: bool = False


@dataclass(frozen=True, slots=True)
class ComponentsCommand:
    cluster: str
    other: str | None = None
    public: bool = False


@dataclass(frozen=True, slots=True)
class HistoryCommand:
    limit: int = 10
    public: bool = False


@dataclass(frozen=True, slots=True)
class ShowCommand:
    request_id: str
    public: bool = False


@dataclass(frozen=True, slots=True)
class CancelCommand:
    request_id: str


@dataclass(frozen=True, slots=True)
class HelpCommand:
    topic: str | None = None  # a command name from GRAMMAR
    public: bool = False


Command: TypeAlias = (
    MigrateCommand
    | StatusCommand
    | ClustersCommand
    | WorkspacesCommand
    | ProjectsCommand
    | ComponentsCommand
    | HistoryCommand
    | ShowCommand
    | CancelCommand
    | HelpCommand
)


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command as `help` shows it; every example parses."""

    name: str
    synopsis: str
    summary: str
    examples: tuple[str, ...]


GRAMMAR: tuple[CommandSpec, ...] = (
    CommandSpec(
        "migrate",
        "migrate <member> to <host> [keep <ns>[,<ns>…] | keep all] [discard <ns>[,<ns>…]] "
        "[into <workspace>] [sync-jwt] [at <time>] [dry-run]",
        "Ask to move a member cluster to another host. keep: namespaces that stay; discard: "
        "namespaces you accept losing; into: the workspace on the new host; sync-jwt: copy the "
        "host's jwtSecret to the member; at: HH:MM [zone] or ISO-8601, UTC by default, within 30 "
        "days; dry-run: show the plan only. Runs after preflight checks and a second approval. "
        "migrate with nothing after it opens a form that fills all this in.",
        (
            "migrate member-a to host-b keep app-1,app-2 discard scratch",
            "migrate member-a to host-b keep all into team-ws sync-jwt at 02:00 Europe/Berlin",
            "migrate member-a to host-b keep all dry-run",
        ),
    ),
    CommandSpec(
        "status",
        "status [<cluster>] [public]",
        "Cluster health and roles, or of one cluster.",
        ("status", "status member-a public"),
    ),
    CommandSpec("clusters", "clusters [public]", "The clusters the bot knows.", ("clusters",)),
    CommandSpec(
        "workspaces",
        "workspaces [<cluster>] [public]",
        "Workspaces, on every cluster or one.",
        ("workspaces", "workspaces member-a"),
    ),
    CommandSpec(
        "projects",
        "projects <cluster> [<workspace>] [public]",
        "Projects (namespaces) of a cluster, optionally of one workspace.",
        ("projects member-a", "projects member-a team-ws public"),
    ),
    CommandSpec(
        "components",
        "components <cluster> [vs <cluster>] [public]",
        "Pluggable components of a cluster, or the differences between two.",
        ("components member-a", "components member-a vs host-b"),
    ),
    CommandSpec(
        "history",
        "history [<n>] [public]",
        "The last n requests (default 10, at most 100).",
        ("history", "history 25 public"),
    ),
    CommandSpec("show", "show <id> [public]", "One request in detail.", ("show r7k2m9",)),
    CommandSpec(
        "cancel", "cancel <id>", "Cancel a request that has not started.", ("cancel r7k2m9",)
    ),
    CommandSpec(
        "help", "help [<command>] [public]", "This list, or one command.", ("help", "help migrate")
    ),
)
