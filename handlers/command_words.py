"""The words of a `/ksmc` command: how text splits into words, which words are keywords, what a
name, a list, a request id or a limit may be, and `Reader`, the cursor the command parsers in
`handlers.grammar` read them with. Any mistake raises `UsageError`, whose message names the
problem and shows the right form of the command.

Lexical rules: words are split on whitespace and commas are words of their own. `keep`/`discard`
lists are names separated by commas and/or spaces up to the next keyword; a leading, doubled or
trailing comma is an error, because it usually means a name went missing, and these lists decide
what gets deleted.
Keywords are case-insensitive; names are not lowercased, so `Ns1` is rejected, not changed.
Keywords (`RESERVED`) are never names, so a namespace called `at` cannot be named here.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import NoReturn

from handlers.command_types import GRAMMAR
from handlers.timeparse import quote

_SPECS = {spec.name: spec for spec in GRAMMAR}
#: The clauses that may follow `migrate <member> to <host>`.
MIGRATE_CLAUSES = ("keep", "discard", "into", "sync-jwt", "at", "dry-run")
#: The keywords that end a `keep`/`discard` list.
LIST_ENDS = frozenset({*MIGRATE_CLAUSES, "to", "public"})
RESERVED = frozenset({*LIST_ENDS, "all", "vs"})
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


def split_words(text: str) -> list[str]:
    """The words of `text`: split on whitespace, each comma a word of its own."""
    return [w for chunk in text.split() for w in re.split("(,)", chunk) if w]


def command_name(word: str) -> str:
    """The command `word` names (any case), or `UsageError` listing the commands."""
    if as_keyword(word) not in _SPECS:
        raise UsageError(
            f"{quote(word)} is not a command{_did_you_mean(as_keyword(word), _SPECS)}", usage()
        )
    return as_keyword(word)


def as_keyword(word: str) -> str:
    """The keyword form of a word: lowercased, but only ASCII words can be keywords."""
    return word.lower() if word.isascii() else word


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A hint naming the closest choice, or "" when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" — did you mean {close[0]}?" if close else ""


class Reader:
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
        return at < len(self.words) and as_keyword(self.words[at]) == keyword

    def so_far(self) -> str:
        text = " ".join([self.command, *self.words[: self.pos]]).replace(" ,", ",")
        return text if len(text) <= 60 else "…" + text[-59:]

    def unexpected(self, allowed: Iterable[str]) -> NoReturn:
        word = self.words[self.pos]
        kw = as_keyword(word)
        where = f"unexpected {quote(word)} after {quote(self.so_far(), 60)}"
        if kw == "public":
            self.fail(f'{where}; "public" goes once, at the very end')
        self.fail(where + _did_you_mean(kw, [a for a in allowed if a != kw]))

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
        if word is None or word == "," or as_keyword(word) in RESERVED:
            return None
        self.pos += 1
        return self._checked_name(word, kind)

    def _checked_name(self, word: str, kind: str) -> str:
        if as_keyword(word) in RESERVED:
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
            elif as_keyword(word) == "all":
                if clause == "keep":
                    self.fail("keep all cannot be combined with a list of namespaces")
                self.fail("discard all is not supported; name the namespaces to discard")
            elif as_keyword(word) in LIST_ENDS:
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
