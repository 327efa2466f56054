"""The Gradio page: a paragraph in, images and the settings that made them out.

Generation goes through the same queue as the API, so the page and the API share one model call at a
time and the same limits.
"""

from __future__ import annotations

from concurrent.futures import CancelledError
from functools import partial

import gradio as gr

from llmdiff.errors import UserError
from llmdiff.serve.api import ServerState
from llmdiff.serve.examples import PageExamples, page_examples
from llmdiff.serve.limits import GenerationSettings
from llmdiff.serve.queue import QueueFull, RequestTimedOut, ServerClosing
from llmdiff.text_encoder import validate_prompt

CSS = """
#prompt textarea { font-size: 1.05rem; line-height: 1.45; }
#token-count p { margin: 0; }
"""


def build_page(state: ServerState, examples: PageExamples | None = None) -> gr.Blocks:
    """`examples`: the one-click prompts, from the model served (default: real-world paragraphs)."""
    config, generator = state.config, state.generator
    examples = examples or page_examples(None)
    limits = config.limits
    side = generator.default_side
    # The gallery shows copies of the saved PNGs; an hourly sweep keeps those copies from piling up.
    with gr.Blocks(title="llmdiff", analytics_enabled=False, delete_cache=(3600, 3600)) as page:
        gr.Markdown(
            "## llmdiff\nDescribe the image in a paragraph, in any language: a language model reads it. "
            f"Model: `{generator.sources.get('base', '?')}` · LLM: `{generator.sources.get('llm', '?')}`"
        )
        with gr.Row():
            with gr.Column(scale=5):
                prompt = gr.Textbox(
                    label="Prompt", lines=8, max_lines=20, max_length=limits.max_prompt_chars,
                    placeholder="A paragraph describing the image…", elem_id="prompt",
                )
                token_count = gr.Markdown(token_note(generator, ""), elem_id="token-count")
                gr.Examples(
                    examples=[[text] for text in examples.prompts.values()],
                    inputs=[prompt],
                    example_labels=list(examples.prompts),
                    label=examples.label,
                )
                negative = gr.Textbox(
                    label="Negative prompt", lines=2, max_length=limits.max_prompt_chars,
                    placeholder="What to steer away from (optional)", elem_id="negative-prompt",
                )
                generate = gr.Button("Generate", variant="primary", elem_id="generate")
                with gr.Accordion("Settings", open=True):
                    with gr.Row():
                        steps = gr.Slider(1, limits.max_steps, value=min(config.default_steps, limits.max_steps),
                                          step=1, label="Steps", elem_id="steps")
                        # 20 covers any useful guidance; a higher default of the operator's widens it.
                        guidance = gr.Slider(0, max(20, config.default_guidance), value=config.default_guidance,
                                             step=0.5, label="Guidance")
                    with gr.Row():
                        width = gr.Slider(32, limits.max_side, value=min(side, limits.max_side), step=8, label="Width")
                        height = gr.Slider(32, limits.max_side, value=min(side, limits.max_side), step=8, label="Height")
                    with gr.Row():
                        seed = gr.Number(0, label="Seed", precision=0, minimum=0)
                        randomize = gr.Checkbox(True, label="Random seed")
                        num_images = gr.Slider(1, limits.max_images, value=1, step=1, label="Images")
            with gr.Column(scale=6):
                gallery = gr.Gallery(
                    label="Images", columns=2, height="auto", format="png", elem_id="gallery",
                    buttons=["download", "download_all", "fullscreen"], preview=True, interactive=False,
                )
                status = gr.Markdown("", elem_id="status")
                selected = gr.JSON(label="Settings of the selected image", elem_id="image-settings")
        metadata = gr.State([])

        # The page's own wiring; the documented JSON API is /api/* (see docs/serve.md).
        private = {"api_visibility": "undocumented"}
        prompt.change(partial(token_note, generator), prompt, token_count, show_progress="hidden", queue=False,
                      api_name="page_tokens", **private)
        generate.click(
            _page_handler(state),
            [prompt, negative, steps, guidance, seed, randomize, width, height, num_images],
            [gallery, metadata, selected, seed, status],
            concurrency_limit=config.max_waiting + 1,  # the model queue, not Gradio's, decides who waits
            api_name="page_generate",
            **private,
        )
        gallery.select(_select, metadata, selected, show_progress="hidden", queue=False, api_name="page_select",
                       **private)
    page.queue(max_size=2 * (config.max_waiting + 1))
    state.page = page
    return page


