"""The App Home tab: opening it shows the fleet (problems first) and the requests in flight.

Bolt acks the `app_home_opened` event itself; reading the clusters can take up to
`ctx.gather_timeout`, so the work runs in the background: the tab is published at once with the
requests and "reading the clusters…", then again with the fleet. Slack retries an event it did
not see acknowledged; a retry (same `event_id`) is dropped.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.context import BotContext
from bot.work import Lane
from handlers import queries, render_queries

log = logging.getLogger("ksmc.home")


def register(app: App, ctx: BotContext) -> None:
    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return  # the Messages tab
        user = str(event.get("user") or "")
        team = str(body.get("team_id") or (event.get("view") or {}).get("team_id") or "")
        if not user or not ctx.first_time(f"evt:{body.get('event_id', '')}"):
            return
        ctx.background(lambda: publish_home(ctx, client, user, team), Lane.QUERY)


def publish_home(ctx: BotContext, client: WebClient, user: str, team: str) -> None:
    """Publish the Home tab for `user`: first without the fleet, then with it."""
    requests = queries.active_requests(ctx, team)
    _publish(client, user, render_queries.render_home(None, requests, datetime.now(UTC)))
    view = queries.fleet_view(ctx, team)
    requests = queries.active_requests(ctx, team)
    _publish(client, user, render_queries.render_home(view, requests, datetime.now(UTC)))


def _publish(client: WebClient, user: str, blocks: list[dict[str, Any]]) -> None:
    try:
        client.views_publish(user_id=user, view={"type": "home", "blocks": blocks})
    except SlackApiError as e:
        log.warning("views.publish for %s failed: %s", user, e.response.get("error"))
