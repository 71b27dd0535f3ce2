"""The Slack renderers (handlers/render*.py, blocks.py, mrkdwn.py), without any server.

Checks, from snapshots built directly: each state shows exactly the buttons that can act (action
ids, styles, confirm dialogs, value = the request id) and none when blocked, dry-run or over;
the plan names DELETED namespaces; text from users and clusters cannot inject mentions, links
or formatting; huge plans (5,000 namespaces) and reports (300 checks) stay inside every Block Kit
limit and the whole-message text budget (Slack's `msg_blocks_too_long`), checked with the Slack
stand-in's own rule checker and by direct counts, and summarise what they cut; block ids change
with every version; fallback texts are present and say what happened; the thread replies and
ephemeral answers mention the right people. A property test feeds arbitrary text everywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slackstub.rules import check_message_content
from snapshots import (
    APPROVER,
    NOW,
    REQUESTER,
    RID,
    S,
    huge_snapshot,
    make_plan,
    make_report,
    make_snap,
    steps_view,
)

from bot.snapshot import ApprovalView, RequestSnapshot
from bot.states import RequestState, StepState
from handlers.blocks import (
    MAX_MESSAGE_TEXT,
    More,
    names_inline,
    pack,
    parse_block_id,
    text_size,
)
from handlers.mrkdwn import code, escape_mrkdwn, truncate_mrkdwn
from handlers.people_and_times import mention, mention_entry
from handlers.render import (
    Rendered,
    render_ack,
    render_final,
    render_refusal,
    render_reminder,
    render_request,
    render_step_failure,
    render_usage_error,
)
from k8s.preflight import CheckResult, Severity

# ---- looking at the result -------------------------------------------------------------------


def all_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from all_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from all_strings(v)


def mrkdwn_strings(value: Any) -> Iterator[str]:
    """The texts Slack parses for mentions and links: mrkdwn objects (plain_text is shown as is)."""
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            yield value["text"]
        for v in value.values():
            yield from mrkdwn_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from mrkdwn_strings(v)


#: The only `<…>` tokens the bot itself writes: user and group mentions from ids, and dates.
OWN_TOKENS = re.compile(
    r"<@[UW][A-Z0-9]{2,}>|<!subteam\^S[A-Z0-9]{2,}>|<!date\^\d+\^\{date_short_pretty\} at "
    r"\{time\}\|\d{4}-\d\d-\d\d \d\d:\d\d UTC>"
)


def assert_no_foreign_tokens(r: Rendered) -> None:
    """Every `<…>` Slack would parse is one the bot meant; nothing else has a raw < or >."""
    for text in [r.text, *mrkdwn_strings(r.blocks)]:
        rest = OWN_TOKENS.sub("", text)
        assert "<" not in rest and ">" not in rest, text


def blob(r: Rendered) -> str:
    """Every string in the message, text and blocks, joined (for "does it say X" checks)."""
    return "\n".join([r.text, *all_strings(r.blocks)])


def buttons(r: Rendered) -> list[dict[str, Any]]:
    return [e for b in r.blocks if b["type"] == "actions" for e in b["elements"]]


def action_ids(r: Rendered) -> list[str]:
    return [b["action_id"] for b in buttons(r)]


def assert_valid(r: Rendered) -> None:
    """No Block Kit rule broken, fatal or not (the stand-in's checker), and a real fallback."""
    problems = check_message_content({"text": r.text, "blocks": r.blocks})
    assert problems == [], [str(p) for p in problems]
    assert r.text.strip() and len(r.text) <= 3000
    json.dumps(r.blocks)  # plain JSON, ready for the Web API


def assert_limits(r: Rendered) -> None:
    """The limits of docs/slack.md §8, counted directly rather than through the checker."""
    assert len(r.blocks) <= 50
    for block in r.blocks:
        assert len(block.get("block_id", "")) <= 255
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
            assert all(len(e["text"]) <= 3000 for e in block["elements"])
        if block["type"] == "actions":
            for e in block["elements"]:
                assert len(e["text"]["text"]) <= 75 and len(e["value"]) <= 2000
                if "confirm" in e:
                    assert len(e["confirm"]["text"]["text"]) <= 300
                    assert len(e["confirm"]["title"]["text"]) <= 100


# ---- buttons per state -----------------------------------------------------------------------


def bound(snap: RequestSnapshot) -> str:
    """A button's value binds the request id, the version and the plan digest shown."""
    digest = snap.plan.digest() if snap.plan is not None else ""
    return f"{RID}:{snap.version}:{digest}"


def test_pending_has_approve_and_reject_bound_to_id_version_and_plan() -> None:
    snap = make_snap(S.PENDING)
    r = render_request(snap, NOW)
    assert_valid(r)
    approve, reject = buttons(r)
    assert snap.plan is not None and bound(snap).count(":") == 2
    assert (approve["action_id"], approve["style"], approve["value"]) == (
        "ksmc_approve",
        "primary",
        bound(snap),
    )
    assert (reject["action_id"], reject["style"], reject["value"]) == (
        "ksmc_reject",
        "danger",
        bound(snap),
    )
    dialog = approve["confirm"]["text"]["text"]
    assert "`member-a`" in dialog and "`host-b`" in dialog
    assert "1 namespace will be DELETED" in dialog
    assert "Approve" in approve["text"]["text"] and "Reject" in reject["text"]["text"]


def test_approve_dialog_says_when_nothing_is_deleted() -> None:
    r = render_request(make_snap(S.PENDING, plan=make_plan(delete=())), NOW)
    assert "No namespace is deleted" in buttons(r)[0]["confirm"]["text"]["text"]
    assert "No namespaces are deleted" in blob(r)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (S.RECEIVED, []),
        (S.PREFLIGHTING, []),
        (S.BLOCKED, []),
        (S.PENDING, ["ksmc_approve", "ksmc_reject"]),
        (S.APPROVED, ["ksmc_cancel"]),
        (S.SCHEDULED, ["ksmc_cancel"]),
        (S.RUNNING, []),
        (S.SUCCEEDED, []),
        (S.FAILED, ["ksmc_retry", "ksmc_rollback", "ksmc_abandon"]),
        (S.REJECTED, []),
        (S.CANCELLED, []),
        (S.EXPIRED, []),
        (S.ABANDONED, []),
    ],
)
def test_each_state_shows_exactly_the_buttons_that_can_act(
    state: RequestState, expected: list[str]
) -> None:
    plan = make_plan()
    snap = make_snap(state, run_at=NOW + timedelta(hours=2) if state is S.SCHEDULED else None)
    if state in {S.RUNNING, S.SUCCEEDED, S.FAILED, S.ABANDONED}:
        done = StepState.FAILED if state in {S.FAILED, S.ABANDONED} else StepState.DONE
        snap = replace(snap, steps=steps_view(plan, [StepState.DONE] * 3 + [done], "boom"))
    if state is S.RECEIVED:
        snap = replace(snap, report=None, plan=None)
    r = render_request(snap, NOW)
    assert_valid(r)
    assert_limits(r)
    assert action_ids(r) == expected
    assert all(b["value"] == bound(snap) for b in buttons(r))


