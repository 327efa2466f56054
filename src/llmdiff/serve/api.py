"""The JSON API: `POST /api/generate` and friends, with every refusal a JSON body and a fitting status.

400 malformed JSON · 401 token · 404 no such route or image · 405 wrong method · 413 body too large ·
422 invalid or over a limit · 429 queue full (`Retry-After`) · 503 timed out or shutting down
(`Retry-After`). A client that leaves while its request waits or runs takes it out of the line at once.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import logging
import os
import re
import stat
import time
from dataclasses import asdict, dataclass
from functools import partial

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from llmdiff.errors import UserError
from llmdiff.serve.budget import WorkRate
from llmdiff.serve.config import ServeConfig
from llmdiff.serve.generation import GeneratedImage, ImageGenerator
from llmdiff.serve.limits import GenerationSettings
from llmdiff.serve.queue import DEADLINE_GRACE_S, GenerationQueue, QueueFull, RequestTimedOut, ServerClosing

logger = logging.getLogger(__name__)

IMAGE_NAME = re.compile(r"[0-9A-Za-z_-]{1,96}\.png")
"""Names the server gives its images (about 30 characters); anything else is refused before touching the disk."""

MAX_IMAGE_BYTES = 64 * 2**20
"""Largest file the image route reads: far above any PNG of the largest allowed size."""


@dataclass
class ServerState:
    """What every route shares: the settings, the model behind its queue."""

    config: ServeConfig
    generator: ImageGenerator
    queue: GenerationQueue
    work_rate: WorkRate | None = None
    """what the work budget was measured from; None when the operator set the budget"""
    page: object | None = None
    """the Gradio page, once built (its queue tells when a page's browser has left)"""


class GenerateBody(BaseModel):
    """Prompt(s) and settings; unknown fields and loose types ("5" for 5) are refused, not guessed at."""

    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: str | list[str] = Field(description="one prompt, or a list of prompts")
    negative_prompt: str = ""
    steps: int | None = Field(None, description="omitted: the server's default")
    guidance: float | None = Field(None, description="omitted: the server's default")
    seed: int | None = Field(None, description="seed of the first image; omitted: the server picks one")
    width: int | None = Field(None, description="multiple of 8; omitted: the model's size")
    height: int | None = None
    num_images: int = Field(1, description="images per prompt")
    include_base64: bool = Field(True, description="inline each PNG as base64 (its URL is always given)")

    def settings(self, config: ServeConfig) -> GenerationSettings:
        return GenerationSettings(
            prompts=[self.prompt] if isinstance(self.prompt, str) else list(self.prompt),
            negative_prompt=self.negative_prompt,
            steps=config.default_steps if self.steps is None else self.steps,
            guidance=config.default_guidance if self.guidance is None else self.guidance,
            seed=self.seed,
            width=self.width,
            height=self.height,
            num_images=self.num_images,
        )


class TokensBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    prompt: str


class ApiError(Exception):
    def __init__(self, status: int, message: str, retry_after_s: int | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s
        self.headers = dict(headers or {})
        if retry_after_s:
            self.headers["Retry-After"] = str(retry_after_s)


def build_router(state: ServerState) -> APIRouter:
    router = APIRouter(prefix="/api")
    limits = state.config.limits

    @router.get("/health")
    def health() -> dict:
        return {
            "status": "ok",
            "busy": state.queue.busy,
            "waiting": state.queue.waiting,
            "max_waiting": state.queue.max_waiting,
            "model": state.generator.sources,
        }

    @router.get("/limits")
    def get_limits() -> dict:
        return {
            **asdict(limits),
            "max_waiting": state.config.max_waiting,
            "request_timeout_s": state.config.request_timeout_s,
            "token_limit": state.generator.token_limit,
            "default_side": state.generator.default_side,
            "work_rate": asdict(state.work_rate) if state.work_rate else None,
            # Measured: how long past a deadline or a disconnect the model kept running at most.
            "longest_stop_delay_s": round(state.generator.longest_check_gap_s, 3),
        }

    @router.post("/tokens")
    def tokens(body: TokensBody) -> dict:
        try:
            limits.check_prompt(body.prompt)
        except UserError as error:
            raise ApiError(422, str(error)) from None
        report = state.generator.count_tokens(body.prompt)
        return {"tokens": report.tokens, "limit": report.limit, "dropped": report.dropped}

    @router.post("/generate")
    async def generate(body: GenerateBody, request: Request) -> dict:
        settings = body.settings(state.config)
        try:
            limits.check(settings, state.generator.default_side)
            if state.generator.strict:
                for prompt in settings.prompts:
                    report = state.generator.count_tokens(prompt)
                    if report.dropped:
                        raise UserError(f"the prompt has {report.tokens} tokens; this server keeps at most {report.limit}")
        except UserError as error:
            raise ApiError(422, str(error)) from None
        images = await run_queued(state, settings, request)
        return {
            "images": [_image_json(image, body.include_base64) for image in images],
            "seeds": [image.metadata["seed"] for image in images],
        }

    @router.get("/images/{name}")
    def image(name: str) -> Response:
        shown = name if len(name) <= 60 else name[:57] + "..."
        if not IMAGE_NAME.fullmatch(name):
            raise ApiError(404, f"no image named {shown!r}")
        content = read_image(state.generator.output_dir, name)
        if content is None:
            raise ApiError(404, f"no image named {shown!r}")
        return Response(content, media_type="image/png")

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    @router.api_route("/{rest:path}", methods=methods, include_in_schema=False)
    def no_such_route(request: Request) -> Response:
        # Any /api path the routes above did not take: 405 where the path exists under another method,
        # else 404; without this the page's catch-all would answer in its own format.
        elsewhere = {**request.scope, "method": "\0"}  # a method no route takes: a path match is PARTIAL
        allowed = sorted({
            method for route in router.routes
            if route.path != "/api/{rest:path}" and route.matches(elsewhere)[0] is Match.PARTIAL
            for method in getattr(route, "methods", ())
        })
        if allowed:
            raise ApiError(405, f"{request.method} is not allowed here; use {' or '.join(allowed)}",
                           headers={"Allow": ", ".join(allowed)})
        raise ApiError(404, "no such route; see /api/openapi.json")

    return router


def read_image(output_dir, name: str) -> bytes | None:
    """The bytes of a regular file directly in `output_dir`, never through a link; None when there is none."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        if os.open in os.supports_dir_fd and hasattr(os, "O_NOFOLLOW"):
            directory = os.open(output_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                descriptor = os.open(name, flags, dir_fd=directory)
            finally:
                os.close(directory)
        else:  # no dir_fd or O_NOFOLLOW here: check for a link first (a race a local user could win)
            path = os.path.join(output_dir, name)
            if os.path.islink(path):
                return None
            descriptor = os.open(path, flags)
    except OSError as error:
        if error.errno not in (errno.ENOENT, errno.ELOOP, errno.ENAMETOOLONG, errno.EACCES, errno.ENOTDIR,
                               errno.EMLINK):
            logger.warning("image %s could not be opened: %s", name, error.strerror)
        return None
    try:
        info = os.fstat(descriptor)
        # A hard link could name a file outside the output dir: only files with one name are served.
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_size > MAX_IMAGE_BYTES:
            return None
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            return file.read(MAX_IMAGE_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(descriptor)


async def run_queued(state: ServerState, settings: GenerationSettings, request: Request | None = None
                     ) -> list[GeneratedImage]:
    """Queue a generation and await it without holding a thread; every failure becomes an `ApiError`.

    With `request`, a client that disconnects cancels the job at once: out of the line if it waits,
    stopped at the next module if it runs.
    """
    try:
        job = state.queue.submit(partial(state.generator.run, settings), state.config.request_timeout_s)
    except QueueFull as error:
        raise ApiError(429, str(error), error.retry_after_s) from None
    except ServerClosing as error:
        raise ApiError(503, str(error), 5) from None
    remaining = job.deadline + DEADLINE_GRACE_S - time.monotonic()
    result = asyncio.ensure_future(asyncio.wrap_future(job.future))
    left = asyncio.ensure_future(_disconnected(request)) if request is not None else None
    try:
        done, _ = await asyncio.wait([result] + ([left] if left else []), timeout=remaining,
                                     return_when=asyncio.FIRST_COMPLETED)
        if result in done:
            return result.result()
        job.cancel()
        if left is not None and left in done:
            logger.info("client left: its request was cancelled")
            raise ApiError(499, "the client closed the connection")  # nobody reads this answer
        raise asyncio.TimeoutError
    except (asyncio.TimeoutError, RequestTimedOut):
        job.cancel()
        raise ApiError(
            503,
            f"the request did not finish within {state.config.request_timeout_s:g} s and was cancelled",
            state.queue.retry_after_s(state.queue.waiting + 1),
        ) from None
    except asyncio.CancelledError:
        job.cancel()  # the server cancelled the handler: free the model for the next request
        raise
    except ServerClosing as error:
        raise ApiError(503, str(error), 5) from None
    except UserError as error:
        raise ApiError(422, str(error)) from None
    finally:
        if left is not None:
            left.cancel()
        if not result.done():
            result.cancel()


async def _disconnected(request: Request) -> None:
    """Return once the client has closed its connection (the body has been read by then)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _image_json(image: GeneratedImage, include_base64: bool) -> dict:
    entry = {"name": image.name, "url": f"/api/images/{image.name}", "metadata": image.metadata}
    if include_base64:
        entry["png_base64"] = base64.b64encode(image.path.read_bytes()).decode("ascii")
    return entry


def install_error_handlers(app: FastAPI) -> None:
    """Every error of the API as `{"error": message}` (+ `details` for field errors)."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=error.status, headers=error.headers or None)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        if any(problem.get("type") == "json_invalid" for problem in problems):
            return JSONResponse({"error": "the request body is not valid JSON"}, status_code=400)
        details = [
            {"field": ".".join(str(part) for part in problem["loc"] if part != "body") or "body",
             "message": problem["msg"]}
            for problem in problems
        ]
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        return JSONResponse({"error": f"invalid request: {summary}", "details": details}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code, headers=error.headers)
