"""A tiny pipeline shared by the serve tests, and a factory for servers around it."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture(scope="session")
def serve_pipe(tiny_models, tiny_adapter_config):
    from llmdiff.pipeline import LLMDiffusionPipeline

    return LLMDiffusionPipeline.from_pretrained(
        base=tiny_models["sd"], llm=tiny_models["llama"], adapter_config=tiny_adapter_config
    )


@pytest.fixture
def make_app(serve_pipe, tmp_path):
    """`make_app(with_page=False, **ServeConfig fields)` → (FastAPI app, output dir); `limits=Limits()`
    measures the work budget on this machine, as the server does."""
    from llmdiff.serve.app import build_app
    from llmdiff.serve.config import ServeConfig
    from llmdiff.serve.generation import ImageGenerator
    from llmdiff.serve.limits import Limits

    def make(with_page: bool = False, **overrides):
        # TestClient's requests name the host "testserver"; tests of the Host check pass their own list.
        options = {"output_dir": tmp_path / "outputs", "default_steps": 2, "allowed_hosts": ("testserver",),
                   "limits": Limits(max_work=10**12), **overrides}
        config = ServeConfig(**options)
        generator = ImageGenerator(serve_pipe, config.output_dir, {"base": "tiny-sd", "llm": "tiny-llama"})
        return build_app(config, generator, with_page=with_page), config.output_dir

    return make


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """`llmdiff serve` in a child process on loopback, so its memory and survival can be watched."""

    def __init__(self, url: str, process, output_dir):
        self.url = url
        self.process = process
        self.output_dir = output_dir


@pytest.fixture(scope="session")
def live_server(serve_pipe, tiny_models, tmp_path_factory):
    import subprocess
    import sys
    import time

    import httpx

    root = tmp_path_factory.mktemp("live_server")
    serve_pipe.save_adapter(root / "adapter", llm=str(tiny_models["llama"]))
    port = _free_port()
    # The serve subcommand alone, so the test does not depend on every other subcommand importing.
    launcher = (
        "import argparse, sys; from llmdiff.cli import serve; parser = argparse.ArgumentParser(); "
        "serve.register(parser.add_subparsers()); args = parser.parse_args(); sys.exit(args.func(args))"
    )
    command = [
        sys.executable, "-c", launcher, "serve", "--base", str(tiny_models["sd"]), "--adapter", str(root / "adapter"),
        "--port", str(port), "--output-dir", str(root / "outputs"), "--default-steps", "2",
        "--max-waiting", "4", "--timeout", "30",
        "--max-client-connections", "64",  # the load test's 50 clients all come from 127.0.0.1
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    log = open(root / "server.log", "w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}:\n{(root / 'server.log').read_text()}")
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start in 120 s:\n{(root / 'server.log').read_text()}")
            time.sleep(0.5)
        yield LiveServer(url, process, root / "outputs")
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


class ThreadServer:
    """The real uvicorn server (`llmdiff.serve.app.uvicorn_config`) in a thread of the test process."""

    def __init__(self, app, config, **overrides):
        import threading

        import uvicorn

        from llmdiff.serve.app import uvicorn_config

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn_config(app, config, port=self.port, **overrides))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        import time

        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def thread_server(make_app):
    """`thread_server(with_page=False, **ServeConfig fields)` → a started `ThreadServer` (stopped after the test)."""
    import contextlib

    with contextlib.ExitStack() as stack:

        def start(with_page: bool = False, **overrides):
            overrides.setdefault("allowed_hosts", ())  # the loopback names, as a real start has
            app, _ = make_app(with_page=with_page, **overrides)
            return stack.enter_context(ThreadServer(app, app.state.serve.config))

        yield start
