"""The migration form: the modal that `/ksmc migrate` without arguments (or App Home's "New
migration" button) opens, as pure functions from values to `slack_sdk.models` views, and the
options its selects load as the user types.

It offers only what is valid when it is filled: members, the hosts a member may move to (not
the one it is bound to now) and the member's namespaces outside `system-workspace`. Reading a
submission back into a command is `handlers.migrate_submission`; the listeners that open, fill
and submit the form are in `handlers.migrate_modal`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import (
    CheckboxesElement,
    ContextBlock,
    ConversationFilter,
    ConversationSelectElement,
    DateTimePickerElement,
    ExternalDataMultiSelectElement,
    ExternalDataSelectElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    OptionGroup,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from handlers.command_words import is_valid_name
from handlers.mrkdwn import clip, code, escape_mrkdwn, truncate_mrkdwn
from k8s.facts import ClusterFacts
from k8s.fleet import Fleet

CALLBACK_ID = "ksmc_migrate_form"
#: App Home's button that opens the form.
OPEN_ACTION = "ksmc_new_migration"

#: Block ids of the form's inputs; each element's action id is `ksmc_form_<block id>`.
CHANNEL, MEMBER, HOST, KEEP, DISCARD, INTO, AT, FLAGS = (
    "channel",
    "member",
    "host",
    "keep",
    "discard",
    "into",
    "at",
    "flags",
)
FLAG_KEEP_ALL, FLAG_SYNC_JWT, FLAG_DRY_RUN = "keep-all", "sync-jwt", "dry-run"

#: Slack's limits: options in one select or options response, option and title text.
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_TITLE = 24
TITLE = "New migration"
#: Namespace names are system ones (never kept nor discarded) in this KubeSphere workspace.
SYSTEM_WORKSPACE = "system-workspace"


def action_id(block: str) -> str:
    return f"ksmc_form_{block}"


#: The inputs whose options Slack loads from the bot (external selects) as the user types.
EXTERNAL = (action_id(KEEP), action_id(DISCARD), action_id(MEMBER), action_id(HOST))


@dataclass(frozen=True)
class FormMeta:
    """What the bot keeps in the view's private_metadata: the channel the command was typed in
    (None when opened from App Home: the form then asks for one) and the member chosen so far.
    Slack returns it as the bot wrote it, but nothing in it is trusted: the channel is checked
    again by the service (KSMC_CHANNELS) and the member against the fleet."""

    channel: str | None = None
    member: str | None = None

    def dump(self) -> str:
        return json.dumps({"channel": self.channel, "member": self.member}, separators=(",", ":"))

    @staticmethod
    def load(text: object) -> FormMeta:
        try:
            data = json.loads(str(text or "{}"))
        except ValueError:
            return FormMeta()
        if not isinstance(data, dict):
            return FormMeta()
        channel, member = data.get("channel"), data.get("member")
        return FormMeta(
            channel if is_channel_id(channel) else None,
            member if isinstance(member, str) and is_valid_name(member) else None,
        )


_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,40}")


def is_channel_id(value: object) -> bool:
    """A Slack conversation id (public, private or DM), the only channel text the form passes on
    to the service and into `<#…>` mentions."""
    return isinstance(value, str) and _CHANNEL_ID.fullmatch(value) is not None


@dataclass(frozen=True)
class FleetChoices:
    """What the form offers, from one read of the fleet: members with the host each is bound to
    now, hosts, each member's namespaces that may be kept or discarded, and the clusters that
    could not be read (not refused for their role: preflight reads them again)."""

    members: Mapping[str, str | None] = field(default_factory=dict)
    hosts: tuple[str, ...] = ()
    namespaces: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    unreadable: frozenset[str] = frozenset()

    def targets(self, member: str | None) -> tuple[str, ...]:
        """The hosts `member` may move to: every host but its current one and itself."""
        current = self.members.get(member or "")
        return tuple(h for h in self.hosts if h not in (current, member))


def movable_namespaces(facts: ClusterFacts) -> tuple[str, ...]:
    """The namespaces of a member one may keep or discard: not KubeSphere's own, not going."""
    return tuple(
        sorted(
            n.name for n in facts.namespaces if n.workspace != SYSTEM_WORKSPACE and not n.deleting
        )
    )


