"""Modals as Slack runs them, for :class:`.server.SlackStub`: trigger ids, ``views.open`` and
``views.update``, what the user enters, and the answers Slack needs from the app while a modal is
open.

- A trigger id opens one view, once, within 3 s of the interaction that carried it
  (``expired_trigger_id``, ``exchanged_trigger_id``); unknown ones are ``invalid_arguments``.
- Views obey :func:`.view_rules.check_modal_view`; ``views.update`` with a stale ``hash`` is a
  ``hash_conflict``; an update keeps what the user entered in inputs whose block and action ids
  did not change (Slack's "preserving input entry").
- The user can only pick what the form offers: a static option of the element, or an option the
  app returned for that external select; a submission with a required input empty is never
  sent (Slack's client refuses it).
- The app must answer an options request and a ``view_submission`` within 3 s, with options
  inside the limits, and ``response_action: errors`` naming input blocks of that view.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import view_rules
from .rules import Problem
from .signing import APP_ID, BOT_ID, TEAM_DOMAIN, TEAM_ID, VERIFICATION_TOKEN

TRIGGER_TTL_S = 3.0
ANSWER_WITHIN_S = 3.0


class IncompleteForm(Exception):
    """What the user did cannot be sent by Slack's client (a required field is empty, or the
    value is not one the form offers)."""


class ModalFailure(Exception):
    """Slack's `ok: false` answer to a views method (the stand-in turns it into its own)."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []


@dataclass
class OpenModal:
    id: str
    user: str
    view: dict[str, Any]
    hash: str
    values: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    offered: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=dict
    )  # action → value → option
    closed: bool = False

    def payload_view(self) -> dict[str, Any]:
        """The view as Slack puts it in interaction payloads, with the current state."""
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "type": "modal",
            "blocks": copy.deepcopy(self.view.get("blocks") or []),
            "private_metadata": self.view.get("private_metadata", ""),
            "callback_id": self.view.get("callback_id", ""),
            "state": {"values": copy.deepcopy(self.values)},
            "hash": self.hash,
            "title": copy.deepcopy(self.view.get("title")),
            "clear_on_close": False,
            "notify_on_close": False,
            "close": copy.deepcopy(self.view.get("close")),
            "submit": copy.deepcopy(self.view.get("submit")),
            "previous_view_id": None,
            "root_view_id": self.id,
            "app_id": APP_ID,
            "external_id": "",
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }

    def inputs(self) -> dict[str, dict[str, Any]]:
        """Input blocks by block id."""
        return {
            str(b.get("block_id")): b
            for b in self.view.get("blocks") or []
            if isinstance(b, dict) and b.get("type") == "input"
        }


def _new_hash() -> str:
    return f"{time.time():.6f}.{secrets.token_hex(4)}"


def _initial(element: dict[str, Any]) -> dict[str, Any] | None:
    """The state an element starts in, as Slack reports it, or None when empty."""
    kind = element.get("type")
    if "initial_option" in element:
        return {"type": kind, "selected_option": copy.deepcopy(element["initial_option"])}
    if "initial_options" in element:
        return {"type": kind, "selected_options": copy.deepcopy(element["initial_options"])}
    if "initial_conversation" in element:
        return {"type": kind, "selected_conversation": element["initial_conversation"]}
    if "initial_value" in element:
        return {"type": kind, "value": element["initial_value"]}
    if "initial_date_time" in element:
        return {"type": kind, "selected_date_time": element["initial_date_time"]}
    return None


def _user(user_id: str) -> dict[str, Any]:
    name = user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": TEAM_ID}


