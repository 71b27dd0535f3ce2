"""The App Home tab (handlers/home.py): a signed `app_home_opened` event through the bot's real
HTTP endpoint makes it publish the Home view to the Slack stand-in.

Checks: the view shows the fleet with problems first and this workspace's requests in flight, has
at most 100 blocks and passes the stand-in's view checker; it is first published with "reading
the clusters…" so the user sees something at once; a redelivered event (same event_id) and the
Messages tab publish nothing; a huge fleet with hundreds of requests still fits.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from bot_harness import ALICE, SECRET, Client, Env, environment, in_process, wait_for, wait_state
from slackstub import APP_ID, TEAM_ID, sign
from slackstub.rules import MAX_VIEW_BLOCKS, check_view
from test_queries import _big_fleet

from bot import db
from bot.states import RequestState
from handlers.render_queries import render_home


@pytest.fixture(scope="module")
def home_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Env, Client, Any]]:
    tmp = tmp_path_factory.mktemp("home")
    url = f"sqlite:///{tmp / 'ksmc.db'}"
    db.upgrade(url)
    with environment(tmp, url) as env, in_process(env) as (client, bot):
        yield env, client, bot


def open_home(client: Client, user: str, event_id: str, tab: str = "home") -> int:
    body = json.dumps(
        {
            "token": "xyzz0WbapA4vBCDEFasx0q6G",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": f"D{user}",
                "tab": tab,
                "event_ts": f"{time.time():.6f}",
            },
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
        }
    ).encode()
    headers = {**sign(SECRET, body), "Content-Type": "application/json"}
    response = client.http.post(f"{client.base}/slack/events", content=body, headers=headers)
    return response.status_code


def published(env: Env) -> int:
    return len(env.stub.calls("views.publish"))


def test_opening_home_publishes_the_fleet_and_requests_in_flight(
    home_bot: tuple[Env, Client, Any],
) -> None:
    env, client, _bot = home_bot
    client.command("migrate member-a to host-b keep ns1,ns2")
    rid = wait_for(lambda: _latest(env), 10, "the request")
    wait_state(env, rid, RequestState.PENDING)
    before = published(env)
    assert open_home(client, ALICE, "Ev0HOME1") == 200
    view = wait_for(
        lambda: (v := env.stub.home_view(ALICE)) and "*Clusters*" in str(v["blocks"]) and v,
        15,
        "the Home view with the fleet",
    )
    assert published(env) == before + 2  # "reading the clusters…" first, then the fleet
    first = env.stub.calls("views.publish")[before]
    assert "Reading the clusters" in str(first.args)
    blocks = view["blocks"]
    assert len(blocks) <= MAX_VIEW_BLOCKS
    assert check_view({"type": "home", "blocks": blocks}) == []
    text = str(blocks)
    assert text.index("*Problems first*") < text.index("*Clusters*")
    assert "jwtSecret (group B) differs" in text and "member of `host-a` (Ready)" in text
    assert "*Requests in flight (1)*" in text and f"`{rid}`" in text
    assert env.stub.violations == []


def test_a_redelivered_event_and_the_messages_tab_publish_nothing(
    home_bot: tuple[Env, Client, Any],
) -> None:
    env, client, _bot = home_bot
    before = published(env)
    assert open_home(client, ALICE, "Ev0HOME2") == 200
    wait_for(lambda: published(env) >= before + 2, 15, "the first delivery's views")
    time.sleep(0.3)
    count = published(env)
    assert count == before + 2
    assert open_home(client, ALICE, "Ev0HOME2") == 200  # Slack's retry: same event_id
    assert open_home(client, ALICE, "Ev0HOME3", tab="messages") == 200
    time.sleep(1.0)
    assert published(env) == count


def test_a_huge_fleet_and_many_requests_fit_the_home_tab() -> None:
    from snapshots import make_snap

    view = _big_fleet(300)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    requests = [replace(make_snap(RequestState.PENDING), id=f"r{i:05d}") for i in range(400)]
    for fleet_view in (view, None):
        blocks = render_home(fleet_view, requests, now)
        assert len(blocks) <= MAX_VIEW_BLOCKS
        assert check_view({"type": "home", "blocks": blocks}) == []
    text = str(render_home(view, requests, now))
    assert "more clusters; `/ksmc clusters` lists them all" in text
    assert "more requests; `/ksmc history` lists them" in text


def _latest(env: Env) -> str | None:
    from bot_harness import latest_request_id

    return latest_request_id(env)