def test_failed_buttons_retry_primary_abandon_danger_with_confirm() -> None:
    plan = make_plan()
    snap = make_snap(
        S.FAILED,
        steps=steps_view(
            plan,
            [StepState.DONE, StepState.FAILED, StepState.PENDING, StepState.PENDING],
            "api said no",
        ),
        error="api said no — on host-a: check the template, then Retry",
    )
    r = render_request(snap, NOW)
    retry, rollback, abandon = buttons(r)
    assert retry["style"] == "primary"
    assert abandon["style"] == "danger"
    assert rollback["text"]["text"] == "Roll back"
    assert "Undo the 2 steps that ran, newest first" in rollback["confirm"]["text"]["text"]
    assert "confirm" in abandon and "nothing is rolled back" in abandon["confirm"]["text"]["text"]
    text = blob(r)
    assert "Failed at step 2 of 4" in text
    assert "api said no" in text
    assert "on host-a: check the template, then Retry" in text  # the step's own hint


def test_failed_preflight_without_plan_offers_abandon_only() -> None:
    snap = make_snap(S.FAILED, plan=None, report=None, error="preflight failed: KeyError: 'x'")
    r = render_request(snap, NOW)
    assert_valid(r)
    assert action_ids(r) == ["ksmc_abandon"]
    assert "preflight failed" in blob(r)
    assert "run the command again" in blob(r)


