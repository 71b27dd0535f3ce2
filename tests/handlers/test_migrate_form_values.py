"""The migration form as pure values (handlers/migrate_form.py, handlers/migrate_submission.py),
no servers: every view passes the Slack stand-in's modal rules whatever the fleet looks like
(long names, more members than a static select holds), options stay within Slack's limits, and
any state a submission can carry either becomes command text the grammar reads back to the
same command or yields errors that name input blocks of the form — never anything else.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slackstub.view_rules import check_modal_view, check_options_answer

from handlers.grammar import parse
from handlers.migrate_form import (
    AT,
    CHANNEL,
    DISCARD,
    FLAGS,
    HOST,
    INTO,
    KEEP,
    MEMBER,
    FleetChoices,
    FormMeta,
    action_id,
    form_view,
    loading_view,
    message_view,
    options_for,
)
from handlers.migrate_submission import Submission, read_submission

NOW = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
CHOICES = FleetChoices(
    members={"member-a": "host-a", "member-b": None},
    hosts=("host-a", "host-b"),
    namespaces={"member-a": ("ns1", "ns2", "ns3", "scratch"), "member-b": ("app",)},
)
KNOWN = ("host-a", "host-b", "member-a", "member-b")


def test_views_pass_slacks_modal_rules_for_any_fleet_shape() -> None:
    long = "m" * 63
    big = FleetChoices(
        members={f"{long[:58]}-{i:04d}": "h" * 63 for i in range(150)},  # external select
        hosts=tuple(f"host-{i}" for i in range(3)),
        unreadable=frozenset(f"down-{i}" for i in range(40)),
    )
    for view in (
        form_view(CHOICES, FormMeta(channel="C1")),
        form_view(CHOICES, FormMeta(member="member-a"), ("C1",)),
        form_view(big, FormMeta(channel="C1", member=f"{long[:58]}-0001")),
        form_view(FleetChoices(), FormMeta()),
        loading_view(FormMeta(channel="C1")),
        message_view("⛔ " + "x" * 2900, FormMeta(channel="C" * 40, member=long)),
    ):
        assert check_modal_view(view) == []
    assert form_view(big, FormMeta())["blocks"][2]["element"]["type"] == "external_select"


def test_options_stay_within_slacks_limits_and_put_prefix_matches_first() -> None:
    names = [f"team-{i:04d}" for i in range(5000)] + ["x-team-0001"]
    for typed in ("", "team", "0001", "nothing-matches"):
        answer = options_for(names, typed)
        problems, offered = check_options_answer(answer)
        assert problems == []
        assert len(offered) <= 100
    offered = check_options_answer(options_for(names, "team-0001"))[1]
    assert [o["value"] for o in offered] == ["team-0001", "x-team-0001"]
    label = options_for(names, "team")["option_groups"][0]["label"]["text"]
    assert label == "100 of 5,001 matches: type more to narrow"


def _option(value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": value}, "value": value}


def _values(**chosen: Any) -> dict[str, Any]:
    """A view's state.values with what was chosen in each block, as Slack sends it."""
    kinds = {
        MEMBER: ("static_select", "selected_option"),
        HOST: ("static_select", "selected_option"),
        KEEP: ("multi_external_select", "selected_options"),
        DISCARD: ("multi_external_select", "selected_options"),
        FLAGS: ("checkboxes", "selected_options"),
        INTO: ("plain_text_input", "value"),
        AT: ("datetimepicker", "selected_date_time"),
        CHANNEL: ("conversations_select", "selected_conversation"),
    }
    values: dict[str, Any] = {}
    for block, value in chosen.items():
        kind, key = kinds[block]
        if key == "selected_option":
            value = _option(value)
        elif key == "selected_options":
            value = [_option(v) for v in value]
        values[block] = {action_id(block): {"type": kind, key: value}}
    return values


NAMES = st.sampled_from(["ns1", "ns2", "ns3", "scratch", "app", "Bad_Name", "at", ""])
#: Mostly what the form offers, sometimes what it does not (stale, forged or empty).
STATES = st.fixed_dictionaries(
    {
        MEMBER: st.sampled_from(["member-a", "member-a", "member-b", "host-b", "nope", ""]),
        HOST: st.sampled_from(["host-b", "host-b", "host-a", "member-a", "nope", "-"]),
    },
    optional={
        KEEP: st.lists(NAMES, max_size=3),
        DISCARD: st.lists(NAMES, max_size=2),
        FLAGS: st.lists(st.sampled_from(["keep-all", "sync-jwt", "dry-run", "bogus"]), max_size=3),
        INTO: st.sampled_from(["", "team-z", "Team Z", "into", "x" * 64, " team-y "]),
        AT: st.sampled_from([0, -1, 60, 3600, 86400 * 29, 86400 * 31]).map(
            lambda d: int((NOW + timedelta(seconds=d)).timestamp())
        ),
        CHANNEL: st.sampled_from(["C0OPS", ""]),
    },
)


@settings(max_examples=400, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    chosen=STATES,
    meta=st.sampled_from([FormMeta(channel="C0OPS"), FormMeta()]),
    choices=st.sampled_from([CHOICES, None]),
)
def test_a_submission_is_the_grammars_command_or_errors_on_its_fields(
    chosen: dict[str, Any], meta: FormMeta, choices: FleetChoices | None
) -> None:
    result = read_submission(_values(**chosen), meta, choices, known_clusters=KNOWN, now=NOW)
    if isinstance(result, Submission):
        assert parse(result.text, known_clusters=KNOWN, now=NOW) == result.command
        assert result.channel == (meta.channel or chosen.get(CHANNEL))
        assert result.command.member != result.command.target_host
        if choices is not None:
            assert choices.members[result.command.member] != result.command.target_host
            assert result.command.target_host in choices.hosts
        return
    assert result, "a refusal names at least one field"
    assert set(result) <= {MEMBER, HOST, KEEP, DISCARD, INTO, AT, CHANNEL}
    assert all(isinstance(m, str) and 0 < len(m) <= 2000 for m in result.values())


def test_a_worked_submission_renders_every_clause() -> None:
    at = int((NOW + timedelta(hours=5, seconds=30)).timestamp())
    values = _values(
        **{
            MEMBER: "member-a",
            HOST: "host-b",
            KEEP: ["ns1", "ns2"],
            DISCARD: ["scratch"],
            INTO: "team-z",
            AT: at,
            FLAGS: ["sync-jwt", "dry-run"],
        }
    )
    result = read_submission(
        values, FormMeta(channel="C0OPS"), CHOICES, known_clusters=KNOWN, now=NOW
    )
    assert isinstance(result, Submission)
    assert result.text == (
        "migrate member-a to host-b keep ns1,ns2 discard scratch into team-z sync-jwt "
        "at 2026-12-03T12:00Z dry-run"
    )
