"""Examples of the `/ksmc` command language: what each command parses to and what mistakes say.

Every error case checks that the message names the problem and that `str(error)` shows the
right form of the command concerned; `at` times are checked against a fixed `now`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from handlers.command_words import RESERVED, UsageError, is_valid_name, usage
from handlers.grammar import (
    GRAMMAR,
    CancelCommand,
    ClustersCommand,
    Command,
    ComponentsCommand,
    HelpCommand,
    HistoryCommand,
    MigrateCommand,
    ProjectsCommand,
    ShowCommand,
    StatusCommand,
    WorkspacesCommand,
    parse,
    render,
)

NOW = datetime(2026, 11, 25, 16, 48, 30, tzinfo=UTC)
KNOWN = ("member-a", "member-b", "host-b", "host-c")
MIGRATE_USAGE = usage("migrate")


def p(text: str, known_clusters: tuple[str, ...] = KNOWN, now: datetime = NOW) -> Command:
    return parse(text, known_clusters=known_clusters, now=now)


def err(text: str) -> UsageError:
    with pytest.raises(UsageError) as info:
        p(text)
    return info.value


def mig(**fields: Any) -> MigrateCommand:
    return replace(MigrateCommand("member-a", "host-b"), **fields)


def at(text: str, now: datetime = NOW) -> datetime | None:
    cmd = p(f"migrate member-a to host-b at {text}", now=now)
    assert isinstance(cmd, MigrateCommand)
    return cmd.at


# --- what each command parses to -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("migrate member-a to host-b", mig()),
        ("migrate member-a to host-b keep ns1,ns2", mig(keep=("ns1", "ns2"))),
        ("migrate member-a to host-b keep all", mig(keep_all=True)),
        ("migrate member-a to host-b discard scratch", mig(discard=("scratch",))),
        ("migrate member-a to host-b into team-ws", mig(into="team-ws")),
        ("migrate member-a to host-b sync-jwt dry-run", mig(sync_jwt=True, dry_run=True)),
        (
            "migrate member-a to host-b keep app-1,app-2 discard scratch into team-ws sync-jwt "
            "at 2026-12-01T02:00Z dry-run",
            mig(
                keep=("app-1", "app-2"),
                discard=("scratch",),
                into="team-ws",
                sync_jwt=True,
                at=datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
                dry_run=True,
            ),
        ),
        # clauses come in any order
        (
            "migrate member-a to host-b dry-run into ws discard x keep y",
            mig(keep=("y",), discard=("x",), into="ws", dry_run=True),
        ),
        ("status", StatusCommand()),
        ("status member-a", StatusCommand("member-a")),
        ("status public", StatusCommand(None, public=True)),
        ("status member-a public", StatusCommand("member-a", public=True)),
        ("clusters", ClustersCommand()),
        ("clusters public", ClustersCommand(public=True)),
        ("workspaces", WorkspacesCommand()),
        ("workspaces host-b public", WorkspacesCommand("host-b", public=True)),
        ("projects member-a", ProjectsCommand("member-a")),
        ("projects member-a team-ws", ProjectsCommand("member-a", "team-ws")),
        ("projects member-a team-ws public", ProjectsCommand("member-a", "team-ws", True)),
        ("projects member-a public", ProjectsCommand("member-a", None, True)),
        ("components member-a", ComponentsCommand("member-a")),
        ("components member-a vs host-b", ComponentsCommand("member-a", "host-b")),
        ("components member-a vs host-b public", ComponentsCommand("member-a", "host-b", True)),
        ("history", HistoryCommand(10)),
        ("history 25", HistoryCommand(25)),
        ("history 1", HistoryCommand(1)),
        ("history 100 public", HistoryCommand(100, public=True)),
        ("history 007", HistoryCommand(7)),
        ("show r7k2m9", ShowCommand("r7k2m9")),
        ("show r7k2m9 public", ShowCommand("r7k2m9", public=True)),
        ("show public", ShowCommand("public")),  # the only word is the id it needs
        ("cancel r7k2m9", CancelCommand("r7k2m9")),
        ("cancel public", CancelCommand("public")),
        ("help", HelpCommand()),
        ("help migrate", HelpCommand("migrate")),
        ("help public", HelpCommand(None, public=True)),
        ("help cancel public", HelpCommand("cancel", public=True)),
        ("", HelpCommand()),  # a bare /ksmc asks for help
        ("   \t\n ", HelpCommand()),
    ],
)
def test_parses(text: str, expected: Command) -> None:
    assert p(text) == expected
    assert p(render(expected)) == expected


def test_clusters_are_not_checked_without_a_known_list() -> None:
    assert parse("migrate anything to elsewhere") == MigrateCommand("anything", "elsewhere")
    assert parse("status whatever", known_clusters=[]) == StatusCommand("whatever")


def test_known_clusters_may_be_any_collection() -> None:
    assert parse("status member-a", known_clusters={"member-a"}) == StatusCommand("member-a")


def test_every_grammar_example_parses_and_round_trips() -> None:
    for spec in GRAMMAR:
        assert spec.examples, spec.name
        for example in spec.examples:
            cmd = p(example)
            assert render(cmd).split()[0] == spec.name
            assert p(render(cmd)) == cmd


def test_grammar_covers_every_command_once() -> None:
    names = [spec.name for spec in GRAMMAR]
    assert names == [
        "migrate",
        "status",
        "clusters",
        "workspaces",
        "projects",
        "components",
        "history",
        "show",
        "cancel",
        "help",
    ]
    assert all(usage(spec.name) == spec.synopsis for spec in GRAMMAR)
    assert usage() == "\n".join(spec.synopsis for spec in GRAMMAR)
    with pytest.raises(KeyError):
        usage("nope")


def test_render_is_canonical() -> None:
    cmd = p("MIGRATE member-a TO host-b  KEEP ns1 , ns2  AT 2026-12-01 03:00 Europe/Berlin DRY-RUN")
    assert render(cmd) == "migrate member-a to host-b keep ns1,ns2 at 2026-12-01T02:00Z dry-run"
    assert render(HistoryCommand()) == "history 10"
    assert render(ComponentsCommand("member-a", "host-b", True)) == (
        "components member-a vs host-b public"
    )


# --- case and spacing ------------------------------------------------------------------------


def test_keywords_are_case_insensitive() -> None:
    text = "MiGrAtE member-a TO host-b KEEP ns1 DISCARD ns2 INTO ws SYNC-JWT AT 02:00 DRY-RUN"
    assert p(text) == p(text.lower())
    assert p("Status PUBLIC") == StatusCommand(None, True)
    assert p("HELP MIGRATE") == HelpCommand("migrate")
    assert p("migrate member-a to host-b Keep ALL") == mig(keep_all=True)


def test_request_ids_are_lowercased() -> None:
    assert p("SHOW R7K2M9") == ShowCommand("r7k2m9")
    assert p("cancel AB-12") == CancelCommand("ab-12")


def test_names_are_not_lowercased() -> None:
    e = err("migrate member-a to host-b keep Ns1")
    assert '"Ns1" is not a valid namespace name' in e.message
    e = err("status Member-A")
    assert '"Member-A" is not a valid cluster name' in e.message


def test_non_ascii_lookalikes_are_not_keywords() -> None:
    # U+212A KELVIN SIGN lowercases to "k"; it must not spell the keyword "keep".
    e = err("migrate member-a to host-b \u212aeep ns1")
    assert "unexpected" in e.message


@pytest.mark.parametrize(
    "keep",
    ["ns1,ns2", "ns1, ns2", "ns1 ,ns2", "ns1 , ns2", "ns1 ns2", "ns1,  ns2", "ns1 ns2 ns1"],
)
def test_keep_lists_accept_commas_and_spaces(keep: str) -> None:
    assert p(f"migrate member-a to host-b keep {keep} dry-run") == mig(
        keep=("ns1", "ns2"), dry_run=True
    )


def test_whitespace_is_flexible() -> None:
    text = "  migrate\tmember-a \n to   host-b\u00a0keep ns1,ns2  "
    assert p(text) == mig(keep=("ns1", "ns2"))


def test_space_separated_lists_run_to_the_next_keyword() -> None:
    # documented consequence: any valid name after the list is another list entry
    cmd = p("migrate member-a to host-b keep ns1 ns2 ns3 discard ns4 ns5 into ws")
    assert cmd == mig(keep=("ns1", "ns2", "ns3"), discard=("ns4", "ns5"), into="ws")


@pytest.mark.parametrize(
    "keep", ["ns1,ns2,", "ns1,,ns2", ",ns1", "ns1 , , ns2", "ns1, discard ns2", "ns1 ,"]
)
def test_empty_names_in_a_list_are_errors(keep: str) -> None:
    e = err(f"migrate member-a to host-b keep {keep}")
    assert "empty name in the keep list" in e.message
    assert MIGRATE_USAGE in str(e)


# --- errors ----------------------------------------------------------------------------------


def test_unknown_command_suggests_and_lists_commands() -> None:
    e = err("migrat member-a to host-b")
    assert e.message == '"migrat" is not a command — did you mean migrate?'
    assert e.usage == usage()
    for spec in GRAMMAR:
        assert spec.synopsis in str(e)
    assert err("frobnicate").message == '"frobnicate" is not a command'
    assert "did you mean" in err("stauts").message


def test_help_on_an_unknown_topic() -> None:
    e = err("help migrat")
    assert e.message == '"migrat" is not a command — did you mean migrate?'
    assert e.usage == usage()


@pytest.mark.parametrize(
    ("text", "problem", "command"),
    [
        (
            "migrate membr-a to host-b",
            'unknown cluster "membr-a" — did you mean member-a?',
            "migrate",
        ),
        (
            "migrate member-a to hots-b",
            'unknown cluster "hots-b" — did you mean host-b?',
            "migrate",
        ),
        ("status membr-a", 'unknown cluster "membr-a" — did you mean member-a?', "status"),
        ("workspaces zzz", 'unknown cluster "zzz"; known clusters: host-b, host-c', "workspaces"),
        ("projects membr-a", "unknown cluster", "projects"),
        ("components member-a vs hostb", "did you mean host-b?", "components"),
    ],
)
def test_unknown_clusters(text: str, problem: str, command: str) -> None:
    e = err(text)
    assert problem in e.message
    assert e.usage == usage(command)
    assert usage(command) in str(e)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("migrate", "migrate needs the member cluster to move"),
        ("migrate member-a", 'missing "to <host>" after "migrate member-a"'),
        ("migrate member-a host-b", 'expected "to <host>" after "migrate member-a", got "host-b"'),
        ("migrate member-a to", '"to" needs the host cluster'),
        ("migrate member-a to keep ns1", '"to" needs the host cluster'),
        ("migrate member-a to member-a", "cannot migrate member-a onto itself"),
        ("migrate member-a to host-b keep ns3 discard ns3", "keep and discard both name ns3"),
        ("migrate member-a to host-b keep a,b,c discard c,b", "keep and discard both name b, c"),
        ("migrate member-a to host-b keep all discard x", "keep all and discard contradict"),
        ("migrate member-a to host-b keep all ns1", "keep all cannot be combined with a list"),
        ("migrate member-a to host-b keep all,ns1", "keep all cannot be combined with a list"),
        ("migrate member-a to host-b keep ns1,all", "keep all cannot be combined with a list"),
        ("migrate member-a to host-b keep ns1 keep all", "keep all cannot be combined with a list"),
        ("migrate member-a to host-b keep all keep ns1", "keep all cannot be combined with a list"),
        ("migrate member-a to host-b keep ns1 keep ns2", "keep is given twice"),
        ("migrate member-a to host-b keep all keep all", "keep is given twice"),
        ("migrate member-a to host-b discard a discard b", "discard is given twice"),
        ("migrate member-a to host-b at 02:00 at 03:00", "at is given twice"),
        ("migrate member-a to host-b into a into b", "into is given twice"),
        ("migrate member-a to host-b dry-run dry-run", "dry-run is given twice"),
        ("migrate member-a to host-b sync-jwt SYNC-JWT", "sync-jwt is given twice"),
        (
            "migrate member-a to host-b please",
            'unexpected "please" after "migrate member-a to host-b"',
        ),
        ("migrate member-a to host-b dryrun", 'unexpected "dryrun"'),
        ("migrate member-a to host-b dryrun", "did you mean dry-run?"),
        ("migrate member-a to host-b keep ns1 dry-run now", 'unexpected "now" after'),
        ("migrate member-a to host-b to host-c", 'unexpected "to"'),
        ("migrate member-a to host-b public", '"public" does not apply to migrate'),
        ("migrate member-a to host-b keep", "keep needs at least one namespace name (or all)"),
        ("migrate member-a to host-b keep dry-run", "keep needs at least one namespace name"),
        ("migrate member-a to host-b discard", "discard needs at least one namespace name"),
        ("migrate member-a to host-b discard all", "discard all is not supported"),
        ("migrate member-a to host-b into", "into needs a workspace name"),
        ("migrate member-a to host-b into Team", '"Team" is not a valid workspace name'),
        ("migrate member-a to host-b keep vs", '"vs" is a keyword'),
        ("migrate member-a to host-b keep Ns_1", '"Ns_1" is not a valid namespace name'),
        ("migrate member-a to host-b keep -ns", "starting and ending with a letter or digit"),
        ("migrate member-a to host-b keep " + "a" * 64, "at most 63 characters"),
        ("migrate member-a, to host-b", 'expected "to <host>" after "migrate member-a", got ","'),
        ("migrate member-a to host-b at", "at needs a time"),
    ],
)
def test_migrate_errors(text: str, problem: str) -> None:
    e = err(text)
    assert problem in e.message
    assert e.usage == MIGRATE_USAGE
    assert str(e) == f"{e.message}\nusage: {MIGRATE_USAGE}"


def test_name_rule_is_spelled_out() -> None:
    e = err("migrate member-a to host-b keep Ns_1")
    assert e.message == (
        "\"Ns_1\" is not a valid namespace name (lowercase letters, digits and '-', at most 63 "
        "characters, starting and ending with a letter or digit)"
    )


@pytest.mark.parametrize(
    ("text", "problem", "command"),
    [
        ("status host-b b", 'unexpected "b" after "status host-b"', "status"),
        ("status public public", '"public" goes once, at the very end', "status"),
        ("status public member-a", '"public" goes once, at the very end', "status"),
        ("status member-a pubic", "did you mean public?", "status"),
        ("status member-a,host-b", 'unexpected "," after "status member-a"', "status"),
        ("status to", 'unexpected "to" after "status"', "status"),
        ("clusters member-a", 'unexpected "member-a" after "clusters"', "clusters"),
        ("workspaces a_b", '"a_b" is not a valid cluster name', "workspaces"),
        ("projects", "projects needs a cluster name", "projects"),
        ("projects public", "projects needs a cluster name", "projects"),
        ("projects member-a Team", '"Team" is not a valid workspace name', "projects"),
        ("projects member-a ws extra", 'unexpected "extra"', "projects"),
        ("components", "components needs a cluster name", "components"),
        ("components member-a vs", '"vs" needs a second cluster', "components"),
        (
            "components member-a host-b",
            'unexpected "host-b" after "components member-a"',
            "components",
        ),
        ("components member-a vs member-a", "comparing member-a with itself", "components"),
        ("components member-a vs host-b vs host-c", 'unexpected "vs"', "components"),
        ("history 0", 'history shows 1 to 100 requests, not "0"', "history"),
        ("history 101", "history shows 1 to 100 requests", "history"),
        ("history 99999999999999999999", "history shows 1 to 100 requests", "history"),
        ("history -5", '"-5" is not a number', "history"),
        ("history ten", '"ten" is not a number', "history"),
        ("history ١٢", "is not a number", "history"),  # Arabic-Indic digits
        ("history 5 6", 'unexpected "6"', "history"),
        ("show", "show needs a request id, like r7k2m9", "show"),
        ("show r_1", '"r_1" is not a request id', "show"),
        ("show " + "a" * 33, "is not a request id (1-32 letters", "show"),
        ("show r1 r2", 'unexpected "r2"', "show"),
        ("cancel", "cancel needs a request id", "cancel"),
        ("cancel r1 public", '"public" does not apply to cancel', "cancel"),
        ("cancel r1 now", 'unexpected "now" after "cancel r1"', "cancel"),
        ("help migrate status", 'unexpected "status" after "help migrate"', "help"),
    ],
)
def test_query_errors(text: str, problem: str, command: str) -> None:
    e = err(text)
    assert problem in e.message
    assert e.usage == usage(command)
    assert str(e).endswith(f"usage: {usage(command)}")


def test_usage_error_is_a_value_error_with_parts() -> None:
    e = err("history 0")
    assert isinstance(e, ValueError)
    assert e.args == (e.message, e.usage)


def test_hostile_text_is_quoted_safely_in_messages() -> None:
    e = err("status \x00\x1b[31m")
    assert "\x00" not in str(e) and "\x1b" not in str(e)
    assert '"\\x00\\x1b[31m" is not a valid cluster name' in e.message
    e = err("frob" + "x" * 10_000)
    assert len(e.message) < 200


@pytest.mark.parametrize("name", sorted(RESERVED))
def test_keywords_are_never_names(name: str) -> None:
    assert is_valid_name(name)  # valid labels, but the grammar reserves them
    with pytest.raises(UsageError):
        p(f"migrate {name} to host-b", known_clusters=())
    with pytest.raises(UsageError):
        p(f"projects member-a {name} public")


def test_is_valid_name() -> None:
    assert is_valid_name("a")
    assert is_valid_name("ns-1")
    assert is_valid_name("0abc")
    assert is_valid_name("a" * 63)
    for bad in ["", "a" * 64, "-a", "a-", "A", "a_b", "a.b", "é", "a\n", "١"]:
        assert not is_valid_name(bad), bad


# --- at <time> -------------------------------------------------------------------------------


def test_hhmm_later_today() -> None:
    assert at("16:49") == datetime(2026, 11, 25, 16, 49, tzinfo=UTC)
    assert at("23:59") == datetime(2026, 11, 25, 23, 59, tzinfo=UTC)


def test_hhmm_already_passed_is_tomorrow() -> None:
    assert at("02:00") == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    assert at("2:00") == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    # the current minute has begun, so it is not "still ahead"
    assert at("16:48") == datetime(2026, 11, 26, 16, 48, tzinfo=UTC)


def test_hhmm_rolls_over_month_and_year() -> None:
    new_year_eve = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert at("00:15", now=new_year_eve) == datetime(2027, 1, 1, 0, 15, tzinfo=UTC)


def test_hhmm_in_a_zone() -> None:
    # 02:00 in Berlin (UTC+1 in November) is 01:00 UTC; the next one is tomorrow's
    assert at("02:00 Europe/Berlin") == datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    assert at("02:00 europe/berlin") == datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    # 18:00 in Berlin is 17:00 UTC, still ahead today
    assert at("18:00 Europe/Berlin") == datetime(2026, 11, 25, 17, 0, tzinfo=UTC)
    # "today" is the zone's date: in Tokyo it is already 2026-11-26 01:48
    assert at("09:00 Asia/Tokyo") == datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
    assert at("02:00 UTC") == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    assert at("02:00 utc") == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def test_time_in_a_dst_gap_uses_the_offset_before_the_change() -> None:
    # Berlin skips 02:00-03:00 on 2026-03-29; 02:30 is read with the winter offset (+01:00)
    now = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert at("02:30 Europe/Berlin", now=now) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01T02:00Z", datetime(2026, 12, 1, 2, 0, tzinfo=UTC)),
        ("2026-12-01t02:00z", datetime(2026, 12, 1, 2, 0, tzinfo=UTC)),
        ("2026-12-01T02:00+01:00", datetime(2026, 12, 1, 1, 0, tzinfo=UTC)),
        ("2026-12-01T02:00-0530", datetime(2026, 12, 1, 7, 30, tzinfo=UTC)),
        ("2026-12-01T02:00", datetime(2026, 12, 1, 2, 0, tzinfo=UTC)),
        ("2026-12-01T02:00:59.9Z", datetime(2026, 12, 1, 2, 0, tzinfo=UTC)),
        ("2026-12-01 02:00", datetime(2026, 12, 1, 2, 0, tzinfo=UTC)),
        ("2026-12-01 02:00 Europe/Berlin", datetime(2026, 12, 1, 1, 0, tzinfo=UTC)),
        ("2026-12-01T02:00 America/New_York", datetime(2026, 12, 1, 7, 0, tzinfo=UTC)),
    ],
)
def test_absolute_times(text: str, expected: datetime) -> None:
    when = at(text)
    assert when == expected
    assert when is not None and when.tzinfo is UTC and when.second == 0


def test_scheduling_window_edges() -> None:
    start = datetime(2026, 11, 25, 16, 49, tzinfo=UTC)
    assert at("2026-11-25T16:49Z") == start
    limit = NOW + timedelta(days=30)  # 2026-12-25 16:48:30
    assert at("2026-12-25T16:48Z") == limit.replace(second=0)
    e = err("migrate member-a to host-b at 2026-12-25T16:49Z")
    assert "is more than 30 days ahead; schedule at most 30 days out" in e.message
    assert MIGRATE_USAGE in str(e)


@pytest.mark.parametrize(
    ("time_text", "problem"),
    [
        (
            "2026-11-25T16:48Z",
            "2026-11-25 16:48 UTC is in the past (it is now 2026-11-25 16:48 UTC)",
        ),
        ("2025-01-01T00:00Z", "is in the past"),
        ("2027-01-01T00:00Z", "2027-01-01 00:00 UTC is more than 30 days ahead"),
        ("2026-11-25T17:48+01:00", "is in the past"),
        ("25:00", '"25:00" is not a time'),
        ("2:0", '"2:0" is not a time'),
        ("noon", '"noon" is not a time; use HH:MM [zone]'),
        ("2026-12-01", "2026-12-01 needs a time of day too, like 2026-12-01 02:00"),
        ("2026-02-30 02:00", "2026-02-30 is not a valid date"),
        ("2026-02-30T02:00Z", "is not a valid date and time"),
        ("2026-12-01T02:00+25:00", "is not a valid date and time"),
        ("9999-12-31T23:59-01:00", "out of range"),
        ("0001-01-01T00:00+01:00", "out of range"),
        ("02:00 Europe/Berln", 'unknown time zone "Europe/Berln" — did you mean Europe/Berlin?'),
        ("02:00 Mars/Olympus", 'unknown time zone "Mars/Olympus" (use an IANA name'),
        ("02:00 localtime", 'unexpected "localtime"'),  # the server's zone is not offered
        ("2026-12-01T02:00Z Europe/Berlin", "give an offset or a zone, not both"),
        ("02:00 please", 'unexpected "please" after "migrate member-a to host-b at 02:00"'),
        ("١٢:٠٠", "is not a time"),
    ],
)
def test_bad_times(time_text: str, problem: str) -> None:
    e = err(f"migrate member-a to host-b at {time_text}")
    assert problem in e.message
    assert e.usage == MIGRATE_USAGE


def test_now_defaults_to_the_current_time() -> None:
    before = datetime.now(UTC)
    cmd = parse("migrate a to b at 12:00")
    assert isinstance(cmd, MigrateCommand) and cmd.at is not None
    assert before < cmd.at <= before + timedelta(days=1)


def test_naive_now_is_taken_as_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert at("16:49", now=naive) == datetime(2026, 11, 25, 16, 49, tzinfo=UTC)