def test_scheduled_shows_time_and_cancel_with_confirm() -> None:
    run_at = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    snap = make_snap(S.SCHEDULED, run_at=run_at)
    r = render_request(snap, NOW)
    header = r.blocks[0]["text"]["text"]
    assert "scheduled for 2026-12-01 02:00 UTC" in header
    (cancel,) = buttons(r)
    assert cancel["action_id"] == "ksmc_cancel" and cancel["value"] == bound(snap)
    assert "2026-12-01 02:00 UTC" in cancel["confirm"]["text"]["text"]


def test_blocked_has_no_buttons_and_asks_to_fix_and_rerun() -> None:
    blockers = (
        CheckResult("target-role", Severity.BLOCKER, "host-b is not a host cluster", "pick a host"),
        CheckResult("jwt", Severity.WARNING, "jwtSecret differs", "add sync-jwt"),
        CheckResult("ok", Severity.OK, "member member-a is reachable"),
    )
    snap = make_snap(S.BLOCKED, report=make_report(blockers))
    r = render_request(snap, NOW)
    assert_valid(r)
    assert buttons(r) == []
    text = blob(r)
    assert "Fix the blockers above and run the command again" in text
    assert "blocked" in r.blocks[0]["text"]["text"]
    assert "1 blocker" in r.text


def test_preflight_groups_blockers_first_with_remedy_then_warnings_info_passed() -> None:
    results = (
        CheckResult("i", Severity.INFO, "info-msg"),
        CheckResult("ok1", Severity.OK, "passed-one"),
        CheckResult("w", Severity.WARNING, "warning-msg", "warning-fix"),
        CheckResult("b", Severity.BLOCKER, "blocker-msg", "blocker-fix"),
        CheckResult("ok2", Severity.OK, "passed-two"),
    )
    r = render_request(make_snap(S.BLOCKED, report=make_report(results)), NOW)
    text = blob(r)
    order = [text.index(s) for s in ("blocker-msg", "blocker-fix", "warning-msg", "info-msg")]
    assert order == sorted(order)
    passed = [b for b in r.blocks if b["type"] == "context" and "2 checks passed" in str(b)]
    assert passed and "passed-one" in str(passed[0]) and "passed-two" in str(passed[0])
    assert text.index("info-msg") < text.index("2 checks passed")


def test_dry_run_has_no_buttons_and_says_so() -> None:
    r = render_request(make_snap(S.BLOCKED, dry_run=True), NOW)
    assert_valid(r)
    assert buttons(r) == []
    assert "dry run" in r.blocks[0]["text"]["text"]
    assert "Dry run" in blob(r) and "dry run" in r.text
    assert "Fix the blockers" not in blob(r)
    # Even a (theoretical) pending dry run offers nothing to press.
    assert buttons(render_request(make_snap(S.PENDING, dry_run=True), NOW)) == []


def test_terminal_states_say_what_happened_and_when() -> None:
    for state, words in (
        (S.REJECTED, "Rejected"),
        (S.CANCELLED, "Cancelled"),
        (S.EXPIRED, "Expired"),
    ):
        r = render_request(make_snap(state), NOW)
        assert buttons(r) == []
        assert words in blob(r)
        assert "<!date^" in blob(r)
        assert state.value in r.text


# ---- content ---------------------------------------------------------------------------------


def test_header_intro_and_plan_name_everything() -> None:
    approval = ApprovalView(APPROVER, "alice", NOW - timedelta(minutes=2))
    r = render_request(make_snap(S.PENDING, approvals=(approval,)), NOW)
    header = r.blocks[0]
    assert header["type"] == "header"
    assert header["text"]["text"] == "🟡 Migration r7k2m9ab: member-a → host-b · pending approval"
    text = blob(r)
    assert f"Requested by <@{REQUESTER}>" in text
    assert "`/ksmc migrate member-a to host-b keep ns-keep discard ns-doomed`" in text
    assert "1. Step number 1" in text and "4. Step number 4" in text
    assert "`ns-keep`" in text and "`default`" in text
    assert re.search(r"DELETED[^\n]*1 namespace", text)
    assert "`ns-doomed`" in text
    assert "`ws-a`" in text  # workspace created on the target
    assert f"1 of 2 approvals*: <@{APPROVER}>" in text


