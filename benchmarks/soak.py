"""Load and soak: `ksmc-bot serve` in HTTP mode under a mixed workload from 100 simulated Slack
users while about 1 in 50 Kubernetes calls fails transiently, then checks that nothing was lost.

Run with `python -m benchmarks.soak [--seconds 300 --requests 5000]` (under
scripts/with-postgres.sh, as `make bench` does, to use PostgreSQL from KSMC_TEST_PG_URL; without
it SQLite is used and said so). Everything runs on 127.0.0.1: the simulated fleet and the Slack
stand-in in this process, the bot as a child process. The traffic is bounded in count and time.

The mix: status and other queries; dry-run migrations (preflight only); real requests that are
then rejected, cancelled or pressed by people who may not approve; and, one after another, real
migrations of member-a between host-a and host-b that are approved (by someone other than the
requester), retried once if a step failed, and abandoned if they failed again. A fault injector
makes ~1 in 50 cluster calls answer 500, 503 or 429 (the simulator's faults with `times: 1` on a
random path of a cluster, added at the rate that cluster is being called).

Reported: Slack requests handled, p50/p99 ack latency (time to HTTP 200), unhandled errors (non-200
answers, connection errors, ERROR lines or tracebacks in the bot's log, Slack stand-in
violations), peak and final RSS of the bot (VmRSS), database rows against the requests the bot
acknowledged, `ksmc-bot audit verify`, and the final state of every request.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1] / "tests" / "support"
if str(_TESTS) not in sys.path:  # the Slack stand-in and the bot harness live with the tests
    sys.path.insert(0, str(_TESTS))

import httpx  # noqa: E402
from bot_harness import SECRET, BotProcess, Env, seed_users  # noqa: E402
from slackstub import TEAM_ID, SlackStub, block_action_body, sign, slash_command_body  # noqa: E402
from sqlalchemy import create_engine, func, select  # noqa: E402

from bot import db  # noqa: E402
from bot.db import Approval, AuditEvent, Request, StepProgress  # noqa: E402
from bot.states import RequestState as S  # noqa: E402
from bot.states import StepState  # noqa: E402
from k8s.sim import loader  # noqa: E402
from k8s.sim.resources import CLUSTERS  # noqa: E402

GROUP = "S0SOAKOPS"
CHANNELS = tuple(f"C0SOAK{i}" for i in range(5))
#: States a request may be in once nothing is running any more and nobody waits to decide.
SETTLED = frozenset({S.BLOCKED, S.SUCCEEDED, S.REJECTED, S.CANCELLED, S.EXPIRED, S.ABANDONED})
IN_FLIGHT = frozenset({S.RECEIVED, S.PREFLIGHTING, S.APPROVED, S.SCHEDULED, S.RUNNING})
#: Questions that read every cluster, and ones answered from the database alone.
CLUSTER_QUERIES = (
    "status",
    "clusters",
    "workspaces member-a",
    "projects member-a",
    "components member-a vs member-b",
)
CHEAP_QUERIES = ("history 5", "help migrate", "help")
DRY_RUNS = (
    "migrate member-a to host-b keep ns1,ns2 dry-run",
    "migrate member-a to host-a keep ns1,ns2 dry-run",
    "migrate member-b to host-a keep qa-env sync-jwt dry-run",
)
FAULT_PATHS = (
    "/api/v1/namespaces",
    "/apis/cluster.kubesphere.io",
    "/apis/tenant.kubesphere.io",
    "/configmaps",
    "/apis/iam.kubesphere.io",
    "/apis/installer.kubesphere.io",
    "/api",
)
REQUEST_ID = re.compile(r"Request (\S+) received")


def user_id(i: int) -> str:
    return f"U0SOAK{i:03d}"


@dataclass
class Report:
    seconds: float = 0.0
    handled: int = 0
    latencies: list[float] = field(default_factory=list)
    http_errors: Counter[str] = field(default_factory=Counter)
    log_errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    rss_peak_kb: int = 0
    rss_final_kb: int = 0
    acknowledged_requests: int = 0
    request_rows: int = 0
    received_events: int = 0
    audit_events: int = 0
    approvals: int = 0
    approval_events: int = 0
    audit_ok: bool = False
    audit_output: str = ""
    states: Counter[str] = field(default_factory=Counter)
    migrations: Counter[str] = field(default_factory=Counter)
    unclean: list[str] = field(default_factory=list)
    load_seconds: float = 0.0
    drain_seconds: float = 0.0
    bot_cpu_seconds: float = 0.0
    faults_injected: int = 0
    cluster_calls: int = 0
    database: str = ""

    @property
    def unhandled(self) -> int:
        return sum(self.http_errors.values()) + len(self.log_errors)

    @property
    def stuck(self) -> int:
        return sum(n for s, n in self.states.items() if S(s) not in SETTLED)

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def lines(self) -> list[str]:
        rate = self.faults_injected / self.cluster_calls if self.cluster_calls else 0.0
        return [
            f"soak: {self.seconds + self.drain_seconds:.0f} s on {self.database}: "
            f"{self.load_seconds:.0f} s of traffic, then the bot finishing its backlog; "
            f"bot CPU {self.bot_cpu_seconds:.0f} s",
            f"slack requests handled        {self.handled}",
            f"ack latency p50 / p99         {self.percentile(0.5) * 1000:.1f} ms / "
            f"{self.percentile(0.99) * 1000:.1f} ms (max {max(self.latencies or [0]) * 1000:.0f})",
            f"unhandled errors              {self.unhandled} (http {dict(self.http_errors)}, "
            f"log {len(self.log_errors)})",
            f"slack stand-in violations     {len(self.violations)}",
            f"cluster calls / faults        {self.cluster_calls} / {self.faults_injected} "
            f"(1 in {1 / rate if rate else 0:.0f})",
            f"bot RSS peak / final          {self.rss_peak_kb / 1024:.1f} MiB / "
            f"{self.rss_final_kb / 1024:.1f} MiB",
            f"requests acknowledged / rows  {self.acknowledged_requests} / {self.request_rows} "
            f"(request.received events {self.received_events})",
            f"approvals rows / events       {self.approvals} / {self.approval_events}",
            f"audit events                  {self.audit_events}; verify: "
            f"{'OK' if self.audit_ok else 'FAILED'} ({self.audit_output.strip()})",
            f"final states                  {dict(sorted(self.states.items()))}",
            f"real migrations               {dict(sorted(self.migrations.items()))}",
            f"not settled / unclean         {self.stuck} / {len(self.unclean)}",
        ]

    def problems(self) -> list[str]:
        """What breaks the goals (empty when all hold)."""
        found = []
        if self.unhandled:
            found.append(f"{self.unhandled} unhandled errors: {self.log_errors[:3]}")
        if self.violations:
            found.append(f"Slack stand-in violations: {self.violations[:3]}")
        if self.acknowledged_requests != self.request_rows:
            found.append(
                f"{self.acknowledged_requests} requests acknowledged, {self.request_rows} rows"
            )
        if self.received_events != self.request_rows:
            found.append(
                f"{self.received_events} request.received events, {self.request_rows} rows"
            )
        if self.approvals != self.approval_events:
            found.append(f"{self.approvals} approvals, {self.approval_events} approval events")
        if not self.audit_ok:
            found.append(f"audit verify failed: {self.audit_output}")
        if self.stuck:
            found.append(f"requests not settled: {self.states}")
        if self.unclean:
            found.append(f"migrations without a clean record: {self.unclean[:3]}")
        return found


class Slack:
    """Signs and sends what Slack would, and times each answer."""

    def __init__(self, stub: SlackStub, base: str, report: Report, budget: int) -> None:
        self.stub = stub
        self.base = base
        self.report = report
        self.budget = budget
        self.http = httpx.Client(
            timeout=30,
            # Idle connections are dropped before uvicorn's 5 s keep-alive would close them,
            # so a request never races the server's close (a client artefact, not the bot's).
            limits=httpx.Limits(
                max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0
            ),
        )
        self._lock = threading.Lock()
        self._seq = 0

    def _hook(self, channel: str, user: str, ts: str | None = None) -> tuple[str, str]:
        with self._lock:
            self._seq += 1
            name = f"soak-{self._seq}"
        return name, self.stub.response_url(name, channel=channel, message_ts=ts, user=user)

    def exhausted(self) -> bool:
        with self._lock:
            return self.report.handled + sum(self.report.http_errors.values()) >= self.budget

    def _post(self, body: bytes) -> bool:
        started = time.perf_counter()
        try:
            response = self.http.post(
                f"{self.base}/slack/events", content=body, headers=sign(SECRET, body)
            )
        except httpx.HTTPError as e:
            with self._lock:
                self.report.http_errors[type(e).__name__] += 1
            return False
        took = time.perf_counter() - started
        with self._lock:
            if response.status_code == 200:
                self.report.handled += 1
                self.report.latencies.append(took)
            else:
                self.report.http_errors[str(response.status_code)] += 1
        return response.status_code == 200

    def command(self, text: str, user: str, channel: str | None = None) -> str:
        channel = channel or random.choice(CHANNELS)
        name, url = self._hook(channel, user)
        self._post(slash_command_body(text, user, channel, TEAM_ID, url))
        return name

    def press(self, action: str, request_id: str, user: str, channel: str, ts: str) -> str:
        """Press `action`'s button on the message as it stands in the channel: its value binds
        the request, the message version and the plan (issue #12), so a press needs the button
        the bot drew, not the bare id (that one the bot refuses as a stale click)."""
        name, url = self._hook(channel, user, ts)
        value = self.button_value(channel, ts, action) or request_id
        self._post(block_action_body(action, value, user, channel, ts, url))
        return name

    def button_value(self, channel: str, ts: str, action: str, timeout: float = 5.0) -> str | None:
        """The value of the message's `action` button, once the bot has drawn it."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.stub.message(channel, ts)
            for block in message.blocks if message is not None else []:
                for element in block.get("elements") or []:
                    if isinstance(element, dict) and element.get("action_id") == action:
                        return str(element.get("value") or "") or None
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def request_id(self, hook: str, timeout: float = 60.0) -> str | None:
        """The id in "Request … received" on a command's response_url, once it arrives."""
        deadline = time.monotonic() + timeout
        while True:
            for body in self.stub.responses(hook):
                if m := REQUEST_ID.search(str(body.get("text", ""))):
                    return m.group(1)
                return None  # answered, but not with a new request (refused, usage error)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)


class Database:
    def __init__(self, url: str) -> None:
        self.engine = db.make_engine(url)
        self.sessions = db.session_factory(self.engine)

    def row(self, request_id: str) -> tuple[S, str, str, str | None] | None:
        with self.sessions() as session:
            row = session.get(Request, request_id)
            if row is None:
                return None
            return row.state, row.requester_id, row.channel_id, row.message_ts

    def wait(self, request_id: str, states: frozenset[S], timeout: float) -> S | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.row(request_id)
            if found is not None and found[0] in states:
                return found[0]
            time.sleep(0.1)
        found = self.row(request_id)
        return found[0] if found else None

    def ids_in(self, states: frozenset[S]) -> list[str]:
        with self.sessions() as session:
            return list(
                session.execute(select(Request.id).where(Request.state.in_(states))).scalars()
            )


class Workload:
    """The traffic: general workers, the serial migrator, the decider for pending requests."""

    def __init__(
        self, env: Env, slack: Slack, database: Database, users: int, deadline: float, rate: float
    ) -> None:
        self.env = env
        self.slack = slack
        self.db = database
        self.users = [user_id(i) for i in range(users)]
        self.approvers = self.users[: max(2, users // 5)]
        self.deadline = deadline
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.acknowledged: set[str] = set()
        self.hooks: list[str] = []  # every command that may have made a request
        self.decide: list[tuple[str, str]] = []  # ("resolve" | "review", response_url name)
        self.known: list[str] = []
        self._lock = threading.Lock()
        self._next_slot = time.monotonic()
        self.stop = threading.Event()

    def running(self) -> bool:
        return (
            not self.stop.is_set()
            and time.monotonic() < self.deadline
            and not (self.slack.exhausted())
        )

    def pace(self) -> None:
        """Spread the requests evenly over the run (all workers share one schedule)."""
        with self._lock:
            slot = max(self._next_slot, time.monotonic())
            self._next_slot = slot + self.interval
        delay = slot - time.monotonic()
        if delay > 0:
            time.sleep(min(delay, 1.0))

    def remember(self, hook: str) -> str | None:
        with self._lock:
            self.hooks.append(hook)
        request_id = self.slack.request_id(hook)
        if request_id is not None:
            with self._lock:
                self.acknowledged.add(request_id)
                self.known.append(request_id)
        return request_id

    # ---- general traffic -----------------------------------------------------------------

    def worker(self) -> None:
        while self.running():
            self.pace()
            user = random.choice(self.users)
            roll = random.random()
            if roll < 0.3:
                self.slack.command(random.choice(CHEAP_QUERIES), user)
            elif roll < 0.6:
                self.slack.command(random.choice(CLUSTER_QUERIES), user)
            elif roll < 0.8:
                hook = self.slack.command(random.choice(DRY_RUNS), user)
                with self._lock:
                    self.decide.append(("resolve", hook))
            elif roll < 0.95:
                hook = self.slack.command("migrate member-b to host-a keep qa-env sync-jwt", user)
                with self._lock:
                    self.decide.append(("review", hook))
            else:
                self.stray_press(user)

    def stray_press(self, user: str) -> None:
        """Someone presses a button they may not use: refused, audited, nothing changes."""
        with self._lock:
            target = random.choice(self.known) if self.known else None
        row = self.db.row(target) if target else None
        if target is None or row is None or row[3] is None:
            return
        bystander = random.choice(self.users[len(self.approvers) :])
        self.slack.press(
            random.choice(("ksmc_approve", "ksmc_reject")), target, bystander, row[2], row[3]
        )

    # ---- pending requests that are rejected or cancelled -----------------------------------

    def decider(self) -> None:
        """Learns the ids of the requests the workers made (from their response_url answers,
        without holding up the workers), then rejects or cancels the ones meant for review."""
        while self.running() or self.decide:
            with self._lock:
                item = self.decide.pop(0) if self.decide else None
            if item is None:
                time.sleep(0.1)
                continue
            kind, hook = item
            request_id = self.remember(hook)
            if kind != "review" or request_id is None:
                continue
            final = self.db.wait(request_id, frozenset({S.PENDING}) | SETTLED | {S.FAILED}, 60)
            row = self.message(request_id) if final is S.PENDING else None
            if row is None:
                continue
            _state, requester, channel, ts = row
            if ts is None:
                continue
            if random.random() < 0.5:
                approver = random.choice([a for a in self.approvers if a != requester])
                self.slack.press("ksmc_reject", request_id, approver, channel, ts)
            else:
                self.slack.command(f"cancel {request_id}", requester, channel)

    def message(
        self, request_id: str, timeout: float = 30
    ) -> tuple[S, str, str, str | None] | None:
        """The request's row once its Slack message exists (buttons are pressed on it)."""
        deadline = time.monotonic() + timeout
        row = self.db.row(request_id)
        while row is not None and row[3] is None and time.monotonic() < deadline:
            time.sleep(0.1)
            row = self.db.row(request_id)
        return row

    # ---- real migrations, one at a time --------------------------------------------------------

    def current_host(self) -> str:
        with self.env.world.lock:
            for name in ("host-a", "host-b"):
                if self.env.world.clusters[name].store.peek(CLUSTERS, "", "member-a"):
                    return name
        return "host-a"

    def migrator(self) -> None:
        while self.running():
            target = "host-b" if self.current_host() == "host-a" else "host-a"
            requester = random.choice(self.users)
            hook = self.slack.command(f"migrate member-a to {target} keep ns1,ns2", requester)
            request_id = self.remember(hook)
            if request_id is None:
                time.sleep(0.5)
                continue
            self.migrate(request_id, requester)

    def migrate(self, request_id: str, requester: str) -> None:
        state = self.db.wait(request_id, frozenset({S.PENDING}) | SETTLED | {S.FAILED}, 60)
        row = self.message(request_id) if state is S.PENDING else None
        if row is None:
            return
        _state, _requester, channel, ts = row
        if ts is None:
            return
        approver = random.choice([a for a in self.approvers if a != requester])
        self.slack.press("ksmc_approve", request_id, approver, channel, ts)
        done = frozenset({S.SUCCEEDED, S.FAILED}) | SETTLED
        state = self.db.wait(request_id, done, 120)
        if state is S.FAILED:
            self.slack.press("ksmc_retry", request_id, approver, channel, ts)
            self.db.wait(request_id, frozenset({S.RUNNING}) | done - {S.FAILED}, 10)
            state = self.db.wait(request_id, done, 120)
        if state is S.FAILED:
            self.slack.press("ksmc_abandon", request_id, approver, channel, ts)
            self.db.wait(request_id, frozenset({S.ABANDONED}), 20)

    # ---- after the run ---------------------------------------------------------------------

    def drain(self, timeout: float) -> None:
        """Let everything in flight finish, then end what still waits for a person."""
        deadline = time.monotonic() + timeout
        while self.db.ids_in(IN_FLIGHT) and time.monotonic() < deadline:
            time.sleep(0.2)
        for request_id in self.db.ids_in(frozenset({S.PENDING})):
            row = self.db.row(request_id)
            if row is not None:
                self.slack.command(f"cancel {request_id}", row[1], row[2])
        for request_id in self.db.ids_in(frozenset({S.FAILED})):
            row = self.db.row(request_id)
            if row is not None and row[3] is not None:
                self.slack.press("ksmc_abandon", request_id, self.approvers[0], row[2], row[3])
        while self.db.ids_in(IN_FLIGHT | {S.PENDING, S.FAILED}) and time.monotonic() < deadline:
            time.sleep(0.2)


class FaultInjector:
    """About `rate` of each cluster's calls answer a transient error: faults with `times: 1` on
    a random path, added as fast as the cluster is being called."""

    def __init__(self, env: Env, rate: float) -> None:
        self.env = env
        self.rate = rate
        self.calls = 0
        self.injected = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            world = self.env.world
            with world.lock:
                for cluster in world.clusters.values():
                    fresh = len(cluster.requests)
                    cluster.requests.clear()
                    cluster.faults[:] = [
                        f for f in cluster.faults if f.times is None or f.hits < f.times
                    ]
                    self.calls += fresh
                    pending = [f for f in cluster.faults if f.times is not None]
                    wanted = sum(1 for _ in range(fresh) if random.random() < self.rate)
                    for _ in range(max(0, wanted - len(pending))):
                        status = random.choice((500, 503, 429))
                        cluster.add_fault(
                            {
                                "path": random.choice(FAULT_PATHS),
                                "status": status,
                                "times": 1,
                                "retryAfter": 0 if status == 429 else None,
                                "message": "injected by the soak: try again",
                            }
                        )
                        self.injected += 1
        with self.env.world.lock:
            for cluster in self.env.world.clusters.values():
                cluster.faults.clear()


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.last = 0
        self.stop = threading.Event()

    def sample(self) -> int:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return self.last
        m = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        if m:
            self.last = int(m.group(1))
            self.peak = max(self.peak, self.last)
        return self.last

    def run(self) -> None:
        while not self.stop.wait(0.25):
            self.sample()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (/proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def database(url: str | None) -> Iterator[tuple[str, str]]:
    """A fresh database for the run: a new one on the PostgreSQL server at `url`, else SQLite."""
    if not url:
        with tempfile.TemporaryDirectory(prefix="ksmc-soak-db-") as tmp:
            yield f"sqlite:///{tmp}/ksmc.db", "SQLite (KSMC_TEST_PG_URL not set)"
        return
    name = f"ksmc_soak_{secrets.token_hex(6)}"
    server = db.normalize_url(url)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield server.set(database=name).render_as_string(hide_password=False), "PostgreSQL"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def run(
    seconds: float,
    requests: int,
    users: int = 100,
    workers: int = 16,
    fault_rate: float = 1 / 50,
    pg_url: str | None = None,
    log_path: Path | None = None,
) -> Report:
    report = Report()
    with tempfile.TemporaryDirectory(prefix="ksmc-soak-") as tmp, database(pg_url) as (url, kind):
        report.database = kind
        db.upgrade(url)
        world = loader.start("demo", Path(tmp) / "kubeconfig", join_delay=0.05)
        stub = SlackStub()
        stub.start()
        bot: BotProcess | None = None
        try:
            seed_users(stub)
            for i in range(users):
                stub.add_user(user_id(i), f"soak{i:03d}", real_name=f"Soak User {i}")
            for i, channel in enumerate(CHANNELS):
                stub.add_channel(channel, f"ksmc-soak-{i}")
            approvers = [user_id(i) for i in range(max(2, users // 5))]
            stub.add_usergroup(GROUP, approvers)
            env = Env(
                world,
                stub,
                Path(tmp) / "kubeconfig",
                url,
                {
                    "KSMC_APPROVERS": GROUP,
                    "KSMC_WAIT_TIMEOUT": "30",
                    "KSMC_GATHER_TIMEOUT": "10",
                },
            )
            bot = BotProcess(env, log_path or Path(tmp) / "bot.log")
            client = bot.start()
            assert bot.proc is not None
            rss = RssSampler(bot.proc.pid)
            faults = FaultInjector(env, fault_rate)
            slack = Slack(stub, client.base, report, requests)
            database_ = Database(url)
            started = time.monotonic()
            load = Workload(env, slack, database_, users, started + seconds, requests / seconds)
            threads = [
                threading.Thread(target=rss.run, daemon=True),
                threading.Thread(target=faults.run, daemon=True),
                threading.Thread(target=load.migrator, daemon=True),
            ]
            threads += [threading.Thread(target=load.decider, daemon=True) for _ in range(8)]
            threads += [threading.Thread(target=load.worker, daemon=True) for _ in range(workers)]
            for t in threads:
                t.start()
            report.load_seconds = seconds
            for t in threads[2:]:
                t.join(seconds + 300)  # the migrator finishes the migration it started
            faults.stop.set()
            threads[1].join(5)
            drained = time.monotonic()
            load.drain(timeout=max(120.0, 2 * seconds))
            report.drain_seconds = time.monotonic() - drained
            report.seconds = drained - started
            time.sleep(2)  # the last Slack edits
            rss.stop.set()
            threads[0].join(2)
            rss.sample()
            report.rss_peak_kb, report.rss_final_kb = rss.peak, rss.last
            report.bot_cpu_seconds = cpu_seconds(bot.proc.pid)
            report.faults_injected, report.cluster_calls = faults.injected, faults.calls
            for hook in load.hooks:  # answers that came after the workload stopped waiting
                if (late := slack.request_id(hook, timeout=0)) is not None:
                    load.acknowledged.add(late)
            report.acknowledged_requests = len(load.acknowledged)
            collect(report, database_, url)
            database_.engine.dispose()
            slack.http.close()
        finally:
            if bot is not None:
                bot.stop()
            stub.stop()
            world.stop()
        log_text = bot.log_path.read_text(errors="replace") if bot is not None else ""
        report.log_errors = [
            line
            for line in log_text.splitlines()
            if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")
        ]
        report.violations = list(stub.violations)
    return report


def collect(report: Report, database_: Database, url: str) -> None:
    with database_.sessions() as session:
        report.request_rows = session.scalar(select(func.count()).select_from(Request)) or 0
        report.audit_events = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
        report.received_events = (
            session.scalar(select(func.count()).where(AuditEvent.action == "request.received")) or 0
        )
        report.approvals = session.scalar(select(func.count()).select_from(Approval)) or 0
        report.approval_events = (
            session.scalar(
                select(func.count()).where(
                    AuditEvent.action.in_(("approval.added", "request.approved"))
                )
            )
            or 0
        )
        for state, n in session.execute(
            select(Request.state, func.count()).group_by(Request.state)
        ).all():
            report.states[state.value] += n
        approved = select(Approval.request_id).distinct()
        for row in session.execute(select(Request).where(Request.id.in_(approved))).scalars():
            report.migrations[row.state.value] += 1
            steps = list(
                session.execute(
                    select(StepProgress).where(StepProgress.request_id == row.id)
                ).scalars()
            )
            if row.state is S.SUCCEEDED:
                clean = bool(steps) and all(s.state is StepState.DONE for s in steps)
            elif row.state in (S.FAILED, S.ABANDONED):
                clean = bool(row.error) or any(s.state is StepState.FAILED for s in steps)
            else:
                clean = row.state in SETTLED
            if not clean:
                report.unclean.append(f"{row.id} {row.state.value}")
    verify = subprocess.run(
        [sys.executable, "-m", "bot.cli", "audit", "verify", "--database-url", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report.audit_ok = verify.returncode == 0
    said = (verify.stdout + verify.stderr).strip().splitlines()
    report.audit_output = said[-1] if said else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args(argv)
    report = run(
        args.seconds,
        args.requests,
        args.users,
        args.workers,
        pg_url=os.environ.get("KSMC_TEST_PG_URL"),
    )
    for line in report.lines():
        print(line, flush=True)
    problems = report.problems()
    for problem in problems:
        print(f"PROBLEM: {problem}", flush=True)
    print("soak goals: " + ("met" if not problems else "NOT met"), flush=True)
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
