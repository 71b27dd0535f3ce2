"""Properties of the `/ksmc` parser that must hold for every input, checked with Hypothesis.

1. `parse` raises nothing but `UsageError` — for arbitrary unicode with control characters,
   10 kB strings, soups of the grammar's own words and valid commands with words dropped,
   repeated, swapped or inserted — and whatever it accepts renders back to text that parses to
   the same command.
2. Every valid command survives `render` then `parse` unchanged, also with keywords in any case
   and with extra spaces around words and commas.
Runs derandomized so CI sees the same examples every time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from handlers.command_words import RESERVED, UsageError
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
PROPS = settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# --- 1. nothing but UsageError -----------------------------------------------------------------

COMMAND_WORDS = [spec.name for spec in GRAMMAR]
SOUP_WORDS = [
    *COMMAND_WORDS,
    *sorted(RESERVED),
    *KNOWN,
    "ns1",
    "ns-2",
    "Ns_1",
    "-x",
    "r7k2m9",
    "0",
    "100",
    "101",
    "02:00",
    "24:00",
    "2026-12-01",
    "2026-12-01T02:00Z",
    "2026-12-01T02:00+01:00",
    "2026-02-30T02:00",
    "9999-12-31T23:59-01:00",
    "Europe/Berlin",
    "europe/berln",
    "UTC",
    "localtime",
    ",",
    ",,",
    "a,",
    "\x00",
    "\u212aeep",
    "é",
    "٣",
    "x" * 70,
]
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
any_case = st.sampled_from(SOUP_WORDS).flatmap(lambda w: st.sampled_from([w, w.upper(), w.title()]))
soup = st.lists(any_case, max_size=25)
soup_text = st.tuples(soup, st.sampled_from([" ", ",", "  ", " , ", "\t"])).map(
    lambda parts: parts[1].join(parts[0])
)
big_text = st.one_of(any_text, soup_text).map(
    lambda s: (s * (10_240 // max(len(s), 1) + 1))[:10_240]
)


def accepts_or_explains(text: str, known: tuple[str, ...], now: datetime = NOW) -> None:
    try:
        cmd = parse(text, known_clusters=known, now=now)
    except UsageError as e:
        assert e.message and e.usage
        shown = str(e)
        assert shown.startswith(e.message)
        assert all(line in shown for line in e.usage.splitlines())
        assert len(e.message) < 400  # hostile words are shortened, not echoed whole
    else:
        assert parse(render(cmd), known_clusters=known, now=now) == cmd


@PROPS
@given(text=any_text, known=st.sampled_from([(), KNOWN]))
@example(text="", known=())
@example(text=" \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\u2028 ", known=())
@example(text="\x00", known=KNOWN)
@example(text="migrate\x00 a to b", known=())
def test_arbitrary_text_only_raises_usage_error(text: str, known: tuple[str, ...]) -> None:
    accepts_or_explains(text, known)


@PROPS
@given(text=soup_text, known=st.sampled_from([(), KNOWN]))
def test_grammar_word_soup_only_raises_usage_error(text: str, known: tuple[str, ...]) -> None:
    accepts_or_explains(text, known)


@settings(PROPS, max_examples=60)
@given(text=big_text)
@example(text="a" * 10_240)
@example(text="migrate member-a to host-b keep " + "ns," * 3_400 + "ns")
@example(text="history " + "9" * 10_000)
@example(text="migrate a to b at " + "1" * 10_000 + "/x")
def test_ten_kilobyte_text_only_raises_usage_error(text: str) -> None:
    accepts_or_explains(text, KNOWN)


# --- 2. render then parse gives the command back ---------------------------------------------

names = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True).filter(
    lambda n: n not in RESERVED
)
request_ids = st.from_regex(r"[a-z0-9-]{1,32}", fullmatch=True)
nows = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def migrations(draw: st.DrawFn, clusters: st.SearchStrategy[str], now: datetime) -> Command:
    member = draw(clusters)
    host = draw(clusters.filter(lambda c: c != member))
    keep_all = draw(st.booleans())
    keep = () if keep_all else tuple(draw(st.lists(names, unique=True, max_size=4)))
    discard: tuple[str, ...] = ()
    if not keep_all:
        discard = tuple(
            draw(st.lists(names.filter(lambda n: n not in keep), unique=True, max_size=4))
        )
    minutes = draw(st.none() | st.integers(1, 30 * 24 * 60))
    at = (
        None
        if minutes is None
        else now.replace(second=0, microsecond=0) + timedelta(minutes=minutes)
    )
    return MigrateCommand(
        member,
        host,
        keep,
        keep_all,
        discard,
        draw(st.none() | names),
        draw(st.booleans()),
        at,
        draw(st.booleans()),
    )


def commands(clusters: st.SearchStrategy[str], now: datetime) -> st.SearchStrategy[Command]:
    public = st.booleans()
    maybe = st.none() | clusters
    return st.one_of(
        migrations(clusters, now),
        st.builds(StatusCommand, maybe, public),
        st.builds(ClustersCommand, public),
        st.builds(WorkspacesCommand, maybe, public),
        st.builds(ProjectsCommand, clusters, st.none() | names, public),
        st.tuples(clusters, clusters, public).map(
            lambda t: ComponentsCommand(t[0], t[1] if t[1] != t[0] else None, t[2])
        ),
        st.builds(HistoryCommand, st.integers(1, 100), public),
        st.builds(ShowCommand, request_ids, public),
        st.builds(CancelCommand, request_ids),
        st.builds(HelpCommand, st.none() | st.sampled_from(COMMAND_WORDS), public),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[Command, tuple[str, ...], datetime]:
    now = draw(nows)
    known = draw(st.sampled_from([(), KNOWN]))
    clusters = st.sampled_from(KNOWN) if known else names
    return draw(commands(clusters, now)), known, now


@PROPS
@given(case=cases())
def test_render_then_parse_round_trips(case: tuple[Command, tuple[str, ...], datetime]) -> None:
    cmd, known, now = case
    assert parse(render(cmd), known_clusters=known, now=now) == cmd


@st.composite
def near_misses(draw: st.DrawFn) -> tuple[str, tuple[str, ...], datetime]:
    """A valid command's text with a few words dropped, repeated, swapped or inserted."""
    cmd, known, now = draw(cases())
    words = render(cmd).split()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(words) - 1))
        how = draw(st.sampled_from(["drop", "repeat", "swap", "insert"]))
        if how == "drop":
            del words[i]
        elif how == "repeat":
            words.insert(i, words[i])
        elif how == "swap":
            j = draw(st.integers(0, len(words) - 1))
            words[i], words[j] = words[j], words[i]
        else:
            words.insert(i, draw(any_case))
        words = words or [draw(any_case)]
    return " ".join(words), known, now


@PROPS
@given(case=near_misses())
def test_near_misses_only_raise_usage_error(case: tuple[str, tuple[str, ...], datetime]) -> None:
    accepts_or_explains(*case)


KEYWORDS = RESERVED | set(COMMAND_WORDS)


@PROPS
@given(case=cases(), data=st.data())
def test_keyword_case_and_spacing_do_not_matter(
    case: tuple[Command, tuple[str, ...], datetime], data: st.DataObject
) -> None:
    cmd, known, now = case
    words = render(cmd).split()
    # the command word and keywords (never names: the grammar reserves them) in any case
    for i, word in enumerate(words):
        if (word in KEYWORDS and i == 0) or (word in RESERVED and i > 0):
            words[i] = data.draw(st.sampled_from([word.upper(), word.title(), word]))
    gaps = st.sampled_from([" ", "  ", "\t", " \n "])
    text = "".join(w + data.draw(gaps) for w in words)
    text = text.replace(",", data.draw(st.sampled_from([",", " ,", ", ", " , "])))
    assert parse(text, known_clusters=known, now=now) == cmd
