"""Wording kept out of every training caption, to measure whether a model follows language it never saw.

Per language (`LANGUAGES`), a module lists held-out synonyms (for colours, shapes, sizes, backgrounds and
places), held-out sentence frames, distractor sentences and negation frames. No training caption style
draws from them: the training generators (`captions`, `freeform`) never import this package, and a test
checks that no held-out word or frame turns up in thousands of training captions.

`heldout_caption(scene, kind, language, seed)` writes one caption of a kind in `KINDS`:

- `frames`: held-out sentence frames around the most ordinary training words;
- `synonyms`: held-out words in the world's own short-caption frame;
- `seen-synonyms`: the same frame with the training lexicon's words other than the plainest (a control for
  `synonyms`: words a `freeform` round taught, so the gap between the two is what not being taught costs);
- `distractors`: the world's paragraph with held-out unrelated sentences mixed in;
- `negation`: the world's paragraph with one or two held-out "there is no ..." sentences about absent things.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from llmdiff.errors import UserError
from llmdiff.worlds.shapes.captions import caption
from llmdiff.worlds.shapes.config import DEFAULT_WORLD, WorldConfig
from llmdiff.worlds.shapes.freeform import wording as training_wording
from llmdiff.worlds.shapes.freeform.compose import Negated, insert_sentences, negation_sentence, pick_negations
from llmdiff.worlds.shapes.freeform.wording import Lexicon
from llmdiff.worlds.shapes.heldout import de, en, fr
from llmdiff.worlds.shapes.scene import Scene

KINDS = ("frames", "synonyms", "seen-synonyms", "distractors", "negation")
MODULES = {"en": en, "de": de, "fr": fr}
LANGUAGES = tuple(MODULES)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class HeldoutCaption:
    text: str
    kind: str
    language: str
    negated: tuple[Negated, ...] = ()
    """What a negation caption says is absent, as (shape, colour) with None where it leaves one open."""


def heldout_lexicon(language: str) -> Lexicon:
    """The held-out words, with the plainest training word for any value that has none held out."""
    module, plain = _module(language), training_wording(language).lexicon.plain()
    return Lexicon(
        shapes={**plain.shapes, **module.SHAPES}, colours={**plain.colours, **module.COLOURS},
        sizes={**plain.sizes, **module.SIZES}, backgrounds={**plain.backgrounds, **module.BACKGROUNDS},
        places={**plain.places, **module.PLACES},
    )


def heldout_words(language: str) -> dict[str, set[str]]:
    """Per category, the surface forms held out in `language` (only those, not the plain fallbacks)."""
    module = _module(language)
    held = Lexicon(module.SHAPES, module.COLOURS, module.SIZES, module.BACKGROUNDS, module.PLACES)
    return held.surface_words()


def heldout_caption(scene: Scene, kind: str, language: str = "en", seed: int = 0,
                    world: WorldConfig | None = None) -> HeldoutCaption:
    module = _module(language)
    if kind not in KINDS:
        raise UserError(f"unknown held-out caption kind {kind!r}; known: {', '.join(KINDS)}")
    rng = random.Random(f"{seed}/heldout-{kind}/{language}")
    base = training_wording(language)
    order = list(range(len(scene.objects)))
    rng.shuffle(order)
    if kind == "frames":
        wording = base.with_(lexicon=base.lexicon.plain(), frames=module.FRAMES)
        sentences = [wording.sentence(rng.choice(module.FRAMES.object).format(
            **wording.fields(scene.objects[i], scene.grid, rng))) for i in order]
        background = wording.sentence(rng.choice(module.FRAMES.background).format(
            **wording.background_fields(scene.background, rng)))
        sentences.insert(0 if rng.random() < 0.5 else len(sentences), background)
        return HeldoutCaption(wording.separator.join(sentences), kind, language)
    if kind in ("synonyms", "seen-synonyms"):
        wording = base.with_(lexicon=heldout_lexicon(language) if kind == "synonyms" else base.lexicon.taught())
        template, comma, last = module.SHORT
        items = []
        for i in order:
            fields = wording.fields(scene.objects[i], scene.grid, rng)
            items.append(f"{fields.get('np') or fields['nom']} {fields['where']}")
        listed = items[0] if len(items) == 1 else comma.join(items[:-1]) + last + items[-1]
        return HeldoutCaption(template.format(items=listed, **wording.background_fields(scene.background, rng)),
                              kind, language)
    sentences = SENTENCE_END.split(caption(scene, "paragraph", language, seed))
    if kind == "distractors":
        extra = rng.sample(module.FRAMES.distractors, rng.randint(3, min(5, len(module.FRAMES.distractors))))
        return HeldoutCaption(" ".join(insert_sentences(sentences, extra, rng)), kind, language)
    wording = base.with_(lexicon=base.lexicon.plain(), frames=module.FRAMES)
    negated = pick_negations(scene, world or DEFAULT_WORLD, rng.choice((1, 2)), rng)
    extra = [negation_sentence(wording, item, rng) for item in negated]
    return HeldoutCaption(" ".join(insert_sentences(sentences, extra, rng)), kind, language, tuple(negated))


def _module(language: str):
    if language not in MODULES:
        raise UserError(f"no held-out wording for language {language!r}; held out: {', '.join(MODULES)}")
    return MODULES[language]


__all__ = ["KINDS", "LANGUAGES", "HeldoutCaption", "heldout_caption", "heldout_lexicon", "heldout_words"]
