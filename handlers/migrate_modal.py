"""The migration form's listeners (the form itself is `handlers.migrate_form`): open it from
`/ksmc migrate` without arguments or App Home's "New migration" button, fill it from the fleet,
load namespaces as the user types, and hand a valid submission to the very command handling a
typed `/ksmc migrate …` goes through (`handlers.commands.handle_command`: rate limit, replay
check, audit, the request service's requester and channel checks, preflight, approval).

Slack's clocks shape it. A trigger_id opens a modal only within 3 s, so the form opens at once
saying "reading the fleet…" and is filled by `views.update` once the clusters are read. Options
and submissions are answered in the HTTP response itself, within 3 s, so they are served from
the fleet as the form was filled (`FormFleet`); a valid submission is acknowledged by turning
the form into "requesting…", and storing the request and everything after it run after the ack.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookResponse

from bot.context import BotContext
from bot.work import Lane
from handlers import queries, render
from handlers.commands import after_ack, handle_command
from handlers.migrate_form import (
    CALLBACK_ID,
    EXTERNAL,
    HOST,
    MEMBER,
    OPEN_ACTION,
    FleetChoices,
    FormMeta,
    action_id,
    choices_of,
    form_view,
    loading_view,
    message_view,
    movable_namespaces,
    options_for,
)
from handlers.migrate_submission import Submission, read_submission, selected_member
from handlers.mrkdwn import code

log = logging.getLogger("ksmc.form")

#: How long a fleet read keeps serving options and submission checks: about as long as a
#: person takes to fill the form. Preflight reads the fleet again whatever this says.
FORM_TTL = 30 * 60.0
#: A member's namespaces not read with the form are read for an options request within this,
#: leaving Slack's 3 s room for the rest of the round trip.
OPTIONS_READ_TIMEOUT = 2.0

EXPIRED = (
    "⏱️ The migration form could not be opened: Slack lets the bot open a form only within 3 "
    "seconds of your command, and this time the bot was slower. Run `/ksmc migrate` again, or "
    "type the whole command: `/ksmc migrate <member> to <host> keep <ns>,…`."
)


class FormFleet:
    """The fleet as the form was last filled from it (this replica's memory, `FORM_TTL`), and
    members' namespaces read for options since."""

    def __init__(self, ttl: float = FORM_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._choices: tuple[float, FleetChoices] | None = None
        self._namespaces: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def put(self, choices: FleetChoices) -> None:
        now = self.clock()
        with self._lock:
            self._choices = (now, choices)
            for member, names in choices.namespaces.items():
                self._namespaces[member] = (now, names)

    def get(self) -> FleetChoices | None:
        with self._lock:
            if self._choices is None or self.clock() - self._choices[0] > self.ttl:
                return None
            return self._choices[1]

    def namespaces(self, member: str) -> tuple[str, ...] | None:
        with self._lock:
            found = self._namespaces.get(member)
            return found[1] if found and self.clock() - found[0] <= self.ttl else None

    def put_namespaces(self, member: str, names: tuple[str, ...]) -> None:
        with self._lock:
            self._namespaces[member] = (self.clock(), names)


def is_bare_migrate(body: dict[str, Any]) -> bool:
    """`/ksmc migrate` with nothing after it: the form, not a usage error."""
    return str(body.get("text") or "").strip().lower() == "migrate"


def register(app: App, ctx: BotContext) -> None:
    """Register before `handlers.commands`: Bolt runs the first listener that matches, and bare
    `/ksmc migrate` must reach the form before the command listener takes every `/ksmc`."""
    fleet = FormFleet()

    @app.command("/ksmc", matchers=[is_bare_migrate])
    def on_form_command(
        ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient
    ) -> None:
        ack()
        after_ack(
            ctx, "opening the form", lambda: open_from_command(ctx, fleet, client, body, respond)
        )

    @app.action(OPEN_ACTION)
    def on_new_migration(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        after_ack(ctx, "opening the form", lambda: open_from_home(ctx, fleet, client, body))

    @app.action(action_id(MEMBER))
    def on_member_chosen(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        lane = Lane.INTAKE if fleet.get() else Lane.QUERY  # a cluster read goes to its lane
        after_ack(ctx, "redrawing the form", lambda: redraw(ctx, fleet, client, body), lane)

    for external in EXTERNAL:
        app.options(external)(_options_listener(ctx, fleet, external))

    @app.view(CALLBACK_ID)
    def on_submit(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        submit(ctx, fleet, ack, body, client)


# ---- opening and filling ---------------------------------------------------------------------


def open_from_command(
    ctx: BotContext, fleet: FormFleet, client: WebClient, body: dict[str, Any], respond: Respond
) -> None:
    user, team = str(body.get("user_id", "")), str(body.get("team_id", ""))
    wait = ctx.limits.check("query", user)  # filling the form reads the fleet: a question
    if wait:
        shown = render.render_slow_down("query", wait)
        respond(text=shown.text, blocks=shown.blocks, response_type="ephemeral")
        return
    if not ctx.first_time(f"cmd:{body.get('trigger_id', '')}"):
        return
    meta = FormMeta(channel=str(body.get("channel_id") or "") or None)
    opened = _open(client, str(body.get("trigger_id") or ""), meta)
    if isinstance(opened, str):
        respond(text=opened, response_type="ephemeral")
        return
    ctx.background(lambda: fill(ctx, fleet, client, opened, user, team, meta), Lane.QUERY)


def open_from_home(
    ctx: BotContext, fleet: FormFleet, client: WebClient, body: dict[str, Any]
) -> None:
    """From App Home there is no channel: the form asks where to post the request."""
    user_info = body.get("user") or {}
    user = str(user_info.get("id", ""))
    team = str((body.get("team") or {}).get("id") or user_info.get("team_id", ""))
    action = (body.get("actions") or [{}])[0]
    if not ctx.first_time(f"act:{body.get('trigger_id', '')}:{action.get('action_ts', '')}"):
        return
    if ctx.limits.check("query", user):
        log.info("not opening the form for %s: over the question limit", user)
        return  # App Home has no response_url to say so; the button can be pressed again
    opened = _open(client, str(body.get("trigger_id") or ""), FormMeta())
    if isinstance(opened, str):
        log.warning("the form could not be opened from App Home for %s: %s", user, opened)
        return
    ctx.background(lambda: fill(ctx, fleet, client, opened, user, team, FormMeta()), Lane.QUERY)


def _open(client: WebClient, trigger_id: str, meta: FormMeta) -> tuple[str, str] | str:
    """The opened view's id and hash, or what to tell the user when Slack refused."""
    try:
        response = client.views_open(trigger_id=trigger_id, view=loading_view(meta))
    except SlackApiError as e:
        error = str(e.response.get("error") or "unknown")
        log.warning("views.open failed: %s", error)
        if error in ("expired_trigger_id", "exchanged_trigger_id"):
            return EXPIRED
        return (
            f"⚠️ The migration form could not be opened (Slack said `{error}`). "
            "Type the command instead: `/ksmc help migrate`."
        )
    view = response.get("view") or {}
    return str(view.get("id") or ""), str(view.get("hash") or "")


def fill(
    ctx: BotContext,
    fleet: FormFleet,
    client: WebClient,
    opened: tuple[str, str],
    user: str,
    team: str,
    meta: FormMeta,
) -> None:
    """Replace "reading the fleet…" with the form, or with why this user cannot ask here. The
    service checks the same again when the form is submitted; this only spares filling it in."""
    view_id, view_hash = opened
    policy = ctx.service.policy
    if meta.channel is not None and policy.channels and meta.channel not in policy.channels:
        where = ", ".join(f"<#{c}>" for c in policy.channels)
        shown = message_view(
            f"⛔ Migrations can only be requested in {where} (KSMC_CHANNELS).", meta
        )
    elif not ctx.service.may_request(user):
        shown = message_view(
            "⛔ You are not allowed to request migrations (KSMC_REQUESTERS).", meta
        )
    else:
        choices = choices_of(queries.fleet_view(ctx, team))
        fleet.put(choices)
        shown = form_view(choices, meta, policy.channels)
    _update(client, view_id, shown, view_hash)


def redraw(ctx: BotContext, fleet: FormFleet, client: WebClient, body: dict[str, Any]) -> None:
    """A member was chosen: offer the hosts it may move to (Slack keeps what was entered)."""
    view = body.get("view") or {}
    values = (view.get("state") or {}).get("values") or {}
    meta = replace(FormMeta.load(view.get("private_metadata")), member=selected_member(values))
    team = str((body.get("team") or {}).get("id") or "")
    choices = fleet.get()
    if choices is None:
        choices = choices_of(queries.fleet_view(ctx, team))
        fleet.put(choices)
    shown = form_view(choices, meta, ctx.service.policy.channels)
    _update(client, str(view.get("id") or ""), shown, str(view.get("hash") or "") or None)


def _update(client: WebClient, view_id: str, view: dict[str, Any], view_hash: str | None) -> None:
    try:
        client.views_update(view_id=view_id, view=view, hash=view_hash)
    except SlackApiError as e:  # closed meanwhile (not_found) or changed (hash_conflict)
        log.info("views.update of %s not applied: %s", view_id, e.response.get("error"))


# ---- options as the user types ---------------------------------------------------------------


def _options_listener(ctx: BotContext, fleet: FormFleet, action: str) -> Any:
    def on_options(ack: Ack, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        values = (view.get("state") or {}).get("values") or {}
        member = selected_member(values) or FormMeta.load(view.get("private_metadata")).member
        typed = str(body.get("value") or "")[:100]
        ack(**options_for(option_names(ctx, fleet, action, member), typed))

    return on_options


def option_names(
    ctx: BotContext, fleet: FormFleet, action: str, member: str | None
) -> Sequence[str]:
    choices = fleet.get() or FleetChoices()
    if action == action_id(MEMBER):
        return list(choices.members)
    if action == action_id(HOST):
        return choices.targets(member)
    if member is None:
        return ()
    names = fleet.namespaces(member)
    return names if names is not None else _read_namespaces(ctx, fleet, member)


def _read_namespaces(ctx: BotContext, fleet: FormFleet, member: str) -> tuple[str, ...]:
    """One member's namespaces, read within `OPTIONS_READ_TIMEOUT` and remembered; none when
    it cannot be read in time (not remembered: the next keystroke tries again)."""
    if member not in ctx.clusters.names():
        return ()
    facts = ctx.clusters.facts([member], timeout=OPTIONS_READ_TIMEOUT)[member]
    if not facts.reachable:
        log.info("no namespace options for %s: %s", member, facts.error)
        return ()
    names = movable_namespaces(facts)
    fleet.put_namespaces(member, names)
    return names


# ---- submitting ------------------------------------------------------------------------------


def submit(
    ctx: BotContext, fleet: FormFleet, ack: Ack, body: dict[str, Any], client: WebClient
) -> None:
    """Field errors in the acknowledgement (nothing stored, nothing audited), or the command
    handed to `handle_command`, acknowledged with its outcome when that comes within
    `OUTCOME_WAIT` (the usual case), else with "requesting…" and the outcome drawn later."""
    view = body.get("view") or {}
    meta = FormMeta.load(view.get("private_metadata"))
    values = (view.get("state") or {}).get("values") or {}
    result = read_submission(
        values, meta, fleet.get(), known_clusters=ctx.clusters.names(), now=datetime.now(UTC)
    )
    if not isinstance(result, Submission):
        ack(response_action="errors", errors=result)
        return
    meta = FormMeta(channel=result.channel, member=result.command.member)
    user = body.get("user") or {}
    view_id = str(view.get("id") or "")
    command = {
        "command": "/ksmc",
        "text": result.text,
        "user_id": str(user.get("id") or ""),
        "user_name": str(user.get("username") or user.get("name") or user.get("id") or ""),
        "team_id": str((body.get("team") or {}).get("id") or user.get("team_id") or ""),
        "channel_id": result.channel,
        # the replay key: one submission of this view is one request
        "trigger_id": str(body.get("trigger_id") or f"view-{view_id}-{view.get('hash', '')}"),
    }
    respond = ModalRespond(client, view_id, meta, result)
    after_ack(ctx, "a migration form", lambda: handle_command(ctx, command, respond))
    ack(response_action="update", view=respond.first_view(OUTCOME_WAIT))


#: How long a submission's acknowledgement waits for the outcome (stored, or refused and why):
#: well inside Slack's 3 s, and far more than storing a request takes.
OUTCOME_WAIT = 1.5
#: Slack applies an acknowledgement's view when the response reaches it; a `views.update` sent
#: right after could arrive first and be overwritten, so a late outcome waits this long.
AFTER_ACK = 1.0


def _typed(result: Submission) -> str:
    typed = code("/ksmc " + result.text, limit=2500)
    return f"Typed, this is {typed}; the request message in <#{result.channel}> shows it too."


class ModalRespond(Respond):
    """A typed command's answer goes to its response_url; a form's answer replaces the form, so
    the outcome (request received, or why not) is where the user is looking: in the
    acknowledgement when it comes in time, else by `views.update` once Slack has shown that."""

    def __init__(self, client: WebClient, view_id: str, meta: FormMeta, result: Submission) -> None:
        super().__init__(response_url=None)
        self.client = client
        self.view_id = view_id
        self.meta = meta
        self.result = result
        self._lock = threading.Lock()
        self._answered = threading.Event()
        self._early: dict[str, Any] | None = None
        self._acked_at: float | None = None

    def first_view(self, wait: float) -> dict[str, Any]:
        """The view to acknowledge with: the outcome if it came within `wait` seconds."""
        self._answered.wait(wait)
        with self._lock:
            self._acked_at = time.monotonic()
            return self._early or message_view(
                "⏳ Requesting…", self.meta, note=_typed(self.result)
            )

    def __call__(
        self, text: str | dict[str, Any] = "", *args: Any, **kwargs: Any
    ) -> WebhookResponse:
        shown = message_view(str(text) or "Done.", self.meta, note=_typed(self.result))
        with self._lock:
            acked_at = self._acked_at
            if acked_at is None:
                self._early = shown
                self._answered.set()
        if acked_at is not None:
            time.sleep(max(0.0, AFTER_ACK - (time.monotonic() - acked_at)))
            _update(self.client, self.view_id, shown, None)
        return WebhookResponse(url="", status_code=200, body="ok", headers={})