def test_deleted_namespaces_are_listed_by_name_in_bold_with_warning() -> None:
    doomed = tuple(f"team-{i}" for i in range(40))
    r = render_request(make_snap(plan=make_plan(delete=doomed)), NOW)
    deleted = [b for b in r.blocks if "deleted" in b.get("block_id", "")]
    assert deleted
    head = deleted[0]["text"]["text"]
    assert head.startswith("🚨 *DELETED: 40 namespaces, with everything in them*")
    for name in doomed:
        assert f"`{name}`" in head
    assert "deletes 40 namespaces" in r.text


def test_progress_shows_icons_durations_and_failure_with_hint() -> None:
    plan = make_plan()
    states = [StepState.DONE, StepState.RUNNING, StepState.PENDING, StepState.PENDING]
    r = render_request(make_snap(S.RUNNING, steps=steps_view(plan, states)), NOW)
    text = blob(r)
    assert "✅ 1. Step number 1 · 1m 05s" in text
    assert "🔄 2. Step number 2 · running for" in text
    assert "⏳ 3. Step number 3" in text
    assert "Running* step 2 of 4" in text
    assert buttons(r) == []

    states = [StepState.DONE, StepState.DONE, StepState.FAILED, StepState.PENDING]
    failed = make_snap(S.FAILED, steps=steps_view(plan, states, "webhook timed out"))
    text = blob(render_request(failed, NOW))
    assert "❌ 3. Step number 3" in text
    assert "```webhook timed out```" in text
    assert "press Retry" in text  # the default recovery hint


def test_succeeded_shows_total_duration() -> None:
    plan = make_plan()
    snap = make_snap(S.SUCCEEDED, steps=steps_view(plan, [StepState.DONE] * 4))
    r = render_request(snap, NOW)
    assert "Succeeded* in 4m 05s" in blob(r)
    assert "succeeded" in r.text


def test_fallback_text_is_short_and_informative() -> None:
    r = render_request(make_snap(S.PENDING), NOW)
    assert r.text.startswith("🟡 Migration r7k2m9ab: member-a → host-b — pending approval")
    assert "needs 2 more approvals" in r.text
    assert "deletes 1 namespace" in r.text
    assert "rita" in r.text
    assert "<@" not in r.text  # the request message pings nobody by itself
    assert len(r.text) < 500


# ---- escaping --------------------------------------------------------------------------------

EVIL = "<!channel> <@U999> <https://evil.example|click> *bold* _it_ ~s~ `x` &amp;"


def test_escape_mrkdwn_neutralises_mentions_links_and_formatting() -> None:
    out = escape_mrkdwn(EVIL)
    assert "<" not in out and ">" not in out
    assert "&lt;!channel&gt;" in out and "&lt;@U999&gt;" in out
    assert "&amp;amp;" in out
    for marker in "*_~`":
        assert marker not in out
    assert escape_mrkdwn("kube_system_uid a*b") == "kube_system_uid a*b"  # inside words: kept
    assert escape_mrkdwn("line1\nline2\x07") == "line1⏎line2\\x07"
    assert escape_mrkdwn("line1\r\nline2", multiline=True) == "line1\nline2"
    assert "\u202e" not in escape_mrkdwn("evil\u202etxt")  # bidi override shown, not obeyed
    assert escape_mrkdwn("ping @here and @channel") == "ping @\u2060here and @\u2060channel"


def test_code_spans_keep_text_but_cannot_be_broken_out_of() -> None:
    assert code("ns-1") == "`ns-1`"
    assert code("a`b<@U1>") == "`aˋb&lt;@U1&gt;`"
    assert code("x" * 500, limit=10) == "`xxxxxxxxx…`"
    assert code("") == "‹empty›"


@pytest.mark.parametrize("where", ["namespace", "error", "check", "command", "requester", "title"])
def test_injected_mentions_are_escaped_everywhere(where: str) -> None:
    plan = make_plan(delete=(f"ns-{EVIL}",), keep=(EVIL,))
    snap = make_snap(S.FAILED, plan=plan)
    if where == "error":
        snap = replace(snap, error=EVIL)
    if where == "check":
        report = make_report((CheckResult("b", Severity.BLOCKER, EVIL, EVIL),), plan)
        snap = replace(snap, report=replace(report, cluster_errors={EVIL: EVIL}))
    if where == "command":
        snap = replace(snap, command_text=EVIL)
    if where == "requester":
        snap = replace(snap, requester_id=EVIL, requester_name=EVIL)
    if where == "title":
        snap = replace(snap, member=EVIL, target_host=EVIL)
        snap = replace(
            snap,
            steps=steps_view(
                plan, [StepState.DONE, StepState.FAILED, StepState.PENDING, StepState.PENDING], EVIL
            ),
        )
    for r in (
        render_request(snap, NOW),
        render_final(snap),
        render_step_failure(snap, 1),
        render_reminder(snap, [EVIL, APPROVER]),
    ):
        assert_valid(r)
        assert_no_foreign_tokens(r)
        assert "<@U999>" not in blob(r).replace(r.blocks[0]["text"]["text"], "")
        if r.blocks[0]["type"] == "header":  # plain_text: Slack shows it literally, parses nothing
            assert r.blocks[0]["text"]["type"] == "plain_text"


