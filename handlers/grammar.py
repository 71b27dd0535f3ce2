"""The `/ksmc` command language: chat text in, typed frozen commands out, and back to text.

Parsing is a pure function so Slack listeners stay thin and every error can be tested without
Slack: any text either becomes a command value or raises `UsageError`, whose message names the
problem and shows the right form of the command. `render` is the inverse of `parse`, so a request
can be echoed, stored and re-read as text. `GRAMMAR` describes the commands for `help`; it and
the command values live in `handlers.command_types` and are re-exported here.

Lexical rules: words are split on whitespace and commas are words of their own. `keep`/`discard`
lists are names separated by commas and/or spaces up to the next keyword; a leading, doubled or
trailing comma is an error, because it usually means a name went missing, and these lists decide
what gets deleted.
Keywords are case-insensitive; names are not lowercased, so `Ns1` is rejected, not changed.
Keywords (`RESERVED`) are never names, so a namespace called `at` cannot be named here.
A trailing `public` on a query is the flag unless the query needs that word as its id.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import NoReturn, assert_never

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
from handlers.timeparse import TimeParseError, format_time, parse_time, quote

__all__ = [
    "GRAMMAR",
    "RESERVED",
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
    "UsageError",
    "WorkspacesCommand",
    "is_valid_name",
    "parse",
    "render",
    "usage",
]

_SPECS = {spec.name: spec for spec in GRAMMAR}
#: Commands whose synopsis ends in `[public]`, with the number of words they require before it.
_QUERIES = {
    s.name: len(s.synopsis.split("[")[0].split()) - 1
    for s in GRAMMAR
    if s.synopsis.endswith("[public]")
}
_CLAUSES = ("keep", "discard", "into", "sync-jwt", "at", "dry-run")
_ENDS_LIST = frozenset({*_CLAUSES, "to", "public"})
RESERVED = frozenset({*_ENDS_LIST, "all", "vs"})
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_NAME_RULE = (
    "lowercase letters, digits and '-', at most 63 characters, "
    "starting and ending with a letter or digit"
)
_REQUEST_ID = re.compile(r"[a-z0-9-]{1,32}")


class UsageError(ValueError):
    """Text that is not a command: `message` names the problem, `usage` shows the right form."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message, usage)
        self.message = message
        self.usage = usage

    def __str__(self) -> str:
        return f"{self.message}\nusage: " + self.usage.replace("\n", "\n       ")


def usage(name: str | None = None) -> str:
    """The synopsis of command `name`, or one line per command when `name` is None.

    Raises KeyError for a name that is not in `GRAMMAR`.
    """
    if name is None:
        return "\n".join(spec.synopsis for spec in GRAMMAR)
    return _SPECS[name].synopsis


def is_valid_name(s: str) -> bool:
    """Whether `s` is an RFC 1123 label, the form of cluster, namespace and workspace names."""
    return _NAME.fullmatch(s) is not None


def parse(
    text: str, *, known_clusters: Collection[str] = (), now: datetime | None = None
) -> Command:
    """Parse the text after `/ksmc` into a command, or raise `UsageError` (and nothing else).

    Cluster names are checked against `known_clusters` when it is non-empty. `now` (default: the
    current time; naive means UTC) anchors `at` times. Empty text is a request for help.
    """
    words = [w for chunk in text.split() for w in re.split("(,)", chunk) if w]
    if not words:
        return HelpCommand()
    name = _command_name(words[0])
    rest = words[1:]
    public = name in _QUERIES and len(rest) > _QUERIES[name] and _kw(rest[-1]) == "public"
    r = _Reader(name, rest[:-1] if public else rest, frozenset(known_clusters))
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


def _query(r: _Reader, name: str, public: bool) -> Command:
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
    return HelpCommand(_command_name(topic), public)


def _migrate(r: _Reader, now: datetime) -> MigrateCommand:
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
        kw = _kw(word)
        if kw == "public":
            r.fail('"public" does not apply to migrate; only queries can answer in the channel')
        if kw not in _CLAUSES:
            r.unexpected(_CLAUSES)
        if kw in seen:
            if kw == "keep" and keep_all != r.next_is("all", 1):  # one `keep all`, one list
                r.fail("keep all cannot be combined with a list of namespaces")
            r.fail(f"{kw} is given twice; say it once")
        seen.add(kw)
        r.pos += 1
        if kw == "keep" and r.next_is("all"):
            r.pos += 1
            after = r.peek()
            if after is not None and (after == "," or _kw(after) not in _ENDS_LIST):
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


