"""The JSON API: `POST /api/generate` and friends, with every refusal a JSON body and a fitting status.

400 malformed JSON · 401 token · 413 body too large · 422 invalid or over a limit · 429 queue full
(`Retry-After`) · 503 timed out or shutting down (`Retry-After`).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from dataclasses import asdict, dataclass
from functools import partial

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from llmdiff.errors import UserError
from llmdiff.serve.config import ServeConfig
from llmdiff.serve.generation import GeneratedImage, ImageGenerator
from llmdiff.serve.limits import GenerationSettings
from llmdiff.serve.queue import DEADLINE_GRACE_S, GenerationQueue, QueueFull, RequestTimedOut, ServerClosing

logger = logging.getLogger(__name__)

IMAGE_NAME = re.compile(r"[0-9A-Za-z_-]+\.png")
"""Names the server gives its images; anything else is refused before touching the file system."""


@dataclass
class ServerState:
    """What every route shares: the settings, the model behind its queue."""

    config: ServeConfig
    generator: ImageGenerator
    queue: GenerationQueue


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
    def __init__(self, status: int, message: str, retry_after_s: int | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


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
        }

    @router.post("/tokens")
    def tokens(body: TokensBody) -> dict:
        if len(body.prompt) > limits.max_prompt_chars:
            raise ApiError(422, f"the prompt has {len(body.prompt)} characters; the limit is {limits.max_prompt_chars}")
        report = state.generator.count_tokens(body.prompt)
        return {"tokens": report.tokens, "limit": report.limit, "dropped": report.dropped}

    @router.post("/generate")
    async def generate(body: GenerateBody) -> dict:
        settings = body.settings(state.config)
        try:
            limits.check(settings)
            if state.generator.strict:
                for prompt in settings.prompts:
                    report = state.generator.count_tokens(prompt)
                    if report.dropped:
                        raise UserError(f"the prompt has {report.tokens} tokens; this server keeps at most {report.limit}")
        except UserError as error:
            raise ApiError(422, str(error)) from None
        images = await run_queued(state, settings)
        return {
            "images": [_image_json(image, body.include_base64) for image in images],
            "seeds": [image.metadata["seed"] for image in images],
        }

    @router.get("/images/{name}")
    def image(name: str) -> FileResponse:
        path = state.generator.output_dir / name
        if not IMAGE_NAME.fullmatch(name) or not path.is_file():
            raise ApiError(404, f"no image named {name!r}")
        return FileResponse(path, media_type="image/png")

    return router


async def run_queued(state: ServerState, settings: GenerationSettings) -> list[GeneratedImage]:
    """Queue a generation and await it without holding a thread; every failure becomes an `ApiError`."""
    try:
        job = state.queue.submit(partial(state.generator.run, settings), state.config.request_timeout_s)
    except QueueFull as error:
        raise ApiError(429, str(error), error.retry_after_s) from None
    except ServerClosing as error:
        raise ApiError(503, str(error), 5) from None
    remaining = job.deadline + DEADLINE_GRACE_S - time.monotonic()
    try:
        return await asyncio.wait_for(asyncio.wrap_future(job.future), timeout=remaining)
    except (asyncio.TimeoutError, RequestTimedOut):
        job.cancel()
        raise ApiError(
            503,
            f"the request did not finish within {state.config.request_timeout_s:g} s and was cancelled",
            state.queue.retry_after_s(state.queue.waiting + 1),
        ) from None
    except asyncio.CancelledError:
        job.cancel()  # the client went away: free the model for the next request
        raise
    except ServerClosing as error:
        raise ApiError(503, str(error), 5) from None
    except UserError as error:
        raise ApiError(422, str(error)) from None


def _image_json(image: GeneratedImage, include_base64: bool) -> dict:
    entry = {"name": image.name, "url": f"/api/images/{image.name}", "metadata": image.metadata}
    if include_base64:
        entry["png_base64"] = base64.b64encode(image.path.read_bytes()).decode("ascii")
    return entry


def install_error_handlers(app: FastAPI) -> None:
    """Every error of the API as `{"error": message}` (+ `details` for field errors)."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        headers = {"Retry-After": str(error.retry_after_s)} if error.retry_after_s else None
        return JSONResponse({"error": str(error)}, status_code=error.status, headers=headers)

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

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code, headers=error.headers)