def test_mentions_only_from_valid_ids() -> None:
    assert mention("U0ABC") == "<@U0ABC>"
    assert mention("W0ABC") == "<@W0ABC>"
    for bad in ("u0abc", "U", "<@U0ABC>", "U0ABC> <!channel", "@here", ""):
        assert mention(bad) is None
    assert mention_entry("S0GROUP") == "<!subteam^S0GROUP>"
    assert mention_entry("<@U0ABC>") == "<@U0ABC>"
    assert mention_entry("<!subteam^S0GROUP|@ops>") == "<!subteam^S0GROUP>"
    assert mention_entry("<!channel>") is None


# ---- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [S.PENDING, S.BLOCKED, S.RUNNING, S.FAILED, S.SUCCEEDED])
def test_huge_plan_and_report_stay_within_every_limit(state: RequestState) -> None:
    snap = huge_snapshot(state)
    if state in {S.RUNNING, S.FAILED, S.SUCCEEDED}:
        n = len(snap.plan.steps) if snap.plan else 0
        states = [StepState.DONE] * n
        if state is not S.SUCCEEDED:
            states[-1] = StepState.FAILED if state is S.FAILED else StepState.RUNNING
        snap = replace(snap, steps=steps_view(snap.plan, states, "x" * 5000))  # type: ignore[arg-type]
    r = render_request(snap, NOW)
    assert_valid(r)
    assert_limits(r)
    assert len(r.text) <= 1500
    assert text_size(r.blocks) <= MAX_MESSAGE_TEXT  # Slack's cumulative msg_blocks_too_long
    text = blob(r)
    kept = re.search(r"`ns-0001`, `ns-0002`.*… and ([\d,]+) more", text)
    assert kept is not None  # kept: summarised, and the numbers add up
    assert len(re.findall(r"`ns-\d{4}`", text)) + int(kept[1].replace(",", "")) == 5000
    shown = len(re.findall(r"`doomed-\d{4}`", text))
    assert shown >= 80  # DELETED: the biggest share of the message …
    deleted = sum(text_size(b) for b in r.blocks if ":deleted" in b["block_id"])
    others = [text_size(b) for b in r.blocks if ":deleted" not in b["block_id"]]
    assert deleted > max(others) or state in {S.FAILED, S.RUNNING}
    # … and says exactly how many it could not show, and where to see them.
    assert f"… and {3000 - shown:,} more DELETED namespaces not shown here" in text
    assert f"/ksmc show {RID}" in text


def test_huge_report_summarises_each_group() -> None:
    r = render_request(huge_snapshot(S.BLOCKED), NOW)
    text = blob(r)
    assert "*Blockers (75)*" in text
    assert re.search(r"… and \d+ more not shown; `/ksmc show r7k2m9ab` lists them all", text)
    assert "75 checks passed" in text
    passed = [b for b in r.blocks if b["type"] == "context" and "passed" in str(b)]
    assert len(passed[0]["elements"]) <= 4


def test_thread_replies_for_huge_requests_stay_within_limits() -> None:
    snap = huge_snapshot(S.FAILED)
    for r in (render_final(snap), render_step_failure(snap, 3), render_reminder(snap, [APPROVER])):
        assert_valid(r)
        assert_limits(r)


def test_pack_fills_sections_under_the_limit_and_counts_what_it_left_out() -> None:
    items = [f"item-{i:05d}" for i in range(10_000)]
    texts = pack(items, max_chunks=3, limit=200, head="HEAD", more=More("and {n} more"))
    assert len(texts) == 3 and all(len(t) <= 200 for t in texts)
    assert texts[0].startswith("HEAD\n")
    shown = sum(t.count("item-") for t in texts)
    assert texts[-1].endswith(f"and {10_000 - shown:,} more")
    assert pack(["a", "b"], max_chunks=1, sep=", ") == ["a, b"]
    assert pack([], max_chunks=2) == []
    assert pack([], max_chunks=2, head="only") == ["only"]
    long = pack(["z" * 5000], max_chunks=1, limit=100)
    assert len(long[0]) <= 100 and long[0].endswith("…")


