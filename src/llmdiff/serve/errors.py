"""Every error the server answers, whatever raised it, as `{"error": message}` JSON with no file path.

The routes answer so themselves; this outermost layer catches the rest — Gradio's `{"detail": ...}`,
plain-text 500s, an exception no handler took — and logs an unexpected exception as one line instead
of a traceback per request.
"""

from __future__ import annotations

import json
import logging
import os
import re
from http import HTTPStatus

from starlette.requests import ClientDisconnect

from llmdiff.serve.auth import send_json

logger = logging.getLogger(__name__)

MAX_ERROR_BYTES = 64 * 1024
"""Most of an error body read back for rewriting; the rest is dropped."""


def _path_pattern() -> re.Pattern:
    # Absolute paths start with one of this machine's top-level directories; URL paths (/api/...) do not.
    try:
        tops = sorted(name for name in os.listdir("/") if re.fullmatch(r"[\w.-]+", name))
    except OSError:
        tops = []
    tops = tops or ["home", "tmp", "usr", "var", "etc", "root"]
    return re.compile(r"(?<![\w.:/])/(?:" + "|".join(map(re.escape, tops)) + r")(?=/|\b)[^\s'\"<>,;)\]}]*")


PATH = _path_pattern()


def scrub_paths(text: str) -> str:
    """`text` with every absolute file-system path replaced by `<path>`."""
    return PATH.sub("<path>", text)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "error"


def error_message(status: int, content_type: bytes, body: bytes) -> str:
    """The message a non-JSON-error response meant, in our words; paths scrubbed."""
    if content_type.startswith(b"application/json"):
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            for key in ("error", "detail"):
                if isinstance(payload.get(key), str) and payload[key]:
                    return scrub_paths(payload[key])
    if status >= 500:
        return "internal server error"  # a plain-text 500 is a traceback's last line at best
    return _phrase(status)


class ErrorJson:
    """ASGI middleware, outermost: rewrites every response with status ≥ 400 to `{"error": ...}`."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        held: dict = {}
        chunks: list[bytes] = []
        state = {"started": False, "rewritten": False}

        async def rewriting_send(message):
            if message["type"] == "http.response.start":
                state["started"] = True
                if message["status"] < 400:
                    return await send(message)
                held.update(message)
                return
            if message["type"] == "http.response.body" and held:
                if sum(map(len, chunks)) < MAX_ERROR_BYTES:
                    chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                await self._send_rewritten(held, b"".join(chunks)[:MAX_ERROR_BYTES], send)
                state["rewritten"] = True
                return
            await send(message)

        try:
            await self.app(scope, receive, rewriting_send)
        except ClientDisconnect:
            return  # the client left mid-request (or was cut off for sending too slowly): nobody to answer
        except Exception as error:  # noqa: BLE001 - answered and logged here, the server lives on
            logger.error("%s %s failed: %s: %s", scope.get("method"), scope.get("path", "")[:200],
                         type(error).__name__, scrub_paths(str(error))[:200])
            if not state["started"]:
                await send_json(send, 500, {"error": "internal server error"})
            elif held and not state["rewritten"]:
                await self._send_rewritten(held, b"", send)

    @staticmethod
    async def _send_rewritten(start: dict, body: bytes, send) -> None:
        status = start["status"]
        headers = start.get("headers", [])
        content_type = next((value for key, value in headers if key.lower() == b"content-type"), b"")
        if content_type.startswith(b"application/json"):
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
            if isinstance(payload, dict) and isinstance(payload.get("error"), str):
                # Already ours: only paths go.
                payload["error"] = scrub_paths(payload["error"])
                await send_json(send, status, payload, _kept(headers))
                return
        await send_json(send, status, {"error": error_message(status, content_type, body)}, _kept(headers))


def _kept(headers) -> list[tuple[bytes, bytes]]:
    return [(key, value) for key, value in headers if key.lower() not in (b"content-type", b"content-length")]