def token_note(generator, prompt: str) -> str:
    """'123 / 250 tokens', with a warning when the encoder will cut the prompt."""
    try:
        validate_prompt(prompt or "")
    except UserError as error:
        return f"⚠️ {error}"
    report = generator.count_tokens(prompt or "")
    if not report.dropped:
        return f"{report.tokens} / {report.limit} tokens"
    if generator.strict:
        return (f"⚠️ **{report.tokens} / {report.limit} tokens**: over the limit; this server refuses such "
                "prompts. Shorten it.")
    return (f"⚠️ **{report.tokens} / {report.limit} tokens**: the last {report.dropped} tokens will be dropped "
            "(truncated) and will not affect the image.")


def _page_handler(state: ServerState):
    # A plain function, not a partial: Gradio finds the `gr.Request` parameter through its type hints.
    def generate(prompt, negative, steps, guidance, seed, randomize, width, height, num_images,
                 progress=gr.Progress(), request: gr.Request = None):
        return _generate(state, prompt, negative, steps, guidance, seed, randomize, width, height, num_images,
                         progress=progress, request=request)

    return generate


def _generate(state: ServerState, prompt, negative, steps, guidance, seed, randomize, width, height, num_images,
              progress=gr.Progress(), request: gr.Request = None):
    settings = GenerationSettings(
        prompts=[prompt or ""],
        negative_prompt=negative or "",
        steps=int(steps),
        guidance=float(guidance),
        seed=None if randomize or seed is None else int(seed),
        width=int(width),
        height=int(height),
        num_images=int(num_images),
    )
    try:
        if not settings.prompts[0].strip():
            raise UserError("write a prompt first")
        state.config.limits.check(settings, state.generator.default_side)
        job = state.queue.submit(partial(state.generator.run, settings), state.config.request_timeout_s)
    except (UserError, QueueFull, ServerClosing) as error:
        raise gr.Error(str(error)) from None

    def show(job):
        if request is not None and _page_left(state.page, request.session_hash):
            job.cancel()  # the browser left: out of the line, or stopped within one module
            return
        if job.steps_total:
            progress((job.steps_done, job.steps_total), desc="Generating", unit="steps")
        else:
            progress(0, desc="Waiting for the model")

    progress(0, desc="Waiting for the model")
    try:
        images = state.queue.wait(job, on_poll=show)
    except (UserError, RequestTimedOut, ServerClosing) as error:
        raise gr.Error(str(error)) from None
    except CancelledError:
        raise gr.Error("cancelled: the page was closed") from None
    records = [image.metadata | {"file": image.name} for image in images]
    items = [(str(image.path), f"seed {image.metadata['seed']}") for image in images]
    dropped = records[0]["llm_tokens_dropped"]
    note = f"{len(images)} image(s), first seed {records[0]['seed']}."
    if dropped:
        note += f" ⚠️ The prompt was truncated: {dropped} tokens were dropped."
    return items, records, records[0], records[0]["seed"], note


def _page_left(page, session_hash: str | None) -> bool:
    """Whether Gradio has marked this page session's running event dead (its browser closed the stream).

    Gradio has no public call for this; its queue's `active_jobs` says it. Anything unexpected there
    counts as still connected, so the worst case is the old one: the request ends at its timeout.
    """
    jobs = getattr(getattr(page, "_queue", None), "active_jobs", None)
    if not session_hash or not isinstance(jobs, list):
        return False
    events = [event for job in jobs if job for event in job if getattr(event, "session_hash", None) == session_hash]
    return bool(events) and not any(getattr(event, "alive", True) for event in events)


def _select(records: list, event: gr.SelectData):
    return records[event.index] if records and 0 <= event.index < len(records) else None