def test_the_more_note_counts_pluralises_and_keeps_its_tail_as_written() -> None:
    more = More("… and {n} more step{s}", "; `/ksmc show {42}` lists them all")
    assert more.note(1) == "… and 1 more step; `/ksmc show {42}` lists them all"
    assert more.note(1200) == "… and 1,200 more steps; `/ksmc show {42}` lists them all"


def test_names_inline_summarises() -> None:
    names = [f"ns-{i:04d}" for i in range(1, 5001)]
    line = names_inline(names, 200)
    assert line.startswith("`ns-0001`, `ns-0002`") and len(line) <= 200
    assert re.search(r"… and 4,9\d\d more$", line)
    assert names_inline(["a", "b"], 200) == "`a`, `b`"


def test_truncate_never_splits_entities_mentions_or_code() -> None:
    assert truncate_mrkdwn("ab &amp; cd", 6) == "ab …"
    assert truncate_mrkdwn("ab <@U123> cd", 8) == "ab …"
    assert truncate_mrkdwn("ab `code span` cd", 10) == "ab …"
    assert truncate_mrkdwn("short", 10) == "short"


# ---- block ids -------------------------------------------------------------------------------


def test_block_ids_carry_request_state_and_version_and_change_between_versions() -> None:
    v3 = render_request(make_snap(S.PENDING, version=3), NOW)
    v4 = render_request(make_snap(S.PENDING, version=4), NOW)
    ids3 = {b["block_id"] for b in v3.blocks}
    ids4 = {b["block_id"] for b in v4.blocks}
    assert len(ids3) == len(v3.blocks)  # unique within the message
    assert ids3.isdisjoint(ids4)
    for block_id in ids3:
        ref = parse_block_id(block_id)
        assert ref is not None
        assert (ref.request_id, ref.state, ref.version) == (RID, "pending", 3)
    actions = next(b for b in v4.blocks if b["type"] == "actions")
    assert parse_block_id(actions["block_id"]).version == 4  # type: ignore[union-attr]
    approved = render_request(make_snap(S.APPROVED, version=4), NOW)
    assert {b["block_id"] for b in approved.blocks}.isdisjoint(ids4)
    assert parse_block_id("something-else") is None


def test_rendering_is_pure_and_repeatable() -> None:
    snap = make_snap(S.PENDING)
    assert render_request(snap, NOW) == render_request(snap, NOW)


# ---- thread replies and ephemeral answers ----------------------------------------------------


def test_step_failure_mentions_requester_and_approvers_with_error_and_hint() -> None:
    plan = make_plan()
    states = [StepState.DONE, StepState.FAILED, StepState.PENDING, StepState.PENDING]
    approvals = (
        ApprovalView(APPROVER, "alice", NOW),
        ApprovalView("U0APPROVER2", "bob", NOW),
    )
    snap = make_snap(
        S.RUNNING, steps=steps_view(plan, states, "webhook denied"), approvals=approvals
    )
    r = render_step_failure(snap, 1)
    assert_valid(r)
    text = blob(r)
    for who in (REQUESTER, APPROVER, "U0APPROVER2"):
        assert f"<@{who}>" in text and f"<@{who}>" in r.text
    assert "failed at step 2 of 4" in text
    assert "Step number 2" in text
    assert "```webhook denied```" in text
    assert "Retry" in text and "Abandon" in text


def test_final_succeeded_and_failed() -> None:
    plan = make_plan()
    ok = make_snap(
        S.SUCCEEDED,
        steps=steps_view(plan, [StepState.DONE] * 4),
        approvals=(ApprovalView(APPROVER, "alice", NOW),),
    )
    r = render_final(ok)
    assert_valid(r)
    assert "*succeeded* in 4m 05s" in r.text
    assert f"<@{REQUESTER}> <@{APPROVER}>" in r.text
    assert "Kept 1 namespace, deleted 1 namespace" in blob(r)

    states = [StepState.DONE, StepState.DONE, StepState.FAILED, StepState.PENDING]
    bad = make_snap(
        S.FAILED,
        steps=steps_view(plan, states, "conflict"),
        error="conflict — kubectl get clusters, then Retry",
    )
    r = render_final(bad)
    assert_valid(r)
    assert "failed at step 3 of 4" in r.text and "conflict" in r.text
    assert "kubectl get clusters, then Retry" in blob(r)

    r = render_final(make_snap(S.REJECTED))
    assert_valid(r)
    assert "ended: rejected" in r.text


