"""The page's image copies under a public alias, so no page response shows where the server keeps them.

Gradio names every file it serves by its absolute path (`/gradio_api/file=/srv/…/.page-cache/…/x.png`,
and the same path in each file's `path` field). `PageFileAlias` writes `/page-files` for the cache
folder in every page response, and maps requests for `/gradio_api/file=/page-files/…` back to it.
"""

from __future__ import annotations

from urllib.parse import quote

ALIAS = "/page-files"
FILE_ROUTE = "/gradio_api/file="


class PageFileAlias:
    """ASGI middleware: the page cache folder as `ALIAS`, in requests and in page responses."""

    def __init__(self, app, cache_dir: str):
        self.app = app
        cache_dir = cache_dir.rstrip("/")
        self.cache_dir = cache_dir
        # Gradio writes the path as is in `path` and percent-encoded in `url`.
        self.replacements = [(variant.encode(), ALIAS.encode()) for variant in {cache_dir, quote(cache_dir, safe="/")}]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith("/api/"):
            return await self.app(scope, receive, send)
        if scope["path"].startswith(FILE_ROUTE + ALIAS + "/"):
            rest = scope["path"][len(FILE_ROUTE + ALIAS):]
            path = FILE_ROUTE + self.cache_dir + rest
            scope = {**scope, "path": path, "raw_path": quote(path, safe="/=").encode()}
        replacer = _StreamReplacer(self.replacements)

        async def aliasing_send(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
                message = {**message, "headers": headers}  # the length changes: sent chunked instead
            elif message["type"] == "http.response.body":
                more = message.get("more_body", False)
                message = {**message, "body": replacer.feed(message.get("body", b""), final=not more)}
            await send(message)

        await self.app(scope, receive, aliasing_send)


class _StreamReplacer:
    """Replaces byte strings in a stream of chunks, also where one is split across two chunks."""

    def __init__(self, replacements: list[tuple[bytes, bytes]]):
        self.replacements = replacements
        self.longest = max(len(old) for old, _ in replacements)
        self.held = b""

    def feed(self, chunk: bytes, final: bool) -> bytes:
        data = self.held + chunk
        for old, new in self.replacements:
            data = data.replace(old, new)
        keep = 0 if final else self._partial_tail(data)
        self.held = data[len(data) - keep:] if keep else b""
        return data[: len(data) - keep]

    def _partial_tail(self, data: bytes) -> int:
        """Length of the longest end of `data` that could begin a string to replace."""
        for length in range(min(self.longest - 1, len(data)), 0, -1):
            tail = data[-length:]
            if any(old.startswith(tail) for old, _ in self.replacements):
                return length
        return 0
