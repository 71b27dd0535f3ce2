"""Slack's rules for modal views and for the answers an app gives while a modal is open (options
for an external select), as pure checks in the manner of :mod:`.rules`.

Limits from Slack's references: the modal view object (title, submit and close ≤24 characters,
≤100 blocks, private_metadata ≤3000, callback_id and external_id ≤255, submit required with an
input block), the input block (label and hint ≤2000), select menus (≤100 options, placeholder
≤150, an initial option must be one of the options), the option object (text ≤75, value ≤150)
and the option group (label ≤75, ≤100 groups of ≤100 options).
https://docs.slack.dev/reference/views/modal-views , …/block-kit/blocks/input-block ,
…/block-kit/composition-objects/option-object , …/option-group-object
"""

from __future__ import annotations

from typing import Any

from .rules import (
    MAX_VIEW_BLOCKS,
    MAX_VIEW_CALLBACK_ID,
    MAX_VIEW_PRIVATE_METADATA,
    Problem,
    _Checker,
)

MAX_MODAL_TITLE = 24
MAX_MODAL_BUTTON = 24
MAX_EXTERNAL_ID = 255
MAX_INPUT_LABEL = 2000
MAX_INPUT_HINT = 2000
MAX_PLACEHOLDER = 150
MAX_OPTIONS = 100
MAX_OPTION_GROUPS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_OPTION_GROUP_LABEL = 75

#: Elements an input block may hold, as Slack names them.
INPUT_ELEMENTS = frozenset(
    {
        "plain_text_input",
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
        "checkboxes",
        "radio_buttons",
        "datepicker",
        "timepicker",
        "datetimepicker",
        "number_input",
        "email_text_input",
        "url_text_input",
        "rich_text_input",
        "file_input",
    }
)
SELECTS_WITH_OPTIONS = frozenset(
    {"static_select", "multi_static_select", "checkboxes", "radio_buttons"}
)


def check_modal_view(view: object) -> list[Problem]:
    """Every rule a ``views.open`` / ``views.update`` (or ``response_action: update``) view
    breaks; Slack answers ``invalid_arguments`` with these pointers."""
    checker = _Checker("invalid_arguments")
    if not isinstance(view, dict):
        checker.add("/view", "must provide an object")
        return checker.problems
    if view.get("type") != "modal":
        checker.add("/view/type", f"must be modal (got {view.get('type')!r})")
    checker.text_object(view.get("title"), "/view/title", limit=MAX_MODAL_TITLE, plain_only=True)
    for key in ("submit", "close"):
        if key in view and view[key] is not None:
            checker.text_object(view[key], f"/view/{key}", limit=MAX_MODAL_BUTTON, plain_only=True)
    checker.max_len(
        view.get("private_metadata"), MAX_VIEW_PRIVATE_METADATA, "/view/private_metadata"
    )
    checker.max_len(view.get("callback_id"), MAX_VIEW_CALLBACK_ID, "/view/callback_id")
    checker.max_len(view.get("external_id"), MAX_EXTERNAL_ID, "/view/external_id")
    blocks = view.get("blocks")
    checker.blocks(blocks, "/view/blocks", MAX_VIEW_BLOCKS)
    if isinstance(blocks, list):
        inputs = [b for b in blocks if isinstance(b, dict) and b.get("type") == "input"]
        if inputs and not view.get("submit"):
            checker.add("/view/submit", "submit is required when a view has an input block")
        for i, block in enumerate(blocks):
            if isinstance(block, dict) and block.get("type") == "input":
                _input(checker, block, f"/view/blocks/{i}")
    return checker.problems


def _input(checker: _Checker, block: dict[str, Any], pointer: str) -> None:
    checker.text_object(
        block.get("label"), f"{pointer}/label", limit=MAX_INPUT_LABEL, plain_only=True
    )
    if "hint" in block:
        checker.text_object(block["hint"], f"{pointer}/hint", limit=MAX_INPUT_HINT, plain_only=True)
    element = block.get("element")
    if not isinstance(element, dict):
        checker.add(f"{pointer}/element", "must provide an object")
        return
    kind = element.get("type")
    if kind not in INPUT_ELEMENTS:
        checker.add(f"{pointer}/element/type", f"{kind!r} cannot be in an input block")
        return
    checker.element(element, f"{pointer}/element", set())
    if "placeholder" in element:
        checker.text_object(
            element["placeholder"],
            f"{pointer}/element/placeholder",
            limit=MAX_PLACEHOLDER,
            plain_only=True,
        )
    if kind in SELECTS_WITH_OPTIONS:
        offered = options_problems(checker, element, f"{pointer}/element")
        initial = [element["initial_option"]] if "initial_option" in element else []
        initial += element.get("initial_options") or []
        for option in initial:
            if isinstance(option, dict) and option.get("value") not in offered:
                checker.add(f"{pointer}/element/initial_option", "must be one of the options")
    if "min_query_length" in element:
        value = element["min_query_length"]
        if not isinstance(value, int) or value < 0:
            checker.add(f"{pointer}/element/min_query_length", "must be a non-negative integer")


def options_problems(checker: _Checker, holder: dict[str, Any], pointer: str) -> set[str]:
    """Check ``options`` or ``option_groups`` of a select (or an options answer); the values."""
    values: set[str] = set()
    has_options, has_groups = "options" in holder, "option_groups" in holder
    if has_options == has_groups:
        checker.add(pointer, "provide exactly one of options and option_groups")
        return values
    groups = holder["option_groups"] if has_groups else [{"options": holder["options"]}]
    if not isinstance(groups, list) or len(groups) > MAX_OPTION_GROUPS:
        checker.add(f"{pointer}/option_groups", f"must be an array of at most {MAX_OPTION_GROUPS}")
        return values
    for g, group in enumerate(groups):
        where = f"{pointer}/option_groups/{g}" if has_groups else pointer
        if not isinstance(group, dict):
            checker.add(where, "must provide an object")
            continue
        if has_groups:
            checker.text_object(
                group.get("label"), f"{where}/label", limit=MAX_OPTION_GROUP_LABEL, plain_only=True
            )
        options = group.get("options")
        if not isinstance(options, list) or len(options) > MAX_OPTIONS:
            checker.add(f"{where}/options", f"must be an array of at most {MAX_OPTIONS} options")
            continue
        for o, option in enumerate(options):
            at = f"{where}/options/{o}"
            if not isinstance(option, dict):
                checker.add(at, "must provide an object")
                continue
            checker.text_object(option.get("text"), f"{at}/text", limit=MAX_OPTION_TEXT)
            value = option.get("value")
            if not isinstance(value, str) or not value:
                checker.add(f"{at}/value", "must be a non-empty string")
                continue
            checker.max_len(value, MAX_OPTION_VALUE, f"{at}/value")
            if value in values:
                checker.add(f"{at}/value", f"duplicate option value {value!r}")
            values.add(value)
    return values


def check_options_answer(body: object) -> tuple[list[Problem], list[dict[str, Any]]]:
    """An app's answer to ``block_suggestion``: its problems, and the options it offers."""
    checker = _Checker("invalid_options")
    if not isinstance(body, dict):
        checker.add("/", "the answer must be a JSON object with options or option_groups")
        return checker.problems, []
    options_problems(checker, body, "")
    groups = (
        body.get("option_groups") if "option_groups" in body else [{"options": body.get("options")}]
    )
    offered = [
        o
        for g in groups or []
        if isinstance(g, dict)
        for o in (g.get("options") or [])
        if isinstance(o, dict)
    ]
    return checker.problems, offered
