"""A local WebSocket endpoint standing in for Slack's Socket Mode, so a real slack_sdk Socket Mode
client can connect, receive envelopes and ack them without a public endpoint or network.

The flow is Slack's: ``apps.connections.open`` (answered by the Web API stub) hands out a
``ws://…/link/?ticket=…`` URL from :meth:`SocketModeStub.new_url`; the server greets each
connection with ``{"type": "hello"}``; the test pushes envelopes with :meth:`send_envelope` and
waits for the client's ``{"envelope_id": …}`` ack with :meth:`wait_ack`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

# Interactive payload types whose envelope lets the ack carry a response (modal updates, options).
_RESPONSE_PAYLOAD_TYPES = frozenset({"view_submission", "block_suggestion"})


class SocketModeStub:
    """Slack's Socket Mode WebSocket server, on 127.0.0.1 with a random free port.

    The server pings clients every ``ping_interval`` seconds, as Slack does. Keeping it short
    also matters for slack_sdk's builtin client: its ``close()`` waits for a lock that the
    receive loop holds until ``recv`` returns, which on a plain ``ws://`` socket otherwise
    takes up to its hard-coded 3 s socket timeout.
    """

    def __init__(
        self, *, host: str = "127.0.0.1", app_id: str = "A0KSMC", ping_interval: float = 0.25
    ) -> None:
        self.host = host
        self.app_id = app_id
        self.ping_interval = ping_interval
        self._lock = threading.Condition()
        self._tickets: set[str] = set()
        self._connections: list[ServerConnection] = []
        self._acks: dict[str, dict[str, Any]] = {}
        self._sent: list[dict[str, Any]] = []
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._server = serve(
            self._handle,
            self.host,
            0,
            process_request=self._check_ticket,
            compression=None,
            ping_interval=self.ping_interval,
            close_timeout=2,
        )
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="slackstub-socket-mode", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    # what apps.connections.open hands out ----------------------------------------------------

    def new_url(self) -> str:
        """A fresh one-ticket URL, as ``apps.connections.open`` returns."""
        ticket = str(uuid.uuid4())
        with self._lock:
            self._tickets.add(ticket)
        return f"ws://{self.host}:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"

    # test-facing API -------------------------------------------------------------------------

    @property
    def connection_count(self) -> int:
        with self._lock:
            return len(self._connections)

    def wait_connected(self, timeout: float = 10.0, count: int = 1) -> bool:
        """Wait until at least ``count`` clients are connected (and greeted)."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self._connections) >= count, timeout)

    def send_envelope(
        self,
        type: str,
        payload: Mapping[str, Any],
        *,
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float = 10.0,
    ) -> str:
        """Push one envelope (``slash_commands`` | ``interactive`` | ``events_api``) to the most
        recently connected client, waiting up to ``timeout`` for one; returns its envelope_id."""
        if accepts_response_payload is None:
            accepts_response_payload = type == "slash_commands" or (
                type == "interactive" and payload.get("type") in _RESPONSE_PAYLOAD_TYPES
            )
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": dict(payload),
            "type": type,
            "accepts_response_payload": accepts_response_payload,
        }
        if type == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        self._send(envelope, timeout)
        return envelope_id

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any] | None:
        """The client's ack message for ``envelope_id`` (with any ``payload``), or None."""
        with self._lock:
            self._lock.wait_for(lambda: envelope_id in self._acks, timeout)
            return self._acks.get(envelope_id)

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Every message the server sent (hello, envelopes, disconnects), in order."""
        with self._lock:
            return list(self._sent)

    # server internals ------------------------------------------------------------------------

    def _send(self, message: dict[str, Any], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if not self._lock.wait_for(
                    lambda: bool(self._connections), max(0.0, deadline - time.monotonic())
                ):
                    raise TimeoutError(f"no Socket Mode client connected within {timeout}s")
                connection = self._connections[-1]
                self._sent.append(message)
            try:
                connection.send(json.dumps(message))
                return
            except ConnectionClosed:
                self._forget(connection)

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        tickets = parse_qs(url.query).get("ticket", [])
        with self._lock:
            valid = (
                url.path.rstrip("/") == "/link" and bool(tickets) and tickets[0] in self._tickets
            )
            if valid:
                self._tickets.discard(tickets[0])
        if not valid:
            return connection.respond(401, "invalid or reused ticket: call apps.connections.open\n")
        return None

    def _forget(self, connection: ServerConnection) -> None:
        with self._lock:
            if connection in self._connections:
                self._connections.remove(connection)
            self._lock.notify_all()

    def _handle(self, connection: ServerConnection) -> None:
        hello = {
            "type": "hello",
            "num_connections": self.connection_count + 1,
            "debug_info": {
                "host": "slackstub",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }
        try:
            connection.send(json.dumps(hello))
            with self._lock:
                self._sent.append(hello)
                self._connections.append(connection)
                self._lock.notify_all()
            for raw in connection:
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(message, dict):
                    continue
                with self._lock:
                    envelope_id = message.get("envelope_id")
                    if isinstance(envelope_id, str):
                        self._acks.setdefault(envelope_id, message)
                    self._lock.notify_all()
        except ConnectionClosed:
            pass
        finally:
            self._forget(connection)
