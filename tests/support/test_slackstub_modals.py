"""Proves the Slack stand-in runs modals as Slack does (tests/support/slackstub/modals.py,
view_rules.py), through the unpatched `slack_sdk.WebClient`: a trigger id opens one view, once,
within 3 s; views at Slack's limits pass and one over fails with `invalid_arguments` and a
recorded violation; `views.update` keeps what was entered in unchanged inputs and refuses a stale
hash; the user can pick only offered options and cannot send a form with a required field
empty; and the app's answers (options, `response_action`) are held to Slack's rules and 3 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slackstub import SlackStub
from slackstub.modals import IncompleteForm

USER = "U0ALICE"


@pytest.fixture
def stub() -> Iterator[SlackStub]:
    with SlackStub() as s:
        yield s


@pytest.fixture
def client(stub: SlackStub) -> WebClient:
    return WebClient(token="xoxb-test", base_url=stub.api_url)


def modal(title: str = "New migration", blocks: int = 1, **extra: Any) -> dict[str, Any]:
    inputs = [
        {
            "type": "input",
            "block_id": f"b{i}",
            "label": {"type": "plain_text", "text": "Pick"},
            "element": {
                "type": "static_select",
                "action_id": f"a{i}",
                "options": [
                    {"text": {"type": "plain_text", "text": v}, "value": v} for v in ("x", "y")
                ],
            },
        }
        for i in range(blocks)
    ]
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Request"},
        "blocks": inputs,
        **extra,
    }


def error_of(call: Any) -> str:
    with pytest.raises(SlackApiError) as failure:
        call()
    return str(failure.value.response["error"])


def test_a_trigger_opens_one_view_once_within_three_seconds(
    stub: SlackStub, client: WebClient
) -> None:
    trigger = stub.modals.trigger(USER)
    opened = client.views_open(trigger_id=trigger, view=modal())
    assert opened["view"]["id"] and opened["view"]["hash"]
    assert error_of(lambda: client.views_open(trigger_id=trigger, view=modal())) == (
        "exchanged_trigger_id"
    )
    late = stub.modals.trigger(USER, age=3.1)
    assert error_of(lambda: client.views_open(trigger_id=late, view=modal())) == (
        "expired_trigger_id"
    )
    assert error_of(lambda: client.views_open(trigger_id="1.2.abc", view=modal())) == (
        "invalid_arguments"
    )


@pytest.mark.parametrize(
    ("view", "pointer"),
    [
        (modal(title="x" * 25), "/view/title/text"),
        (modal(blocks=101), "/view/blocks"),
        (modal(private_metadata="m" * 3001), "/view/private_metadata"),
        (modal(callback_id="c" * 256), "/view/callback_id"),
        ({**modal(), "submit": None}, "/view/submit"),
        (modal(close={"type": "plain_text", "text": "c" * 25}), "/view/close/text"),
    ],
    ids=["title", "blocks", "metadata", "callback", "no submit", "close"],
)
def test_one_over_a_view_limit_fails(
    stub: SlackStub, client: WebClient, view: dict[str, Any], pointer: str
) -> None:
    assert error_of(lambda: client.views_open(trigger_id=stub.modals.trigger(USER), view=view)) == (
        "invalid_arguments"
    )
    assert any(pointer in v for v in stub.violations)


def test_at_the_limits_a_view_passes(stub: SlackStub, client: WebClient) -> None:
    view = modal(title="x" * 24, blocks=100, private_metadata="m" * 3000, callback_id="c" * 255)
    client.views_open(trigger_id=stub.modals.trigger(USER), view=view)
    assert stub.violations == []


def test_update_keeps_entries_refuses_stale_hashes_and_only_offered_values_count(
    stub: SlackStub, client: WebClient
) -> None:
    opened = client.views_open(trigger_id=stub.modals.trigger(USER), view=modal(blocks=2))["view"]
    with pytest.raises(IncompleteForm):
        stub.modals.submission(opened["id"])  # required fields empty: Slack does not send it
    with pytest.raises(IncompleteForm):
        stub.modals.choose(opened["id"], "b0", "z")  # not an option of the select
    stub.modals.choose(opened["id"], "b0", "y")
    stub.modals.choose(opened["id"], "b1", "x")
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal(blocks=2))
    assert updated["view"]["state"]["values"]["b0"]["a0"]["selected_option"]["value"] == "y"
    assert error_of(
        lambda: client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal())
    ) == ("hash_conflict")
    assert stub.modals.submission(opened["id"])["view"]["state"]["values"]["b1"]


def test_the_apps_answers_are_held_to_slacks_rules(stub: SlackStub, client: WebClient) -> None:
    opened = client.views_open(trigger_id=stub.modals.trigger(USER), view=modal())["view"]
    many = {
        "options": [
            {"text": {"type": "plain_text", "text": str(i)}, "value": str(i)} for i in range(101)
        ]
    }
    assert stub.modals.options_answered(opened["id"], "a0", 200, many, 0.1) == []
    assert stub.modals.options_answered(opened["id"], "a0", 200, {"options": []}, 3.2) == []
    stub.modals.submission_answered(
        opened["id"], 200, {"response_action": "errors", "errors": {"nope": "x"}}, 0.1
    )
    stub.modals.submission_answered(
        opened["id"], 200, {"response_action": "update", "view": modal(title="y" * 30)}, 0.1
    )
    found = "\n".join(stub.violations)
    assert "at most 100 options" in found
    assert "answered in 3.2 s" in found
    assert "'nope', not an input block" in found
    assert "/view/title/text" in found