def choices_of(view: Fleet) -> FleetChoices:
    members = {r.name: r.host for r in view.rows if r.reachable and r.role == "member"}
    namespaces = {
        name: movable_namespaces(view.facts[name]) for name in members if name in view.facts
    }
    return FleetChoices(
        members=dict(sorted(members.items())),
        hosts=tuple(sorted(r.name for r in view.rows if r.reachable and r.role == "host")),
        namespaces=namespaces,
        unreadable=frozenset(r.name for r in view.rows if not r.reachable),
    )


# ---- views -----------------------------------------------------------------------------------


def _plain(text: str, limit: int = MAX_OPTION_TEXT) -> PlainTextObject:
    return PlainTextObject(text=clip(text, limit), emoji=True)


def _md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text, verbatim=True)


def _option(text: str, value: str) -> Option:
    return Option(text=_plain(text), value=value)


def _member_text(member: str, host: str | None) -> str:
    return f"{member} (now on {host})" if host else f"{member} (bound to no host)"


def message_view(text: str, meta: FormMeta, *, note: str = "") -> dict[str, Any]:
    """A form that says one thing (reading the fleet, refused, submitted): no inputs."""
    blocks: list[Any] = [SectionBlock(text=_md(truncate_mrkdwn(text, 3000)), block_id="message")]
    if note:
        blocks.append(ContextBlock(elements=[_md(truncate_mrkdwn(note, 3000))], block_id="note"))
    return View(
        type="modal",
        callback_id=CALLBACK_ID,
        title=_plain(TITLE, MAX_TITLE),
        close=_plain("Close", MAX_TITLE),
        blocks=blocks,
        private_metadata=meta.dump(),
    ).to_dict()


def loading_view(meta: FormMeta) -> dict[str, Any]:
    return message_view(
        "⏳ Reading the fleet to offer its members and hosts…",
        meta,
        note="Or type the whole command: " + code("/ksmc help migrate"),
    )


