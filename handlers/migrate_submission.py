"""A submitted migration form read back into the `MigrateCommand` the typed grammar gives, or
an error message under each field that is wrong (Slack's `response_action: errors`).

The command becomes text (`grammar.render`) that `grammar.parse` must read back to the same
command, so the form can only ask for what the grammar can say. Every choice is checked again
here: a select only offered what was valid when the form was filled, and the fleet may have
changed since (preflight reads it once more after this).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from handlers.command_words import RESERVED, UsageError, is_valid_name
from handlers.grammar import MigrateCommand, parse, render
from handlers.migrate_form import (
    AT,
    CHANNEL,
    DISCARD,
    FLAG_DRY_RUN,
    FLAG_KEEP_ALL,
    FLAG_SYNC_JWT,
    FLAGS,
    HOST,
    INTO,
    KEEP,
    MEMBER,
    FleetChoices,
    FormMeta,
    action_id,
    is_channel_id,
)
from handlers.mrkdwn import clip
from handlers.timeparse import MAX_AHEAD


@dataclass(frozen=True)
class Submission:
    """A valid form: the command, its text exactly as the grammar renders it, and the channel
    the request is made in."""

    command: MigrateCommand
    text: str
    channel: str


Errors = dict[str, str]


def read_submission(
    values: Mapping[str, Any],
    meta: FormMeta,
    choices: FleetChoices | None,
    *,
    known_clusters: Collection[str],
    now: datetime,
) -> Submission | Errors:
    """The command a submitted form asks for, or an error message by block id (Slack shows each
    under its field). `choices` is the fleet as last read (None: not known here)."""
    errors: Errors = {}
    state = _State(values)
    channel = meta.channel or state.conversation(CHANNEL)
    if not channel:
        errors[CHANNEL] = "Choose the channel to post the request in."
    member, host = state.selected(MEMBER), state.selected(HOST)
    if not member:
        errors[MEMBER] = "Choose the member cluster to move."
    if not host or host == "-":
        errors[HOST] = "Choose the host to move it to."
    if member and host and not errors and (wrong := _pair_problem(member, host, choices)):
        errors[wrong[0]] = wrong[1]
    keep, discard = state.multi(KEEP), state.multi(DISCARD)
    flags = set(state.multi(FLAGS))
    for block, names in ((KEEP, keep), (DISCARD, discard)):
        if why := _names_problem(names, member, choices):
            errors[block] = why
    if both := [n for n in keep if n in discard]:
        errors[DISCARD] = f"{', '.join(both)}: a namespace is kept or discarded, not both."
    if FLAG_KEEP_ALL in flags and keep:
        errors[KEEP] = "“Keep all namespaces” is ticked; leave this empty or untick it."
    elif FLAG_KEEP_ALL in flags and discard:
        errors[DISCARD] = "“Keep all namespaces” is ticked, so nothing can be discarded."
    into = (state.text(INTO) or "").strip() or None
    if into is not None and (not is_valid_name(into) or into.lower() in RESERVED):
        errors[INTO] = (
            "A workspace name: lowercase letters, digits and '-', at most 63 characters, "
            "starting and ending with a letter or digit."
        )
    at = state.moment(AT)
    if at is not None and at <= now:
        errors[AT] = "That time has passed; choose a later one, or leave it empty."
    elif at is not None and at > now + MAX_AHEAD:
        errors[AT] = "At most 30 days ahead."
    if errors or not (member and host and channel):
        return errors
    command = MigrateCommand(
        member,
        host,
        keep,
        FLAG_KEEP_ALL in flags,
        discard,
        into,
        FLAG_SYNC_JWT in flags,
        at,
        FLAG_DRY_RUN in flags,
    )
    text = render(command)
    try:
        parsed = parse(text, known_clusters=known_clusters, now=now)
    except UsageError as e:  # the form allowed something the grammar does not: say what
        return {MEMBER: clip(e.message, 1000)}
    if parsed != command:
        return {MEMBER: "The form could not be turned into a command; please type it instead."}
    return Submission(command, text, channel)


def _pair_problem(member: str, host: str, choices: FleetChoices | None) -> tuple[str, str] | None:
    if member == host:
        return HOST, f"{member} cannot move onto itself; choose another host."
    if choices is None:
        return None  # preflight reads the fleet and refuses a wrong pair with the reason
    if member not in choices.members and member not in choices.unreadable:
        return MEMBER, f"{member} is not a member cluster (any more); choose another."
    if host not in choices.hosts and host not in choices.unreadable:
        return HOST, f"{host} is not a host cluster (any more); choose another."
    current = choices.members.get(member)
    if current == host:
        return HOST, f"{member} is already a member of {host}; choose another host."
    return None


def _names_problem(
    names: tuple[str, ...], member: str | None, choices: FleetChoices | None
) -> str | None:
    if bad := [n for n in names if not is_valid_name(n) or n.lower() in RESERVED]:
        return f"Not a namespace name the command can carry: {', '.join(bad[:5])}."
    offered = choices.namespaces.get(member or "") if choices is not None else None
    if offered is not None and (gone := [n for n in names if n not in set(offered)]):
        return f"Not a namespace of {member} that can move: {', '.join(gone[:5])}."
    return None


class _State:
    """A view's `state.values` (block id → action id → value), read defensively: the payload is
    signed by Slack but its shape is still checked before it is believed."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values if isinstance(values, Mapping) else {}

    def _value(self, block: str) -> Mapping[str, Any]:
        by_action = self.values.get(block)
        value = by_action.get(action_id(block)) if isinstance(by_action, Mapping) else None
        return value if isinstance(value, Mapping) else {}

    def selected(self, block: str) -> str | None:
        option = self._value(block).get("selected_option")
        value = option.get("value") if isinstance(option, Mapping) else None
        return value if isinstance(value, str) and value else None

    def multi(self, block: str) -> tuple[str, ...]:
        options = self._value(block).get("selected_options")
        if not isinstance(options, list):
            return ()
        found = (o.get("value") for o in options if isinstance(o, Mapping))
        return tuple(dict.fromkeys(v for v in found if isinstance(v, str) and v))

    def text(self, block: str) -> str | None:
        value = self._value(block).get("value")
        return value if isinstance(value, str) else None

    def conversation(self, block: str) -> str | None:
        value = self._value(block).get("selected_conversation")
        return value if isinstance(value, str) and is_channel_id(value) else None

    def moment(self, block: str) -> datetime | None:
        stamp = self._value(block).get("selected_date_time")
        if not isinstance(stamp, int) or isinstance(stamp, bool) or not 0 < stamp < 2**40:
            return None
        return datetime.fromtimestamp(stamp - stamp % 60, UTC)


def selected_member(values: Mapping[str, Any]) -> str | None:
    """The member chosen in a view's current state (block_actions and block_suggestion carry it)."""
    member = _State(values).selected(MEMBER)
    return member if member and is_valid_name(member) else None
