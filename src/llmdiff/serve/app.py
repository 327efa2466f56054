"""Wiring: the JSON API and the page on one FastAPI app, behind the body limit and the token gate."""

from __future__ import annotations

import contextlib
import logging

from fastapi import FastAPI

from llmdiff.serve.api import ServerState, build_router, install_error_handlers
from llmdiff.serve.auth import TokenGate
from llmdiff.serve.config import ServeConfig
from llmdiff.serve.generation import ImageGenerator
from llmdiff.serve.limits import BodySizeLimit
from llmdiff.serve.queue import GenerationQueue

logger = logging.getLogger(__name__)


def build_app(config: ServeConfig, generator: ImageGenerator, with_page: bool = True) -> FastAPI:
    """The whole server as an ASGI app; `with_page=False` leaves out Gradio (API only)."""
    state = ServerState(config=config, generator=generator, queue=GenerationQueue(config.max_waiting))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        state.queue.close()  # waiting requests get 503 instead of hanging through shutdown

    # The interactive docs pages load scripts from a CDN, which an offline server cannot reach; the
    # schema itself is served.
    app = FastAPI(title="llmdiff", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.state.serve = state
    install_error_handlers(app)
    app.include_router(build_router(state))
    if with_page:
        import gradio as gr

        from llmdiff.serve.page import CSS, build_page

        app = gr.mount_gradio_app(
            app, build_page(state), path="/", ssr_mode=False, run_history=False, footer_links=[],
            show_error=True, css=CSS, mcp_server=False, enable_monitoring=False, pwa=False,
        )
    # Added last runs first: refuse a request without the token before reading any of its body.
    app.add_middleware(BodySizeLimit, max_bytes=config.limits.max_body_bytes)
    if config.auth_token is not None:
        app.add_middleware(TokenGate, token=config.auth_token)
    return app


def run_server(config: ServeConfig, generator: ImageGenerator, with_page: bool = True) -> None:
    import uvicorn

    app = build_app(config, generator, with_page=with_page)
    where = f"http://{'[' + config.host + ']' if ':' in config.host else config.host}:{config.port}/"
    print(f"llmdiff serve: {where} (outputs in {config.output_dir})", flush=True)
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level="warning",
        # Open connections beyond this get 503 from uvicorn itself, before any of our code runs.
        limit_concurrency=256,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=5,
    )
