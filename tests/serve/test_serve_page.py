"""The page's generate handler, called directly: limits, queue and progress wiring."""

import gradio as gr
import pytest

from llmdiff.serve.page import _generate


class ProgressRecorder:
    def __init__(self):
        self.calls = []

    def __call__(self, value, desc=None, unit=None):
        self.calls.append((value, desc))


@pytest.fixture
def state(make_app):
    app, _ = make_app(with_page=True)
    return app.state.serve


def run(state, prompt="a lighthouse at dusk", **overrides):
    settings = dict(negative="", steps=2, guidance=7.5, seed=5, randomize=False, width=32, height=32, num_images=2)
    settings.update(overrides)
    progress = ProgressRecorder()
    return _generate(state, prompt, *settings.values(), progress=progress), progress


def test_generate_fills_gallery_settings_and_seed(state):
    (items, records, selected, seed, note), progress = run(state)
    assert [caption for _, caption in items] == ["seed 5", "seed 6"]
    assert [r["seed"] for r in records] == [5, 6] and selected == records[0] and seed == 5
    assert all(path.startswith(str(state.generator.output_dir)) for path, _ in items)
    assert note.startswith("2 image(s)")
    assert progress.calls[0] == (0, "Waiting for the model")


def test_truncated_prompt_is_noted(state):
    from llmdiff.text_encoder import TruncationWarning

    with pytest.warns(TruncationWarning):
        (_, records, _, _, note), _ = run(state, prompt="word " * 600, num_images=1)
    assert records[0]["llm_tokens_dropped"] > 0
    assert f"{records[0]['llm_tokens_dropped']} tokens were dropped" in note


@pytest.mark.parametrize(
    "prompt, overrides, message",
    [
        ("", {}, "write a prompt first"),
        ("x" * 4001, {}, "4001 characters"),
        ("a cat", {"steps": 500}, "steps must be between 1 and 100"),
        ("a cat", {"num_images": 9}, "9 images in one request"),
    ],
)
def test_bad_input_shows_an_error(state, prompt, overrides, message):
    with pytest.raises(gr.Error, match=message):
        run(state, prompt=prompt, **overrides)


@pytest.mark.parametrize("default, maximum", [(2.0, 20), (30.0, 30.0)])
def test_guidance_slider_starts_at_the_default_and_reaches_it(make_app, default, maximum):
    from llmdiff.serve.page import build_page

    app, _ = make_app(default_guidance=default)
    page = build_page(app.state.serve)
    (slider,) = [block for block in page.blocks.values() if getattr(block, "label", None) == "Guidance"]
    assert (slider.value, slider.maximum) == (default, maximum)