class Modals:
    """The modal state of one stand-in workspace; methods are called under ``lock``."""

    def __init__(
        self,
        lock: threading.RLock,
        violate: Callable[[str, str], None],
        enforce: Callable[[str, list[Problem]], None],
    ) -> None:
        self._lock = lock
        self._violate = violate
        self._enforce = enforce
        self._triggers: dict[str, tuple[float, str]] = {}
        self._exchanged: set[str] = set()
        self._views: dict[str, OpenModal] = {}
        self._seq = 0

    # triggers -------------------------------------------------------------------------------

    def trigger(self, user: str, *, age: float = 0.0) -> str:
        """A trigger id Slack would put in an interaction by ``user``, issued ``age`` s ago."""
        trigger = f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**11)}.{secrets.token_hex(16)}"
        with self._lock:
            self._triggers[trigger] = (time.monotonic() - age, user)
        return trigger

    # Web API --------------------------------------------------------------------------------

    def views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        method = "views.open"
        trigger = args.get("trigger_id")
        if not isinstance(trigger, str) or trigger not in self._triggers:
            self._violate(method, f"trigger_id {trigger!r} was never issued")
            raise ModalFailure("invalid_arguments", ["invalid `trigger_id`"])
        issued, user = self._triggers[trigger]
        if trigger in self._exchanged:
            self._violate(method, "trigger_id used twice")
            raise ModalFailure("exchanged_trigger_id")
        if time.monotonic() - issued > TRIGGER_TTL_S:
            raise ModalFailure("expired_trigger_id")  # not a violation: the bot must say so
        view = self._view_arg(method, args)
        self._exchanged.add(trigger)
        self._seq += 1
        modal = OpenModal(f"VM{self._seq:07d}", user, view, _new_hash())
        modal.values = self._state(modal.inputs(), {})
        self._views[modal.id] = modal
        return {"ok": True, "view": modal.payload_view()}

    def views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        method = "views.update"
        modal = self._views.get(str(args.get("view_id") or ""))
        if modal is None or modal.closed:
            raise ModalFailure("not_found")
        wanted = args.get("hash")
        if wanted and wanted != modal.hash:
            raise ModalFailure("hash_conflict")
        self._replace(modal, self._view_arg(method, args))
        return {"ok": True, "view": modal.payload_view()}

    def _view_arg(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        self._enforce(method, view_rules.check_modal_view(view))
        assert isinstance(view, dict)
        return copy.deepcopy(view)

    def _replace(self, modal: OpenModal, view: dict[str, Any]) -> None:
        modal.view = view
        modal.hash = _new_hash()
        modal.values = self._state(modal.inputs(), modal.values)

    @staticmethod
    def _state(inputs: dict[str, dict[str, Any]], old: dict[str, Any]) -> dict[str, Any]:
        """The new view's state: what was entered in an unchanged input, else its initial value."""
        state: dict[str, Any] = {}
        for block_id, block in inputs.items():
            element = block.get("element") or {}
            action = str(element.get("action_id"))
            kept = (old.get(block_id) or {}).get(action)
            value = kept if kept is not None else _initial(element)
            if value is not None:
                state[block_id] = {action: value}
        return state

    # inspection -----------------------------------------------------------------------------

    def view(self, view_id: str) -> OpenModal | None:
        with self._lock:
            modal = self._views.get(view_id)
            return copy.deepcopy(modal) if modal is not None else None

    def open_views(self, user: str) -> list[OpenModal]:
        with self._lock:
            return [
                copy.deepcopy(m) for m in self._views.values() if m.user == user and not m.closed
            ]

    # what the user does ---------------------------------------------------------------------

    def choose(self, view_id: str, block_id: str, value: Any) -> dict[str, Any]:
        """Enter ``value`` in an input: an option value (a list for multi-selects and
        checkboxes), a channel id, text, or epoch seconds. Returns the element's new state."""
        with self._lock:
            modal = self._open(view_id)
            block = modal.inputs().get(block_id)
            if block is None:
                raise IncompleteForm(f"the view has no input block {block_id!r}")
            element = block["element"]
            action, kind = str(element.get("action_id")), str(element.get("type"))
            state: dict[str, Any] = {"type": kind}
            if kind in ("static_select", "external_select"):
                state["selected_option"] = self._option(modal, element, str(value))
            elif kind in ("multi_static_select", "multi_external_select", "checkboxes"):
                state["selected_options"] = [self._option(modal, element, str(v)) for v in value]
            elif kind in ("conversations_select", "channels_select"):
                state["selected_conversation"] = str(value)
            elif kind == "datetimepicker":
                state["selected_date_time"] = int(value)
            elif kind == "plain_text_input":
                limit = element.get("max_length")
                if isinstance(limit, int) and len(str(value)) > limit:
                    raise IncompleteForm(f"{block_id}: Slack's client stops typing at {limit}")
                state["value"] = str(value)
            else:
                raise IncompleteForm(f"the stand-in cannot enter a value in a {kind}")
            modal.values[block_id] = {action: state}
            return copy.deepcopy(state)

    def _option(self, modal: OpenModal, element: dict[str, Any], value: str) -> dict[str, Any]:
        action = str(element.get("action_id"))
        if element.get("type", "").endswith("external_select"):
            found = modal.offered.get(action, {}).get(value)
        else:
            groups = element.get("option_groups") or [{"options": element.get("options") or []}]
            found = next((o for g in groups for o in g["options"] if o.get("value") == value), None)
        if found is None:
            raise IncompleteForm(f"{value!r} is not an option the form offers in {action}")
        return copy.deepcopy(found)

    def _open(self, view_id: str) -> OpenModal:
        modal = self._views.get(view_id)
        if modal is None or modal.closed:
            raise IncompleteForm(f"no open view {view_id}")
        return modal

    # interaction payloads -------------------------------------------------------------------

    def _base(self, kind: str, modal: OpenModal) -> dict[str, Any]:
        return {
            "type": kind,
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "user": _user(modal.user),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "is_enterprise_install": False,
            "enterprise": None,
        }

    def submission(self, view_id: str) -> dict[str, Any]:
        """The ``view_submission`` payload of pressing the submit button now."""
        with self._lock:
            modal = self._open(view_id)
            if not modal.view.get("submit"):
                raise IncompleteForm("the view has no submit button")
            for block_id, block in modal.inputs().items():
                if not block.get("optional") and not _filled(modal.values.get(block_id) or {}):
                    raise IncompleteForm(f"required input {block_id!r} is empty")
            payload = self._base("view_submission", modal)
            payload |= {
                "trigger_id": self.trigger(modal.user),
                "view": modal.payload_view(),
                "response_urls": [],
            }
            return payload

    def suggestion(self, view_id: str, block_id: str, typed: str) -> dict[str, Any]:
        """The ``block_suggestion`` payload of typing ``typed`` in an external select."""
        with self._lock:
            modal = self._open(view_id)
            element = (modal.inputs().get(block_id) or {}).get("element") or {}
            if not str(element.get("type", "")).endswith("external_select"):
                raise IncompleteForm(f"{block_id!r} is not an external select")
            minimum = element.get("min_query_length", 3)
            if len(typed) < minimum:
                raise IncompleteForm(f"Slack asks for options after {minimum} characters")
            payload = self._base("block_suggestion", modal)
            payload |= {
                "container": {"type": "view", "view_id": modal.id},
                "action_id": element["action_id"],
                "block_id": block_id,
                "value": typed,
                "view": modal.payload_view(),
            }
            return payload

    def action(self, view_id: str, block_id: str) -> dict[str, Any]:
        """The ``block_actions`` payload an input with ``dispatch_action`` sends on a change."""
        with self._lock:
            modal = self._open(view_id)
            block = modal.inputs().get(block_id) or {}
            if not block.get("dispatch_action"):
                raise IncompleteForm(f"{block_id!r} sends no action when it changes")
            element = block["element"]
            state = (modal.values.get(block_id) or {}).get(element["action_id"]) or {}
            payload = self._base("block_actions", modal)
            payload |= {
                "container": {"type": "view", "view_id": modal.id},
                "trigger_id": self.trigger(modal.user),
                "view": modal.payload_view(),
                "actions": [
                    {
                        "type": element["type"],
                        "action_id": element["action_id"],
                        "block_id": block_id,
                        **{k: v for k, v in state.items() if k != "type"},
                        "action_ts": f"{time.time():.6f}",
                    }
                ],
            }
            return payload

    # the app's answers ----------------------------------------------------------------------

    def options_answered(
        self, view_id: str, action: str, status: int, body: object, elapsed: float
    ) -> list[dict[str, Any]]:
        """Record the app's answer to an options request; the options the user now sees."""
        where = f"options for {action}"
        with self._lock:
            if elapsed > ANSWER_WITHIN_S:
                self._violate(where, f"answered in {elapsed:.1f} s; Slack waits 3 s")
            if status != 200:
                self._violate(where, f"HTTP {status}; Slack shows no options")
                return []
            problems, offered = view_rules.check_options_answer(body)
            for problem in problems:
                self._violate(where, str(problem))
            if problems:
                return []
            modal = self._views.get(view_id)
            if modal is not None:
                known = modal.offered.setdefault(action, {})
                known.update({str(o["value"]): copy.deepcopy(o) for o in offered})
            return offered

    def submission_answered(
        self, view_id: str, status: int, body: object, elapsed: float
    ) -> dict[str, Any]:
        """Apply the app's answer to a ``view_submission`` as Slack does; return it."""
        where = "view_submission"
        with self._lock:
            modal = self._open(view_id)
            if elapsed > ANSWER_WITHIN_S:
                self._violate(where, f"answered in {elapsed:.1f} s; Slack shows an error at 3 s")
                return {}
            if status != 200:
                self._violate(where, f"HTTP {status}; Slack shows an error in the modal")
                return {}
            answer = body if isinstance(body, dict) else {}
            action = answer.get("response_action")
            if action is None or action == "clear":
                modal.closed = True
            elif action == "errors":
                errors = answer.get("errors")
                inputs = modal.inputs()
                if not isinstance(errors, dict) or not errors:
                    self._violate(where, "response_action errors needs a non-empty errors object")
                for block_id in errors or {}:
                    if block_id not in inputs:
                        self._violate(where, f"errors names {block_id!r}, not an input block")
            elif action == "update":
                view = answer.get("view")
                problems = view_rules.check_modal_view(view)
                for problem in problems:
                    self._violate(where, str(problem))
                if not problems and isinstance(view, dict):
                    self._replace(modal, copy.deepcopy(view))
            else:
                self._violate(where, f"response_action {action!r} is not one the stand-in knows")
            return copy.deepcopy(answer)


def _filled(by_action: dict[str, Any]) -> bool:
    for state in by_action.values():
        if not isinstance(state, dict):
            continue
        if state.get("selected_option") or state.get("selected_options"):
            return True
        if state.get("selected_conversation") or state.get("value"):
            return True
        if state.get("selected_date_time") is not None:
            return True
    return False
