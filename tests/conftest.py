"""Shared pytest fixtures. Each group is marked with a comment naming the code it serves."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot import store
from bot.audit import Actor
from bot.db import make_engine, normalize_url, session_factory, upgrade, utcnow
from bot.states import RequestState

# --- the serial pass ---------------------------------------------------------------------
# `make test` runs the suite on several workers (pytest-xdist), then, alone, the tests whose
# subject is time itself: a SIGKILL landing mid-step, a leader taking over, timers firing, a
# cluster cut off at its time budget, a Reject during a burst, the front door's limits. On a
# busy 2-core machine their waits would measure the other workers, not the bot. (The soak stays
# in the parallel pass: it checks outcomes, never timings.)

SERIAL_MODULES = frozenset(
    {
        "test_bot_restart",
        "test_replicas",
        "test_timers",
        "test_starvation",
        "test_http_front",
        "test_frontdoor",
    }
)
SERIAL_TESTS = frozenset(
    {
        "test_queries.py::test_down_and_slow_clusters_are_shown_unreachable_within_the_gather_timeout",
        "test_gather.py::test_slow_cluster_is_cut_off_at_the_budget",
        # how many namespaces the pool unbinds before the fault stops it depends on thread timing
        "test_executor.py::test_a_failure_in_the_middle_of_unbinding_many_namespaces_resumes_where_it_stopped",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.stem
        name = item.originalname if isinstance(item, pytest.Function) else item.name
        if module in SERIAL_MODULES or f"{item.path.name}::{name}" in SERIAL_TESTS:
            item.add_marker(pytest.mark.serial)


# --- database (bot/db.py, bot/store.py, bot/audit.py) --------------------------------------
# `db_url` is a brand-new, empty database for each test, once on SQLite and once on PostgreSQL
# (from KSMC_TEST_PG_URL, which scripts/with-postgres.sh exports). The fixtures after it build
# on it: migrated to head, an engine, a session factory, a request in a chosen state; `race`
# releases n threads at once (concurrency tests) and fails, rather than hangs, on a deadlock.

PG_URL_ENV = "KSMC_TEST_PG_URL"
VALIDATION_SUFFIX = "/kapis/cluster.kubesphere.io/v1alpha1/clusters/validation"

REQUESTER = Actor(id="U0REQUESTER", name="rita")

_T = TypeVar("_T")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'ksmc.db'}"
        return
    server = os.environ.get(PG_URL_ENV)
    if not server:
        pytest.skip(
            f"{PG_URL_ENV} is not set: run under scripts/with-postgres.sh (as `make test` does) "
            "to include PostgreSQL"
        )
    name = f"ksmc_test_{secrets.token_hex(6)}"
    admin = create_engine(normalize_url(server), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield normalize_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def migrated_db_url(db_url: str) -> str:
    upgrade(db_url)
    return db_url


@pytest.fixture
def db_engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db_sessions(db_engine: Engine) -> sessionmaker[Session]:
    return session_factory(db_engine)


@pytest.fixture
def make_request(db_sessions: sessionmaker[Session]) -> Callable[..., str]:
    """Create a request (committed) in `state` (default pending) and return its id."""

    def make(state: RequestState = RequestState.PENDING, **fields: Any) -> str:
        values: dict[str, Any] = {
            "command_text": "migrate member-a to host-b",
            "command_json": {"kind": "migrate", "member": "member-a", "target_host": "host-b"},
            "team_id": "T0TEAM",
            "channel_id": "C0OPS",
            "requester_id": REQUESTER.id,
            "requester_name": REQUESTER.name,
            "expires_at": utcnow() + timedelta(hours=1),
            "member": "member-a",
            "target_host": "host-b",
        }
        values.update(fields)
        with db_sessions.begin() as session:
            request = store.create_request(session, actor=REQUESTER, **values)
            request_id = request.id
            if state is not RequestState.RECEIVED:
                # Set directly: the walk to an arbitrary state is not what tests exercise.
                request.state = state
        return request_id

    return make


def _race(n: int, attempt: Callable[[int], _T], timeout: float = 60.0) -> list[_T]:
    barrier = threading.Barrier(n)
    results: dict[int, _T] = {}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = attempt(i)
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)

    # Daemon threads joined with a timeout: a deadlock fails the test instead of hanging it.
    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if any(thread.is_alive() for thread in threads):
        pytest.fail(f"concurrent attempts still running after {timeout}s: a deadlock?")
    if errors:
        raise errors[0]
    return [results[i] for i in range(n)]


@pytest.fixture
def race() -> Callable[..., list[Any]]:
    """`race(n, attempt)` runs attempt(0..n-1) in n threads released at once; their results."""
    return _race


# --- simulator fixtures (sim tests) -------------------------------------------------------
# `sim_world` is the demo world (k8s/sim/worlds/demo.yaml) with a 0.05 s join delay, started
# fresh for each test and stopped afterwards; `sim_kubeconfig` is its kubeconfig (one context
# per cluster, named after it).

SIM_JOIN_DELAY = 0.05


@pytest.fixture
def sim_world() -> Iterator[Any]:
    from k8s.sim import loader

    world = loader.start("demo", join_delay=SIM_JOIN_DELAY)
    try:
        yield world
    finally:
        world.stop()


@pytest.fixture
def sim_kubeconfig(sim_world: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("sim") / "kubeconfig"
    return sim_world.write_kubeconfig(path)


# --- simulator fixtures (k8s/access/, k8s/gather.py) ------------------------------------------
# `demo_world` is the demo world (join delay 0.05 s) shared by one test module, with its
# kubeconfig at `kubeconfig_path`: tests using it must leave it as they found it (reads, failed
# writes). Tests that change a world (faults, clusters down, new objects) take `fresh_world`,
# started for that test alone, with its kubeconfig at `fresh_kubeconfig`.
# (`sim_world` above is already taken, function-scoped, by the simulator's own tests.)


@pytest.fixture(scope="module")
def kubeconfig_path(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return tmp_path_factory.mktemp("demo") / "kubeconfig"


@pytest.fixture(scope="module")
def demo_world(kubeconfig_path: Any) -> Iterator[Any]:
    from k8s.sim import loader

    world = loader.start("demo", kubeconfig=kubeconfig_path, join_delay=SIM_JOIN_DELAY)
    try:
        assert world.settle(10), "the demo world's controllers did not settle"
        yield world
    finally:
        world.stop()


@pytest.fixture
def fresh_kubeconfig(tmp_path: Any) -> Any:
    return tmp_path / "fresh-kubeconfig"


@pytest.fixture
def fresh_world(fresh_kubeconfig: Any) -> Iterator[Any]:
    from k8s.sim import loader

    world = loader.start("demo", kubeconfig=fresh_kubeconfig, join_delay=SIM_JOIN_DELAY)
    try:
        assert world.settle(10), "the demo world's controllers did not settle"
        yield world
    finally:
        world.stop()


# --- engine fixtures (k8s/preflight, k8s/plan.py, k8s/steps, k8s/executor.py, k8s/migration.py) ---
# `engine` is a fresh demo world (join delay 0.05 s) for one test, wrapped in an `EngineRig`: a
# `ClusterRegistry` over its kubeconfig plus helpers to preflight, execute, change the world
# through the official client, read the simulator's request logs and take a comparable snapshot
# of every cluster. `engine_factory(world, client=ClientSettings(...))` starts other worlds (a
# built-in name or a YAML path) the same way; everything is stopped when the test ends.


class EngineRig:
    """One started world, driven the way the bot drives it: over HTTP with the official client."""

    def __init__(self, world: Any, kubeconfig: Any, client: Any = None) -> None:
        from k8s.migration import EngineSettings
        from k8s.registry import ClusterRegistry

        self.world = world
        self.kubeconfig = kubeconfig
        self.registry = ClusterRegistry.from_kubeconfig(kubeconfig, settings=client)
        self.settings = EngineSettings(gather_timeout=5.0, wait_timeout=10.0, poll_interval=0.02)

    def stop(self) -> None:
        self.registry.close()
        self.world.stop()

    # ---- the engine ----------------------------------------------------------------------------

    def spec(self, member: str = "member-a", target: str = "host-b", **fields: Any) -> Any:
        from k8s.spec import MigrationSpec

        if isinstance(fields.get("keep"), str):
            fields["keep"] = tuple(fields["keep"].split(","))
        if isinstance(fields.get("discard"), str):
            fields["discard"] = tuple(fields["discard"].split(","))
        return MigrationSpec(member, target, **fields)

    def preflight(
        self, member: str = "member-a", target: str = "host-b", *, busy: Any = (), **fields: Any
    ) -> Any:
        from k8s import migration

        spec = self.spec(member, target, **fields)
        return migration.preflight(self.registry, spec, frozenset(busy), self.settings)

    def member_kubeconfig(self, name: str) -> bytes:
        from k8s.migration import standalone_kubeconfig

        return standalone_kubeconfig(str(self.kubeconfig), name)

    def execute(self, plan: Any, sink: Any = None, *, guard: bool = True, **settings: Any) -> Any:
        from dataclasses import replace

        from k8s import execution
        from k8s.executor import MemorySink

        return execution.execute(
            self.registry,
            plan,
            MemorySink() if sink is None else sink,
            settings=replace(self.settings, **settings),
            guard=guard,
        )

    def executor(
        self, plan: Any, sink: Any, *, sleeps: list[float] | None = None, **kw: Any
    ) -> Any:
        """An `Executor` built by hand (as `execution.execute` does) whose pauses between step
        attempts are recorded instead of slept, and without the world-changed guard."""
        from k8s.executor import Executor
        from k8s.steps import StepContext

        recorded = [] if sleeps is None else sleeps
        ctx = StepContext(
            api=self.registry.api,
            plan=plan,
            wait_timeout=kw.pop("wait_timeout", self.settings.wait_timeout),
            poll_interval=self.settings.poll_interval,
        )
        return Executor(ctx, plan, sink, sleep=recorded.append, **kw)

    # ---- the world -----------------------------------------------------------------------------

    def cluster(self, name: str) -> Any:
        return self.world.clusters[name]

    def core(self, cluster: str) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.registry.client(cluster))

    def custom(self, cluster: str) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.registry.client(cluster))

    def create_namespace(self, cluster: str, name: str, **labels: str) -> None:
        body = {"metadata": {"name": name, "labels": labels}}
        self.core(cluster).create_namespace(body)

    def settle(self) -> None:
        assert self.world.settle(10), "the simulated controllers did not settle"

    def peek(self, cluster: str, rt: Any, name: str, namespace: str = "") -> Any:
        with self.world.lock:
            return self.cluster(cluster).store.peek(rt, namespace, name)

    def namespaces(self, cluster: str) -> set[str]:
        from k8s.sim.resources import NAMESPACES

        with self.world.lock:
            return {o["metadata"]["name"] for o in self.cluster(cluster).store.iter(NAMESPACES)}

    def all_namespaces(self) -> dict[str, set[str]]:
        return {name: self.namespaces(name) for name in self.world.clusters}

    # ---- request logs --------------------------------------------------------------------------

    def clear_requests(self) -> None:
        with self.world.lock:
            for cluster in self.world.clusters.values():
                cluster.requests.clear()

    def requests(self) -> list[tuple[str, Any]]:
        with self.world.lock:
            return [(c.name, r) for c in self.world.clusters.values() for r in c.requests]

    def writes(self, *, successful: bool = True) -> Any:
        """Non-GET requests per (cluster, method, path); only those the server accepted (2xx)
        unless `successful=False`. ks-apiserver's import validation is a POST that changes
        nothing (a question to the host), so it is not counted as a write."""
        from collections import Counter

        return Counter(
            (name, r.method, r.path)
            for name, r in self.requests()
            if r.method != "GET"
            and not r.path.endswith(VALIDATION_SUFFIX)
            and (not successful or 200 <= r.status < 300)
        )

    # ---- a comparable picture of every cluster --------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Namespaces (workspace label, owners), workspaces, templates and Cluster objects of
        every cluster, with uids replaced by what they point at, so that two worlds built from
        the same YAML compare equal when the same things happened to them."""
        from k8s.sim.resources import (
            CLUSTERS,
            KUBEFEDCLUSTERS,
            NAMESPACES,
            WORKSPACES,
            WORKSPACETEMPLATES,
        )

        def owners(obj: dict[str, Any]) -> list[tuple[str, str]]:
            refs = obj["metadata"].get("ownerReferences") or []
            return sorted((str(r.get("kind")), str(r.get("name"))) for r in refs)

        self.settle()
        out: dict[str, Any] = {}
        with self.world.lock:
            by_uid = {c.kube_system_uid: c.name for c in self.world.clusters.values()}
            for name, cluster in sorted(self.world.clusters.items()):
                store = cluster.store
                if WORKSPACES.key not in {t.key for t in cluster.registry.types}:
                    continue
                out[name] = {
                    "namespaces": {
                        o["metadata"]["name"]: (
                            (o["metadata"].get("labels") or {}).get("kubesphere.io/workspace"),
                            owners(o),
                        )
                        for o in store.iter(NAMESPACES)
                    },
                    "workspaces": sorted(o["metadata"]["name"] for o in store.iter(WORKSPACES)),
                    "templates": {
                        o["metadata"]["name"]: sorted(
                            c.get("name")
                            for c in ((o.get("spec") or {}).get("placement") or {}).get("clusters")
                            or []
                        )
                        for o in store.iter(WORKSPACETEMPLATES)
                    },
                    "clusters": {
                        o["metadata"]["name"]: by_uid.get((o.get("status") or {}).get("uid"))
                        for o in store.iter(CLUSTERS)
                    },
                    "kubefedclusters": sorted(
                        o["metadata"]["name"] for o in store.iter(KUBEFEDCLUSTERS)
                    ),
                }
        return out


class _EngineRigs:
    def __init__(self, tmp: Any) -> None:
        self.tmp = tmp
        self.started: list[EngineRig] = []

    def __call__(self, world: str = "demo", *, client: Any = None) -> EngineRig:
        from k8s.sim import loader

        kubeconfig = self.tmp / f"kubeconfig-{len(self.started)}"
        started = loader.start(str(world), kubeconfig=kubeconfig, join_delay=SIM_JOIN_DELAY)
        rig = EngineRig(started, kubeconfig, client)
        self.started.append(rig)
        rig.settle()
        return rig

    def stop_all(self) -> None:
        for rig in self.started:
            rig.stop()


@pytest.fixture
def engine_factory(tmp_path: Any) -> Iterator[_EngineRigs]:
    rigs = _EngineRigs(tmp_path)
    try:
        yield rigs
    finally:
        rigs.stop_all()


@pytest.fixture
def engine(engine_factory: _EngineRigs) -> EngineRig:
    return engine_factory()


@pytest.fixture(scope="module")
def module_engine_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_EngineRigs]:
    rigs = _EngineRigs(tmp_path_factory.mktemp("engine"))
    try:
        yield rigs
    finally:
        rigs.stop_all()
