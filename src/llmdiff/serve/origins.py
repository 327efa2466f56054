"""Who may talk to the server from a browser: its own origin only.

`HostCheck` refuses a Host header the server does not answer to (a page whose name was rebound to
127.0.0.1 — DNS rebinding — sends its own name). `SameOrigin` refuses requests a browser sends on
behalf of another origin (another site, another port of this host, a sibling subdomain) and removes
every CORS header, so no other origin can read a response; a link followed from elsewhere still opens
the page.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from llmdiff.serve.auth import send_json


def host_name(value: str) -> str:
    """The name in a Host header or an origin's netloc: `[::1]:7860` → `::1`, `Example.com.:80` → `example.com`."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0].rstrip(".") if value.count(":") == 1 else value.rstrip(".")


class HostCheck:
    """ASGI middleware: 400 (HTTP) or close (WebSocket) unless the Host header names an allowed host."""

    def __init__(self, app, names: frozenset[str]):
        self.app = app
        self.names = names

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
        if host_name(host) in self.names:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        await send_json(send, 400, {"error": "this server does not answer to that Host name; an operator can "
                                             "allow it with --allowed-host"})


class SameOrigin:
    """ASGI middleware: 403 for requests from another origin; no CORS header in any response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        if _foreign(scope):
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            return await send_json(send, 403, {"error": "requests from other origins are refused"})

        async def without_cors(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [(key, value) for key, value in message.get("headers", [])
                                                  if not key.lower().startswith(b"access-control-")]}
            await send(message)

        await self.app(scope, receive, without_cors)


def _foreign(scope) -> bool:
    headers = dict(scope.get("headers", []))
    origin = headers.get(b"origin")
    if origin is not None:
        # Scheme left out: behind a TLS proxy the page is https and the server sees http.
        netloc = urlsplit(origin.decode("latin-1")).netloc.lower()
        if not netloc or netloc != headers.get(b"host", b"").decode("latin-1").lower():
            return True
    site = headers.get(b"sec-fetch-site", b"same-origin")
    if site in (b"cross-site", b"same-site"):
        # Ports and subdomains count as the same site: only a plain navigation (a followed link) may come.
        navigation = headers.get(b"sec-fetch-mode") == b"navigate" and scope.get("method") in ("GET", "HEAD")
        return not navigation
    return False
