"""The access token: checked on every request, page and API alike, before any route runs.

Clients send `Authorization: Bearer TOKEN`. A browser cannot add that header to a page load, so opening
`/?token=TOKEN` once sets an HttpOnly cookie and redirects to the clean URL; later page requests carry
the cookie.
"""

from __future__ import annotations

import hmac
import json
from urllib.parse import parse_qs, urlencode

COOKIE = "llmdiff_token"


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
    """ASGI middleware: 401 (HTTP) or close (WebSocket) unless the request carries the token."""

    def __init__(self, app, token: str):
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", []))
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if self._matches(_bearer(headers.get(b"authorization", b""))) or self._matches(_cookie(headers)):
            return await self.app(scope, receive, send)
        if scope["type"] == "http" and self._matches(query.get("token", [""])[0].encode()):
            return await self._set_cookie_and_redirect(scope, query, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        await send_json(
            send,
            401,
            {"error": "missing or wrong access token: send 'Authorization: Bearer TOKEN' (a browser may open "
                      "/?token=TOKEN once)"},
            headers=[(b"www-authenticate", b'Bearer realm="llmdiff"')],
        )

    def _matches(self, candidate: bytes) -> bool:
        # Constant-time comparison: response timing must not reveal how much of a guess was right.
        return bool(candidate) and hmac.compare_digest(candidate, self._token)

    async def _set_cookie_and_redirect(self, scope, query: dict, send) -> None:
        rest = {key: values for key, values in query.items() if key != "token"}
        location = scope.get("root_path", "") + scope["path"] + (f"?{urlencode(rest, doseq=True)}" if rest else "")
        cookie = f"{COOKIE}={self._token.decode()}; HttpOnly; SameSite=Strict; Path=/"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [(b"location", location.encode()), (b"set-cookie", cookie.encode()),
                            (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _bearer(value: bytes) -> bytes:
    scheme, _, credentials = value.partition(b" ")
    return credentials.strip() if scheme.lower() == b"bearer" else b""


def _cookie(headers: dict) -> bytes:
    for part in headers.get(b"cookie", b"").split(b";"):
        name, _, value = part.strip().partition(b"=")
        if name == COOKIE.encode():
            return value
    return b""