class _Reader:
    """A cursor over the words after the command name; it fails with that command's usage."""

    def __init__(self, command: str, words: list[str], known: frozenset[str]) -> None:
        self.command = command
        self.words = words
        self.pos = 0
        self.known = known

    def fail(self, message: str) -> NoReturn:
        raise UsageError(message, usage(self.command))

    def peek(self) -> str | None:
        return self.words[self.pos] if self.pos < len(self.words) else None

    def next_is(self, keyword: str, offset: int = 0) -> bool:
        at = self.pos + offset
        return at < len(self.words) and _kw(self.words[at]) == keyword

    def so_far(self) -> str:
        text = " ".join([self.command, *self.words[: self.pos]]).replace(" ,", ",")
        return text if len(text) <= 60 else "…" + text[-59:]

    def unexpected(self, allowed: Iterable[str]) -> NoReturn:
        word = self.words[self.pos]
        where = f"unexpected {quote(word)} after {quote(self.so_far(), 60)}"
        if _kw(word) == "public":
            self.fail(f'{where}; "public" goes once, at the very end')
        self.fail(where + _did_you_mean(_kw(word), [a for a in allowed if a != _kw(word)]))

    def end(self, allowed: Iterable[str] = ()) -> None:
        if self.pos < len(self.words):
            self.unexpected(allowed)

    def name(self, kind: str, missing: str) -> str:
        name = self.optional_name(kind)
        if name is None:
            self.fail(missing)
        return name

    def optional_name(self, kind: str) -> str | None:
        word = self.peek()
        if word is None or word == "," or _kw(word) in RESERVED:
            return None
        self.pos += 1
        return self._checked_name(word, kind)

    def _checked_name(self, word: str, kind: str) -> str:
        if _kw(word) in RESERVED:
            self.fail(f"{quote(word)} is a keyword, so it cannot be a {kind} name here")
        if not is_valid_name(word):
            self.fail(f"{quote(word)} is not a valid {kind} name ({_NAME_RULE})")
        return word

    def cluster(self, missing: str) -> str:
        return self._known(self.name("cluster", missing))

    def optional_cluster(self) -> str | None:
        name = self.optional_name("cluster")
        return None if name is None else self._known(name)

    def _known(self, name: str) -> str:
        if self.known and name not in self.known:
            if hint := _did_you_mean(name, sorted(self.known)):
                self.fail(f"unknown cluster {quote(name)}{hint}")
            listed = sorted(self.known)
            more = ", …" if len(listed) > 10 else ""
            self.fail(
                f"unknown cluster {quote(name)}; known clusters: {', '.join(listed[:10])}{more}"
            )
        return name

    def name_list(self, clause: str) -> tuple[str, ...]:
        """Namespace names separated by commas and/or spaces, up to the next keyword."""
        names: dict[str, None] = {}  # ordered, duplicates collapse
        want_name = True  # right after the clause word or a comma
        while (word := self.peek()) is not None:
            if word == ",":
                if want_name:
                    self.fail(f'empty name in the {clause} list; "," goes between two names')
                want_name = True
            elif _kw(word) == "all":
                if clause == "keep":
                    self.fail("keep all cannot be combined with a list of namespaces")
                self.fail("discard all is not supported; name the namespaces to discard")
            elif _kw(word) in _ENDS_LIST:
                break
            else:
                names[self._checked_name(word, "namespace")] = None
                want_name = False
            self.pos += 1
        if not names:
            either = " (or all)" if clause == "keep" else ""
            self.fail(f"{clause} needs at least one namespace name{either}")
        if want_name:
            self.fail(f'empty name in the {clause} list; "," goes between two names')
        return tuple(names)

    def history_limit(self) -> int:
        word = self.peek()
        if word is None:
            return 10
        self.pos += 1
        if not (word.isascii() and word.isdigit()):
            self.fail(f"{quote(word)} is not a number; history shows 1 to 100 requests")
        digits = word.lstrip("0") or "0"
        if len(digits) > 3 or not 1 <= int(digits) <= 100:
            self.fail(f"history shows 1 to 100 requests, not {quote(digits, 10)}")
        return int(digits)

    def request_id(self) -> str:
        word = self.peek()
        if word is None or word == ",":
            self.fail(f"{self.command} needs a request id, like r7k2m9")
        self.pos += 1
        if not (word.isascii() and _REQUEST_ID.fullmatch(word.lower())):
            self.fail(
                f"{quote(word)} is not a request id (1-32 letters, digits or '-', like r7k2m9)"
            )
        return word.lower()


def _command_name(word: str) -> str:
    if _kw(word) not in _SPECS:
        raise UsageError(
            f"{quote(word)} is not a command{_did_you_mean(_kw(word), _SPECS)}", usage()
        )
    return _kw(word)


def _kw(word: str) -> str:
    """The keyword form of a word: lowercased, but only ASCII words can be keywords."""
    return word.lower() if word.isascii() else word


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A hint naming the closest choice, or "" when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" — did you mean {close[0]}?" if close else ""


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
