"""Wiring: the JSON API and the page on one FastAPI app, behind the gates, and the server around it.

Outermost first: every error as JSON (`errors`), the Host check and the same-origin rule (`origins`),
the token (`auth`), the body limit (`limits`), the page's file alias (`page_files`); below the app, uvicorn's protocol with read deadlines
and a per-client connection cap (`connections`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from pathlib import Path

from fastapi import FastAPI

from llmdiff.serve.api import ApiError, ServerState, build_router, install_error_handlers
from llmdiff.serve.auth import TokenGate
from llmdiff.serve.config import ServeConfig
from llmdiff.serve.errors import ErrorJson
from llmdiff.serve.examples import PageExamples
from llmdiff.serve.generation import ImageGenerator
from llmdiff.serve.limits import BodySizeLimit
from llmdiff.serve.origins import HostCheck, SameOrigin
from llmdiff.serve.queue import GenerationQueue

logger = logging.getLogger(__name__)

PAGE_UNUSED_ROUTES = ("/gradio_api/upload", "/gradio_api/upload_progress")
"""Gradio routes the page never calls (it takes no files): closed, so nobody can store files through them."""


class ServeApp(FastAPI):
    """FastAPI with `ErrorJson` outside even Starlette's own error layer."""

    def build_middleware_stack(self):
        return ErrorJson(super().build_middleware_stack())


def build_app(config: ServeConfig, generator: ImageGenerator, with_page: bool = True,
              examples: PageExamples | None = None) -> FastAPI:
    """The whole server as an ASGI app; `with_page=False` leaves out Gradio (API only); `examples` are the
    page's one-click prompts (default: real-world paragraphs).

    A config whose `limits.max_work` is None gets the budget measured on the device here.
    """
    rate = None
    if config.limits.max_work is None:
        from llmdiff.serve.budget import measure_work_rate

        rate = measure_work_rate(generator, config.default_guidance)
        # One step at the model's own size is always allowed: the timeout still bounds it.
        budget = rate.max_work(config.request_timeout_s, at_least=generator.default_side**2)
        config = dataclasses.replace(config, limits=dataclasses.replace(config.limits, max_work=budget))
        logger.info("work budget: %d pixel-steps per request", budget)
    state = ServerState(config=config, generator=generator, queue=GenerationQueue(config.max_waiting),
                        work_rate=rate)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        state.queue.close()  # waiting requests get 503 instead of hanging through shutdown

    # The interactive docs pages load scripts from a CDN, which an offline server cannot reach; the
    # schema itself is served.
    app = ServeApp(title="llmdiff", lifespan=lifespan, docs_url=None, redoc_url=None,
                   openapi_url="/api/openapi.json")
    app.state.serve = state
    install_error_handlers(app)
    app.include_router(build_router(state))
    if with_page:
        import gradio as gr

        from llmdiff.serve.page import CSS, build_page

        def closed():
            raise ApiError(404, "this server takes no uploads")

        for path in PAGE_UNUSED_ROUTES:  # before the page's mount, so these answer first
            app.add_api_route(path, closed, methods=["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"],
                              include_in_schema=False)
        app = gr.mount_gradio_app(
            app, build_page(state, examples), path="/", ssr_mode=False, run_history=False, footer_links=[],
            show_error=True, css=CSS, mcp_server=False, enable_monitoring=False, pwa=False,
        )
        from gradio.utils import get_upload_folder

        from llmdiff.serve.page_files import PageFileAlias

        app.add_middleware(PageFileAlias, cache_dir=str(Path(get_upload_folder()).resolve()))
    # Added last runs first: refuse a request from elsewhere or without the token before reading its body.
    app.add_middleware(BodySizeLimit, max_bytes=config.limits.max_body_bytes)
    if config.auth_token is not None:
        app.add_middleware(TokenGate, token=config.auth_token)
    app.add_middleware(SameOrigin)
    names = config.host_names()
    if names is not None:
        app.add_middleware(HostCheck, names=names)
    return app


def uvicorn_config(app, config: ServeConfig, **overrides):
    """uvicorn's settings for this server: read deadlines, connection caps, quiet logs."""
    import uvicorn

    from llmdiff.serve.connections import guarded_protocol

    options = dict(
        host=config.host,
        port=config.port,
        log_level="warning",
        http=guarded_protocol(config.read_timeout_s, config.max_client_connections),
        # Counted after the per-client cap: beyond it uvicorn itself answers 503.
        limit_concurrency=config.max_connections,
        timeout_keep_alive=max(1, min(5, int(config.read_timeout_s))),
        timeout_graceful_shutdown=5,
        h11_max_incomplete_event_size=16 * 1024,  # request line and headers; no client needs more
        server_header=False,
    )
    return uvicorn.Config(app, **{**options, **overrides})


def run_server(config: ServeConfig, generator: ImageGenerator, with_page: bool = True,
               examples: PageExamples | None = None) -> None:
    import uvicorn

    app = build_app(config, generator, with_page=with_page, examples=examples)
    where = f"http://{'[' + config.host + ']' if ':' in config.host else config.host}:{config.port}/"
    limits = app.state.serve.config.limits
    print(f"llmdiff serve: {where} (outputs in {config.output_dir}; at most {limits.max_work:,} pixel-steps "
          "per request)", flush=True)
    uvicorn.Server(uvicorn_config(app, config)).run()
