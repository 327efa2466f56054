"""The access token: checked on every request, page and API alike, before any route runs.

Clients send `Authorization: Bearer TOKEN`. A browser cannot add that header to a page load, so opening
`/?token=TOKEN` once (a GET) starts a session: an HttpOnly, SameSite=Strict cookie holding a random
session id, never the token, then a redirect to the same path on this server. On plain HTTP a browser
sends a host's cookies to all its ports; the session id is only good on this server, until it expires
or the server restarts, and requests from other origins are refused before they get here (`origins`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict
from urllib.parse import parse_qs, quote, urlencode

COOKIE = "llmdiff_session"
SESSION_S = 12 * 3600
"""How long a browser session lasts before the token link must be opened again."""
MAX_SESSIONS = 1000
"""Sessions kept at once; the oldest goes first."""


async def send_json(send, status: int, body: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    """A complete JSON response from raw ASGI, for middleware that answers before any route."""
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                        *headers],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class TokenGate:
    """ASGI middleware: 401 (HTTP) or close (WebSocket) unless the request carries the token or a session."""

    def __init__(self, app, token: str):
        self.app = app
        self._token = token.encode()
        self._sessions: OrderedDict[bytes, float] = OrderedDict()  # sha256(session id) -> expiry

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", []))
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if self._matches(_bearer(headers.get(b"authorization", b""))) or self._session_valid(
            _cookie(headers, _cookie_name(scope))
        ):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        if self._matches(query.get("token", [""])[0].encode()):
            if scope["method"] in ("GET", "HEAD"):
                return await self._start_session(scope, query, send)
            # A redirect would drop the body: say what to send instead.
            return await _unauthorized(send, f"?token= only starts a browser session on GET; send {scope['method']} "
                                             "requests with 'Authorization: Bearer TOKEN'")
        await _unauthorized(send, "missing or wrong access token: send 'Authorization: Bearer TOKEN' (a browser "
                                  "may open /?token=TOKEN once)")

    def _matches(self, candidate: bytes) -> bool:
        # Constant-time comparison: response timing must not reveal how much of a guess was right.
        return bool(candidate) and hmac.compare_digest(candidate, self._token)

    def _session_valid(self, session: bytes) -> bool:
        if not session:
            return False
        key = hashlib.sha256(session).digest()
        expiry = self._sessions.get(key)
        if expiry is None:
            return False
        if expiry < time.time():
            self._sessions.pop(key, None)
            return False
        return True

    async def _start_session(self, scope, query: dict, send) -> None:
        session = secrets.token_urlsafe(32)
        self._sessions[hashlib.sha256(session.encode()).digest()] = time.time() + SESSION_S
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        rest = {key: values for key, values in query.items() if key != "token"}
        location = same_origin_path(scope["path"]) + (f"?{urlencode(rest, doseq=True)}" if rest else "")
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = (f"{_cookie_name(scope)}={session}; HttpOnly; SameSite=Strict; Path=/; "
                  f"Max-Age={SESSION_S}{secure}")
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [(b"location", location.encode()), (b"set-cookie", cookie.encode()),
                            (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def same_origin_path(path: str) -> str:
    """`path` as a redirect target that stays on this server: one leading slash, nothing a browser could
    read as another host (`//evil.example/`, `/\\evil.example`)."""
    return "/" + quote(path, safe="/:@!$&'()*+,;=-._~").lstrip("/")


async def _unauthorized(send, message: str) -> None:
    await send_json(send, 401, {"error": message}, headers=[(b"www-authenticate", b'Bearer realm="llmdiff"')])


def _cookie_name(scope) -> str:
    # One name per server port, so two servers on one host do not overwrite each other's session.
    server = scope.get("server") or (None, None)
    return f"{COOKIE}_{server[1]}" if server[1] else COOKIE


def _bearer(value: bytes) -> bytes:
    scheme, _, credentials = value.partition(b" ")
    return credentials.strip() if scheme.lower() == b"bearer" else b""


def _cookie(headers: dict, name: str) -> bytes:
    for part in headers.get(b"cookie", b"").split(b";"):
        key, _, value = part.strip().partition(b"=")
        if key == name.encode():
            return value
    return b""
