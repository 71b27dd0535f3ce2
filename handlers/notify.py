"""Shows requests in Slack: one message per request, edited in place, plus thread replies.

Writes go through one background writer so that the executor never waits for Slack: updates to
the same request are coalesced (only the latest state is sent), and writes to one channel are
spaced at least `min_interval` apart, within Slack's chat.postMessage/chat.update limits. 429s
are retried by the client's RateLimitErrorRetryHandler.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.snapshot import RequestSnapshot
from handlers import render

log = logging.getLogger("ksmc.notify")


@dataclass(frozen=True)
class _Reply:
    request_id: str
    channel: str
    make: Callable[[], render.Rendered]


class SlackNotifier:
    def __init__(
        self,
        client: WebClient,
        set_message_ts: Callable[[str, str], None] | None = None,
        min_interval: float = 1.0,
    ) -> None:
        self.client = client
        self.set_message_ts = set_message_ts
        self.min_interval = min_interval
        self._latest: OrderedDict[str, RequestSnapshot] = OrderedDict()
        self._replies: deque[_Reply] = deque()
        self._ts: dict[str, str] = {}
        self._last_write: dict[str, float] = {}
        self._cond = threading.Condition()
        self._busy = False
        self._stopped = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="ksmc-slack-writer")
        self._thread.start()

    # ---- the Notifier port -----------------------------------------------------------------

    def request_changed(self, snap: RequestSnapshot) -> None:
        with self._cond:
            if snap.message_ts:
                self._ts.setdefault(snap.id, snap.message_ts)
            self._latest[snap.id] = snap
            self._latest.move_to_end(snap.id)
            self._cond.notify_all()

    def step_failed(self, snap: RequestSnapshot, index: int) -> None:
        self._reply(snap, lambda: render.render_step_failure(snap, index))

    def finished(self, snap: RequestSnapshot) -> None:
        self._reply(snap, lambda: render.render_final(snap))

    def remind(self, snap: RequestSnapshot, approvers: tuple[str, ...]) -> None:
        mentions = [a for a in approvers if a.startswith(("U", "W", "S"))]
        self._reply(snap, lambda: render.render_reminder(snap, mentions))

    def _reply(self, snap: RequestSnapshot, make: Callable[[], render.Rendered]) -> None:
        with self._cond:
            if snap.message_ts:
                self._ts.setdefault(snap.id, snap.message_ts)
            self._replies.append(_Reply(snap.id, snap.channel_id, make))
            self._cond.notify_all()

    # ---- the writer ------------------------------------------------------------------------

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued has been written (tests, the console, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._latest or self._replies or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def _next(self) -> tuple[str, object] | None:
        """Message updates first (a reply needs its parent), then replies in order."""
        if self._latest:
            _request_id, snap = self._latest.popitem(last=False)
            return ("update", snap)
        if self._replies:
            return ("reply", self._replies.popleft())
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and not self._latest and not self._replies:
                    self._cond.wait(0.5)
                if self._stopped and not self._latest and not self._replies:
                    return
                item = self._next()
                self._busy = item is not None
            if item is None:
                continue
            try:
                _kind, payload = item
                if isinstance(payload, RequestSnapshot):
                    self._spaced(payload.channel_id, partial(self._write_update, payload))
                elif isinstance(payload, _Reply):
                    self._spaced(payload.channel, partial(self._write_reply, payload))
            except Exception:
                log.exception("writing to Slack failed")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _spaced(self, channel: str, write: Callable[[], None]) -> None:
        wait = self._last_write.get(channel, 0.0) + self.min_interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            write()
        except SlackApiError as e:
            log.warning("Slack refused a write to %s: %s", channel, e.response.get("error"))
        finally:
            self._last_write[channel] = time.monotonic()

    def _write_update(self, snap: RequestSnapshot) -> None:
        with self._cond:
            latest = self._latest.pop(snap.id, None)
        snap = latest or snap  # a newer state arrived while we waited: send that one
        rendered = render.render_request(snap, datetime.now(UTC))
        ts = self._ts.get(snap.id) or snap.message_ts
        if ts is None:
            resp = self.client.chat_postMessage(
                channel=snap.channel_id, text=rendered.text, blocks=rendered.blocks
            )
            ts = str(resp["ts"])
            self._ts[snap.id] = ts
            if self.set_message_ts is not None:
                self.set_message_ts(snap.id, ts)
        else:
            self.client.chat_update(
                channel=snap.channel_id, ts=ts, text=rendered.text, blocks=rendered.blocks
            )

    def _write_reply(self, reply: _Reply) -> None:
        rendered = reply.make()
        self.client.chat_postMessage(
            channel=reply.channel,
            thread_ts=self._ts.get(reply.request_id),
            text=rendered.text,
            blocks=rendered.blocks,
        )
