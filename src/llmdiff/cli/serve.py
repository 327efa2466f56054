"""`llmdiff serve`: a web page and a JSON API for generation, safe to leave running."""

from __future__ import annotations

import argparse
import os


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a web page and a JSON API for generation",
        description="Serve a Gradio page and a JSON API (POST /api/generate) in front of one model. One model "
        "call runs at a time; a bounded number wait, and more are refused with 429. Binds 127.0.0.1 unless "
        "told otherwise; any other address needs an access token. See docs/serve.md.",
    )
    model = parser.add_argument_group("model (as for `llmdiff generate`; none named: the shipped shapes-world "
                                      "model)")
    # One or the other, or neither: the usage line shows both as optional alternatives.
    folder_or_base = model.add_mutually_exclusive_group()
    folder_or_base.add_argument("--model", metavar="DIR", help="model folder holding base/ and adapter/ (and llm/ "
                                "if the LLM ships with it), instead of --base and --adapter")
    folder_or_base.add_argument("--base", help="diffusers SD1.5/SDXL-format model: local dir or hub id "
                       "(default: the shipped shapes-world model)")
    model.add_argument("--llm", help="LLM: local dir, hub id or .gguf file (default: SmolLM2-135M-Instruct)")
    model.add_argument("--adapter", help="adapter dir (default: the shipped model's with no --base, "
                       "else a freshly initialised, untrained one)")
    model.add_argument("--max-length", type=int, help="most LLM tokens a prompt keeps (default: the adapter's, else 512)")
    model.add_argument("--strict", action="store_true", help="refuse prompts over the token limit instead of truncating")
    model.add_argument("--trust-remote-code", action="store_true", help="let an LLM that ships its own modelling "
                       "code run it (refused otherwise; only for a source you trust)")
    model.add_argument("--quantize", choices=("int8", "int4"), help="load the LLM's weights in 8 or 4 bits "
                       "(needs bitsandbytes; default: the adapter's setting, else full precision)")
    model.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    model.add_argument("--dtype", default="auto", help="auto, float32, float16 or bfloat16 (default auto)")

    server = parser.add_argument_group("server")
    server.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need a token)")
    server.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    server.add_argument("--auth-token", help="access token required on every request (default: $LLMDIFF_SERVE_TOKEN)")
    server.add_argument("--output-dir", default="outputs/serve", help="where images are saved (default outputs/serve)")
    server.add_argument("--max-waiting", type=int, default=8, help="requests that may wait for the model (default 8)")
    server.add_argument("--timeout", type=float, default=300, help="seconds a request may wait and run (default 300)")
    server.add_argument("--default-steps", type=int, help="steps when a request names none (default: the model's, "
                        "else 30)")
    server.add_argument("--default-guidance", type=float, help="guidance when a request names none (default: the "
                        "model's, else 7.5)")
    server.add_argument("--no-page", action="store_true", help="serve the JSON API only, without the Gradio page")
    server.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="a Host name the server answers to, e.g. the name a reverse proxy forwards (repeatable; "
                        "default: the loopback names on a loopback address, the bound address on another, any on "
                        "0.0.0.0 or ::)")
    server.add_argument("--read-timeout", type=float, default=10, help="seconds a connection may take to send a "
                        "whole request, or stay idle (default 10)")
    server.add_argument("--max-client-connections", type=int, default=32, help="open connections from one client "
                        "address; more are refused (default 32)")

    limits = parser.add_argument_group("limits per request")
    limits.add_argument("--max-prompt-chars", type=int, default=4000, help="characters per prompt (default 4000)")
    limits.add_argument("--max-images", type=int, default=4, help="images per request (default 4)")
    limits.add_argument("--max-steps", type=int, default=100, help="denoising steps (default 100)")
    limits.add_argument("--max-side", type=int, default=1024, help="pixels per side (default 1024)")
    limits.add_argument("--max-work", type=int, help="pixel-steps per request, width × height × steps × images "
                        "(default: measured at start, what this device does in half of --timeout)")
    parser.set_defaults(func=serve)


def serve(args: argparse.Namespace) -> int:
    import importlib.util
    from dataclasses import replace
    from pathlib import Path

    from llmdiff.cli.generate import _load_pipeline
    from llmdiff.errors import UserError
    from llmdiff.serve.config import ServeConfig
    from llmdiff.serve.limits import Limits

    missing = [name for name in ("gradio", "fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"llmdiff serve needs {', '.join(missing)}: pip install 'llmdiff[serve]'")

    config = ServeConfig(
        host=args.host,
        port=args.port,
        output_dir=Path(args.output_dir),
        auth_token=args.auth_token or ServeConfig.token_from_env(),
        max_waiting=args.max_waiting,
        request_timeout_s=args.timeout,
        allowed_hosts=tuple(args.allowed_host),
        read_timeout_s=args.read_timeout,
        max_client_connections=args.max_client_connections,
        **{name: value for name, value in (("default_steps", args.default_steps),
                                           ("default_guidance", args.default_guidance)) if value is not None},
        limits=Limits(
            max_prompt_chars=args.max_prompt_chars,
            max_images=args.max_images,
            max_steps=args.max_steps,
            max_side=args.max_side,
            max_work=args.max_work,
        ),
    )  # checked before the model loads: a refused --host fails in a second, not a minute
    # The page's display copies of images live beside the outputs, not in a shared temp dir.
    os.environ.setdefault("GRADIO_TEMP_DIR", str((config.output_dir / ".page-cache").resolve()))
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

    from llmdiff.defaults import default_model_dir
    from llmdiff.serve.app import run_server
    from llmdiff.serve.examples import page_examples
    from llmdiff.serve.generation import ImageGenerator

    pipe, sources = _load_pipeline(args)
    # What a request leaves out is the model's own choice (its adapter's generation_config.json).
    steps, guidance = pipe.defaults.fill(args.default_steps, args.default_guidance)
    config = replace(config, default_steps=steps, default_guidance=guidance)
    # The page's examples come from the model served: the folder named, or the shipped one when no base is.
    model_dir = args.model if args.model else (default_model_dir() if args.base is None else None)
    run_server(config, ImageGenerator(pipe, config.output_dir, sources), with_page=not args.no_page,
               examples=page_examples(model_dir))
    return 0
