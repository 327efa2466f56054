"""Example prompts for the page, several languages: the encoder is an LLM, so any language works.

They come from the model being served: a shapes-world model gets descriptions of held-out scenes of its own
world (a real-world paragraph gives it nothing it can draw), any other model real-world paragraphs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PageExamples:
    label: str
    prompts: dict[str, str]
    """button label -> prompt"""


EXAMPLES: dict[str, str] = {
    "English": (
        "A small red-brick lighthouse stands on a rocky point at dusk. Its lamp has just come on and throws a "
        "pale beam across a calm sea the colour of slate. Three gulls sit on the railing of the gallery, and "
        "a wooden rowing boat, painted blue, lies pulled up on the pebbles below, its oars crossed inside."
    ),
    "中文": (
        "清晨的竹林里，一条石板小路弯弯曲曲地通向远处的一座木亭。薄雾还没有散去，阳光从竹叶的缝隙中斜斜地照下来，"
        "在地面上留下一道道金色的光斑。亭子里放着一张矮桌，桌上有一只白瓷茶壶和两个小茶杯。"
    ),
    "Français": (
        "Une boulangerie de village au petit matin : la vitrine embuée laisse voir des baguettes dorées "
        "rangées dans des paniers en osier. Sur le comptoir en marbre, une tarte aux pommes refroidit à côté "
        "d'une balance ancienne en cuivre. Dehors, un vélo vert est appuyé contre le mur de pierre."
    ),
    "Español": (
        "Un patio andaluz al mediodía, con paredes encaladas y macetas azules llenas de geranios rojos. En el "
        "centro, una fuente de azulejos deja caer un hilo de agua; un gato atigrado duerme a la sombra de un "
        "limonero, y sobre una silla de mimbre descansa un sombrero de paja."
    ),
    "Deutsch": (
        "Eine verschneite Berghütte aus dunklem Holz am Waldrand, kurz nach Sonnenuntergang. Aus dem Schornstein "
        "steigt Rauch, und die kleinen Fenster leuchten warm orange. Vor der Tür lehnen zwei Paar Skier am "
        "Holzstapel, und ein Schlitten mit rotem Seil steht im tiefen Schnee."
    ),
    "日本語": (
        "雨上がりの夜の商店街。濡れた石畳に赤い提灯の光が映り込み、小さなラーメン屋ののれんが風に揺れている。"
        "店の前には透明なビニール傘が一本立てかけられ、自転車が二台並んで止まっている。"
    ),
}

"""Real-world paragraphs, one per language, for models that draw the real world."""

LANGUAGE_NAMES = {"en": "English", "zh": "中文", "fr": "Français", "es": "Español", "de": "Deutsch", "ja": "日本語"}
EXAMPLE_STYLES = ("paragraph", "freeform")
"""Caption styles shown as examples, when the model was trained on them: the world's paragraphs, and captions
as people write them ("freeform")."""


def shapes_examples(world, languages=tuple(LANGUAGE_NAMES), styles=("paragraph",)) -> dict[str, str]:
    """Descriptions of test-split scenes of `world` (a `WorldConfig`), one scene per example: each of
    `languages` in each of `styles` (a model draws only the caption styles it was trained on)."""
    from llmdiff.worlds.shapes import caption_record, sample_scene
    from llmdiff.worlds.shapes.dataset import SPLIT_SEED_BASE

    pairs = [(style, language) for language in languages if language in LANGUAGE_NAMES
             for style in EXAMPLE_STYLES if style in styles]
    prompts = {}
    for offset, (style, language) in enumerate(pairs):
        seed = SPLIT_SEED_BASE["test"] + offset
        label = LANGUAGE_NAMES[language] + (", free form" if style == "freeform" else "")
        prompts[label] = caption_record(sample_scene(seed, world), style, language, seed=seed, world=world).text
    return prompts


def page_examples(model_dir: str | os.PathLike | None) -> PageExamples:
    """The examples for a model folder: when it carries a world.json, scenes of its own world in the languages
    it was trained on (the file's `languages`, as `llmdiff shapes make` writes them), described as people write
    them when it was trained on such captions (`freeform` among the file's `styles`), else in the world's
    paragraphs; without one, real-world paragraphs (also for a model given by its parts, which names no world)."""
    import json

    from llmdiff.worlds.shapes.config import WORLD_FILE, load_world

    if model_dir is None or not (Path(model_dir) / WORLD_FILE).is_file():
        return PageExamples("Examples (one click fills the prompt)", dict(EXAMPLES))
    world = load_world(model_dir)
    trained = json.loads((Path(model_dir) / WORLD_FILE).read_text(encoding="utf-8"))
    languages = tuple(trained.get("languages") or LANGUAGE_NAMES)
    shown = ("freeform",) if "freeform" in (trained.get("styles") or ()) else ("paragraph",)
    return PageExamples("Examples from the model's shapes world (one click fills the prompt)",
                        shapes_examples(world, languages, shown) or shapes_examples(world))
