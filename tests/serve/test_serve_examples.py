"""The page's examples: scenes of a shapes model's own world, or real-world paragraphs."""

import gradio as gr

from llmdiff.serve.examples import EXAMPLES, LANGUAGE_NAMES, page_examples, shapes_examples
from llmdiff.worlds.shapes import COLOURS, WorldConfig, caption_record, sample_scene
from llmdiff.worlds.shapes.dataset import SPLIT_SEED_BASE

SMALL = WorldConfig(grid=2, max_objects=2, colours=("red", "blue"))


def test_shapes_examples_describe_test_scenes_of_the_world_in_several_languages():
    prompts = shapes_examples(SMALL)
    assert list(prompts) == list(LANGUAGE_NAMES.values())  # a paragraph in every caption language
    assert list(shapes_examples(SMALL, ("en", "de"), ("paragraph", "freeform"))) == [
        "English", "English, free form", "Deutsch", "Deutsch, free form"]
    first = SPLIT_SEED_BASE["test"]
    assert prompts["English"] == caption_record(sample_scene(first, SMALL), "paragraph", "en", seed=first,
                                                world=SMALL).text
    # Only the world's own colours are named in the English paragraphs: nothing this model cannot draw.
    english = " ".join(text for label, text in prompts.items() if label.startswith("English")).lower()
    assert not [colour for colour in COLOURS if colour not in SMALL.colours and f" {colour} " in english]
    assert "lighthouse" not in english
    assert shapes_examples(SMALL) == prompts  # the same examples on every start
    assert shapes_examples(WorldConfig()) != prompts


def test_page_examples_follow_the_model_folder(tmp_path):
    import json

    assert page_examples(None).prompts == EXAMPLES
    assert page_examples(tmp_path).prompts == EXAMPLES
    (tmp_path / "world.json").write_text(json.dumps({"world": SMALL.to_dict()}))
    assert page_examples(tmp_path).prompts == shapes_examples(SMALL)
    # The languages the model was trained on, as its dataset's world.json records them; trained on captions
    # as people write them, it shows those.
    (tmp_path / "world.json").write_text(json.dumps({"world": SMALL.to_dict(), "languages": ["en", "fr"],
                                                     "styles": ["short", "paragraph", "freeform"]}))
    assert list(page_examples(tmp_path).prompts) == ["English, free form", "Français, free form"]
    (tmp_path / "world.json").write_text(json.dumps({"world": SMALL.to_dict(), "languages": ["de"],
                                                     "styles": ["short", "paragraph", "canonical"]}))
    assert page_examples(tmp_path).prompts == shapes_examples(SMALL, ("de",))


def test_the_page_shows_the_examples_it_is_given(make_app):
    from llmdiff.serve.page import build_page

    app, _ = make_app()
    examples = page_examples(None)
    for given in (None, examples.__class__("Examples from the model's shapes world", shapes_examples(SMALL))):
        page = build_page(app.state.serve, given)
        (dataset,) = [block for block in page.blocks.values() if isinstance(block, gr.Dataset)]
        expected = (given or examples).prompts
        assert [sample[0] for sample in dataset.samples] == list(expected.values())
        assert dataset.sample_labels == list(expected)