def test_reminder_mentions_approvers_and_warns_about_deletions() -> None:
    r = render_reminder(make_snap(S.PENDING), ["U0APPROVER1", "S0OPS", "not-an-id", "U0APPROVER1"])
    assert_valid(r)
    text = blob(r)
    assert text.count("<@U0APPROVER1>") == 2  # once in the blocks, once in the fallback
    assert "<!subteam^S0OPS>" in text
    assert "not-an-id" not in text
    assert "needs 2 more approvals" in r.text
    assert "DELETES 1 namespace" in text
    assert "2026-12-01 02:00 UTC" in r.text
    assert "Approvers:" in render_reminder(make_snap(S.PENDING), []).text


def test_ephemeral_answers_are_escaped_and_have_fallbacks() -> None:
    r = render_usage_error(f"unknown cluster {EVIL}", "migrate <member> to <host> `x`")
    assert_valid(r)
    assert "<!channel>" not in blob(r)
    assert "```migrate &lt;member&gt; to &lt;host&gt; ˋxˋ```" in blob(r)
    assert "Usage" in r.text

    r = render_refusal("you are not one of the approvers (KSMC_APPROVERS)")
    assert_valid(r)
    assert r.text == "⛔ You are not one of the approvers (KSMC_APPROVERS)"

    r = render_ack(f"Request {RID} received <!here>")
    assert_valid(r)
    assert "<!here>" not in blob(r) and RID in r.text


# ---- any input at all ------------------------------------------------------------------------

ANY_TEXT = st.text(max_size=400)
NAMES = st.lists(st.text(min_size=1, max_size=70), max_size=150)
PROPS = settings(
    derandomize=True,
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@PROPS
@given(
    state=st.sampled_from(list(RequestState)),
    texts=st.fixed_dictionaries(
        {k: ANY_TEXT for k in ("member", "target", "command", "name", "error", "msg", "fix")}
    ),
    keep=NAMES,
    delete=NAMES,
    untouched=NAMES,
    checks=st.integers(0, 300),
    dry_run=st.booleans(),
    required=st.integers(1, 3),
)
def test_no_input_breaks_a_limit_or_injects_a_token(
    state: RequestState,
    texts: dict[str, str],
    keep: list[str],
    delete: list[str],
    untouched: list[str],
    checks: int,
    dry_run: bool,
    required: int,
) -> None:
    """Whatever users and clusters send, every message stays valid and inside the budgets."""
    plan = replace(
        make_plan(tuple(keep), tuple(delete), tuple(untouched)),
        create_workspaces=tuple(keep[:50]),
        extend_workspaces=tuple(delete[:50]),
        old_host=texts["target"] or None,
    )
    severities = list(Severity)
    results = tuple(
        CheckResult(f"c{i}", severities[i % 4], texts["msg"] or "m", texts["fix"])
        for i in range(checks)
    )
    report = replace(make_report(results, plan), cluster_errors={texts["name"]: texts["error"]})
    snap = make_snap(
        state,
        member=texts["member"],
        target_host=texts["target"],
        command_text=texts["command"],
        requester_name=texts["name"],
        error=texts["error"] or None,
        plan=plan,
        report=report,
        dry_run=dry_run,
        required_approvals=required,
        approvals=(ApprovalView(APPROVER, texts["name"], NOW),),
        steps=steps_view(
            plan,
            [StepState.DONE, StepState.FAILED, StepState.PENDING, StepState.PENDING],
            texts["error"],
        ),
    )
    for r in (
        render_request(snap, NOW),
        render_final(snap),
        render_step_failure(snap, 1),
        render_reminder(snap, [texts["name"], APPROVER]),
        render_usage_error(texts["msg"], texts["fix"]),
        render_refusal(texts["msg"]),
        render_ack(texts["msg"]),
    ):
        assert_valid(r)
        assert_limits(r)
        assert_no_foreign_tokens(r)
        assert text_size(r.blocks) <= MAX_MESSAGE_TEXT
