"""Connection hygiene below the app, where middleware cannot reach: uvicorn's HTTP protocol, guarded.

uvicorn has no deadline for reading a request and counts idle sockets against its connection limit,
so a few hundred sockets that never finish a request refuse everyone else. Each connection here must
deliver a whole request (headers and body) within `read_timeout_s` of opening or of its previous
response, or it is closed; and one client address may hold at most `max_per_client` connections — the
next is answered 503 and closed at once.
"""

from __future__ import annotations

import collections
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def guarded_protocol(read_timeout_s: float, max_per_client: int) -> type[H11Protocol]:
    """An `H11Protocol` class with these limits, its own per-address counts (one per server)."""
    open_per_client: collections.Counter[str] = collections.Counter()
    refusal = _refusal()

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport) -> None:
            self._read_timer = None
            self._counted = None
            peer = transport.get_extra_info("peername")
            address = peer[0] if isinstance(peer, tuple) and peer else "?"
            if open_per_client[address] >= max_per_client:
                self._refused = True
                transport.write(refusal)
                transport.close()
                return
            self._refused = False
            open_per_client[address] += 1
            self._counted = address
            super().connection_made(transport)
            self._arm_read_timer()

        def connection_lost(self, exc) -> None:
            if self._refused:
                return
            self._release()
            self._disarm_read_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            super().data_received(data)
            if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
                self._disarm_read_timer()  # the whole request is in: the app's time now, not the client's

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
                self._arm_read_timer()  # a kept-alive connection gets the same deadline for its next request

        def handle_websocket_upgrade(self, event) -> None:
            self._disarm_read_timer()
            self._release()  # the WebSocket protocol owns the socket from here
            super().handle_websocket_upgrade(event)

        def _release(self) -> None:
            if self._counted is not None:
                open_per_client[self._counted] -= 1
                if open_per_client[self._counted] <= 0:
                    del open_per_client[self._counted]
                self._counted = None

        def _arm_read_timer(self) -> None:
            self._disarm_read_timer()
            self._read_timer = self.loop.call_later(read_timeout_s, self._read_timed_out)

        def _disarm_read_timer(self) -> None:
            if self._read_timer is not None:
                self._read_timer.cancel()
                self._read_timer = None

        def _read_timed_out(self) -> None:
            self._read_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    GuardedH11Protocol.open_per_client = open_per_client
    return GuardedH11Protocol


def _refusal() -> bytes:
    body = json.dumps({"error": "too many open connections from your address; close some and retry"}).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
        f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body