def form_view(
    choices: FleetChoices, meta: FormMeta, allowed_channels: Sequence[str] = ()
) -> dict[str, Any]:
    """The form itself. A member's target hosts and namespaces depend on the member, so choosing
    one redraws the form (same block ids: Slack keeps what was entered)."""
    if not choices.members or not choices.hosts:
        missing = "member cluster to move" if not choices.members else "host cluster to move to"
        return message_view(f"⚠️ The bot sees no {missing}; `/ksmc clusters` shows why.", meta)
    blocks: list[Any] = [
        ContextBlock(
            elements=[
                _md(
                    "Fills in `/ksmc migrate …` for you; preflight checks and a second "
                    "person's approval follow, as for the typed command."
                )
            ],
            block_id="about",
        )
    ]
    if meta.channel is None:
        blocks.append(_channel_input(allowed_channels))
    member_options = [_option(_member_text(m, h), m) for m, h in choices.members.items()]
    chosen = next((o for o in member_options if o.value == meta.member), None)
    blocks.append(
        InputBlock(
            block_id=MEMBER,
            label=_plain("Member cluster to move"),
            dispatch_action=True,  # choosing one redraws the hosts it may move to
            element=_select(MEMBER, member_options, chosen, "Choose a member"),
        )
    )
    targets = [_option(h, h) for h in choices.targets(meta.member)]
    blocks.append(
        InputBlock(
            block_id=HOST,
            label=_plain("Move it to host"),
            element=_select(HOST, targets, None, "Choose a host"),
            hint=_plain("Hosts other than the one it is bound to now", 150),
        )
    )
    for block, label, hint in (
        (KEEP, "Namespaces to keep", "They move with the member and stay bound to a workspace"),
        (
            DISCARD,
            "Namespaces to discard",
            "Deleted with the old workspace; you accept losing them",
        ),
    ):
        blocks.append(
            InputBlock(
                block_id=block,
                label=_plain(label),
                optional=True,
                hint=_plain(hint, 150),
                element=ExternalDataMultiSelectElement(
                    action_id=action_id(block),
                    placeholder=_plain("Type to search the member's namespaces", 150),
                    min_query_length=0,
                ),
            )
        )
    blocks += [
        InputBlock(
            block_id=INTO,
            label=_plain("Into workspace (on the new host)"),
            optional=True,
            hint=_plain("Empty: the workspace keeps its name", 150),
            element=PlainTextInputElement(action_id=action_id(INTO), max_length=63),
        ),
        InputBlock(
            block_id=AT,
            label=_plain("Run at"),
            optional=True,
            hint=_plain("Empty: as soon as it is approved. At most 30 days ahead", 150),
            element=DateTimePickerElement(action_id=action_id(AT)),
        ),
        InputBlock(
            block_id=FLAGS,
            label=_plain("Options"),
            optional=True,
            element=CheckboxesElement(
                action_id=action_id(FLAGS),
                options=[
                    _option("Keep all namespaces", FLAG_KEEP_ALL),
                    _option("Copy the host's jwtSecret to the member (sync-jwt)", FLAG_SYNC_JWT),
                    _option("Dry run: show the plan only", FLAG_DRY_RUN),
                ],
            ),
        ),
    ]
    if choices.unreadable:
        names = ", ".join(sorted(choices.unreadable)[:20])
        blocks.append(
            ContextBlock(
                elements=[_md(f"⚠️ Not offered, could not be read: {escape_mrkdwn(names)}")],
                block_id="unreadable",
            )
        )
    return View(
        type="modal",
        callback_id=CALLBACK_ID,
        title=_plain(TITLE, MAX_TITLE),
        submit=_plain("Request", MAX_TITLE),
        close=_plain("Cancel", MAX_TITLE),
        blocks=blocks,
        private_metadata=meta.dump(),
    ).to_dict()


def _select(
    block: str, options: list[Option], chosen: Option | None, placeholder: str
) -> StaticSelectElement | ExternalDataSelectElement:
    """A static select when Slack can take its options at once, else one that loads them."""
    if len(options) <= MAX_OPTIONS:
        return StaticSelectElement(
            action_id=action_id(block),
            placeholder=_plain(placeholder, 150),
            options=options or [_option("(none)", "-")],
            initial_option=chosen,
        )
    return ExternalDataSelectElement(
        action_id=action_id(block),
        placeholder=_plain(placeholder + " (type to search)", 150),
        min_query_length=0,
        initial_option=chosen,
    )


def _channel_input(allowed: Sequence[str]) -> InputBlock:
    return InputBlock(
        block_id=CHANNEL,
        label=_plain("Post the request in"),
        hint=_plain("The channel where approvers see it (the bot must be a member)", 150),
        element=ConversationSelectElement(
            action_id=action_id(CHANNEL),
            placeholder=_plain("Choose a channel", 150),
            initial_conversation=allowed[0] if len(allowed) == 1 else None,
            filter=ConversationFilter(include=["public", "private"], exclude_bot_users=True),
        ),
    )


def options_for(names: Sequence[str], typed: str) -> dict[str, Any]:
    """An options response: the names containing `typed` (case-insensitive; those starting with
    it first), at most Slack's 100; when more match, one group whose label says how many."""
    needle = typed.strip().lower()
    hits = [n for n in names if needle in n.lower()]
    hits.sort(key=lambda n: (not n.lower().startswith(needle), n))
    options = [_option(n, n).to_dict() for n in hits[:MAX_OPTIONS]]
    if len(hits) <= MAX_OPTIONS:
        return {"options": options}
    label = clip(f"{MAX_OPTIONS} of {len(hits):,} matches: type more to narrow", MAX_OPTION_TEXT)
    return {"option_groups": [OptionGroup(label=_plain(label), options=options).to_dict()]}
