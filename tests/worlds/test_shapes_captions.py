"""Captions of the shapes world: determinism, lengths, the 77-token property, grammar, every object stated."""

from dataclasses import replace

import pytest

from llmdiff.errors import UserError
from llmdiff.worlds.shapes import (
    CLIP_WINDOW,
    LANGUAGES,
    STYLES,
    Scene,
    SceneObject,
    caption,
    caption_record,
    sample_scene,
)
from llmdiff.worlds.shapes.captions import de, en, es, fr, ja, zh
from llmdiff.worlds.shapes.config import WorldConfig
from llmdiff.worlds.shapes.tokenizer import clip_tokenizer
from llmdiff.worlds.shapes.tokens import mention_positions

SCENES = [sample_scene(seed) for seed in range(200)]


def first_mentions(language):
    return [caption_record(scene, "paragraph", language, scene.seed) for scene in SCENES]


def test_captions_are_deterministic_and_depend_on_the_seed():
    scene = SCENES[3]
    for language in LANGUAGES:
        for style in STYLES:
            assert caption(scene, style, language, 7) == caption(scene, style, language, 7)
    assert len({caption(scene, "paragraph", "en", seed) for seed in range(10)}) > 5


@pytest.mark.parametrize("language", ["en", "fr", "es", "de"])
def test_paragraphs_have_80_to_500_words(language):
    words = [len(record.text.split()) for record in first_mentions(language)]
    assert min(words) >= 80 and max(words) <= 500


@pytest.mark.parametrize("language", ["zh", "ja"])
def test_cjk_paragraphs_are_as_long(language):
    lengths = [len(record.text) for record in first_mentions(language)]
    assert min(lengths) >= 120 and max(lengths) <= 750


def test_at_least_half_of_paragraphs_describe_an_object_after_token_77():
    records = first_mentions("en")
    counts, positions = mention_positions(clip_tokenizer(), [r.text for r in records], [r.mention_spans for r in records])
    late = sum(max(p) >= CLIP_WINDOW for p in positions)
    assert late / len(records) >= 0.5
    assert min(counts) > 77  # every paragraph overflows a 77-token encoder


def test_short_english_captions_fit_77_tokens_and_name_every_object():
    tokenizer = clip_tokenizer()
    for scene in SCENES:
        text = caption(scene, "short", "en", scene.seed)
        assert len(tokenizer(text).input_ids) <= 77
        for obj in scene.objects:
            assert any(f"{c} {s}" in text for c in en.COLOUR_WORDS[obj.colour] for s in en.SHAPE_WORDS[obj.shape])


PLACES = {"en": en.place, "zh": zh.place, "ja": ja.place, "fr": fr.place, "es": es.place, "de": de.place}


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_short_captions_name_each_objects_place_up_to_five_objects(language):
    place = PLACES[language]
    crowded = WorldConfig(grid=4, min_objects=6, max_objects=8, resolution=64)
    for scene in SCENES + [sample_scene(seed, crowded) for seed in range(20)]:
        text = caption(scene, "short", language, scene.seed)
        named = [place(obj.row, obj.col, scene.grid) in text for obj in scene.objects]
        assert all(named) if len(scene.objects) <= 5 else not any(named), text
        unplaced = caption(scene, "short", language, scene.seed, short_places=False)
        assert not any(place(obj.row, obj.col, scene.grid) in unplaced for obj in scene.objects), unplaced


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_canonical_captions_depend_on_the_scene_alone_and_list_objects_in_reading_order(language):
    place = PLACES[language]
    for scene in SCENES[:100]:
        texts = {caption(scene, "canonical", language, seed) for seed in range(3)}
        assert len(texts) == 1
        text = texts.pop()
        starts = [text.index(place(obj.row, obj.col, scene.grid)) for obj in sorted(scene.objects, key=lambda o: o.cell)]
        assert starts == sorted(starts), text
    # The same objects listed in another order, with other offsets: the same canonical caption.
    scene = next(s for s in SCENES if len(s.objects) >= 3)
    shuffled = replace(scene, objects=tuple(replace(o, offset=(0.0, 0.0)) for o in reversed(scene.objects)), seed=99)
    assert caption(shuffled, "canonical", language) == caption(scene, "canonical", language)
    shorts = {caption(scene, "short", language, scene.seed) for scene in SCENES[:50]}
    canonicals = {caption(scene, "canonical", language) for scene in SCENES[:50]}
    assert len(canonicals) == len({(s.background, s.objects) for s in SCENES[:50]}) and shorts != canonicals


# Per language: the words that must appear in an object's first-describing sentence.
def words_of(language, obj, grid):
    if language == "en":
        return [en.SHAPE_WORDS[obj.shape], en.COLOUR_WORDS[obj.colour], en.SIZE_WORDS[obj.size], [en.place(obj.row, obj.col, grid)]]
    if language == "fr":
        return [[n for n, _ in fr.SHAPES[obj.shape]], fr.COLOURS[obj.colour], fr.SIZES[obj.size], [fr.place(obj.row, obj.col, grid)]]
    if language == "es":
        return [[n for n, _ in es.SHAPES[obj.shape]], es.COLOURS[obj.colour], es.SIZES[obj.size], [es.place(obj.row, obj.col, grid)]]
    if language == "de":
        return [[de.SHAPES[obj.shape][0]], [de.COLOURS[obj.colour]], [de.SIZES[obj.size]], [de.place(obj.row, obj.col, grid)]]
    module = {"zh": zh, "ja": ja}[language]
    shape = module.SHAPES[obj.shape]
    return [[shape[0] if isinstance(shape, tuple) else shape], [module.COLOURS[obj.colour]],
            [module.SIZES[obj.size]], [module.place(obj.row, obj.col, grid)]]


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_object_is_fully_described_in_its_first_mention(language):
    for scene, record in zip(SCENES, first_mentions(language)):
        assert len(record.mention_spans) == len(scene.objects)
        for obj, (start, end) in zip(scene.objects, record.mention_spans):
            sentence = record.text[start:end]
            assert sentence[-1] in ".。", sentence
            for options in words_of(language, obj, scene.grid):
                assert any(word.lower() in sentence.lower() for word in options), (options, sentence)


def test_every_language_renders_every_style():
    scene = SCENES[0]
    texts = {(language, style): caption(scene, style, language) for language in LANGUAGES for style in STYLES}
    assert len(set(texts.values())) == len(texts)
    assert set(LANGUAGES) == {"en", "zh", "fr", "es", "de", "ja"}


@pytest.mark.parametrize(
    "kwargs, message",
    [({"language": "xx"}, "unknown language 'xx'"), ({"style": "haiku"}, "unknown caption style 'haiku'")],
)
def test_unknown_language_or_style_is_a_user_error(kwargs, message):
    with pytest.raises(UserError, match=message):
        caption(SCENES[0], **kwargs)


RED_STAR = SceneObject("star", "red", "small", 0, 0)
YELLOW_CIRCLE = SceneObject("circle", "yellow", "large", 0, 0)
BLUE_CROSS = SceneObject("cross", "blue", "large", 0, 0)


def test_german_adjectives_agree_in_gender_and_case():
    assert de.noun_phrase(RED_STAR, "nom") == "ein kleiner roter Stern"
    assert de.noun_phrase(RED_STAR, "acc") == "einen kleinen roten Stern"
    assert de.noun_phrase(RED_STAR, "dat", definite=True) == "dem kleinen roten Stern"
    assert de.noun_phrase(BLUE_CROSS, "nom") == "ein großes blaues Kreuz"
    assert de.noun_phrase(SceneObject("diamond", "purple", "small", 0, 0), "acc") == "eine kleine violette Raute"


def test_french_and_spanish_agree_in_gender():
    import random

    rng = random.Random(0)
    assert fr.French().noun_phrase(RED_STAR, rng) == "une petite étoile rouge"
    assert fr.French().noun_phrase(RED_STAR, rng, definite=True, with_size=False) == "l'étoile rouge"
    assert fr.French().noun_phrase(BLUE_CROSS, rng) == "une grande croix bleue"
    assert fr.with_de("le carré vert") == "du carré vert"
    assert es.Spanish().noun_phrase(RED_STAR, rng) == "una pequeña estrella roja"
    assert es.Spanish().noun_phrase(YELLOW_CIRCLE, rng) == "un gran círculo amarillo"
    assert es.with_de("el rombo morado") == "del rombo morado"


def test_chinese_measure_words_and_japanese_modifiers():
    assert zh.noun_phrase(RED_STAR) == "一颗红色的小五角星"
    assert zh.noun_phrase(YELLOW_CIRCLE) == "一个黄色的大圆形"
    assert ja.noun_phrase(RED_STAR) == "小さな赤い星"
    assert ja.noun_phrase(SceneObject("square", "green", "large", 0, 0)) == "大きな緑の正方形"


def test_references_by_pronoun_only_follow_their_referent():
    scene = Scene("white", (SceneObject("circle", "red", "small", 0, 0), SceneObject("square", "blue", "large", 0, 1)), grid=3)
    texts = [caption(scene, "paragraph", "en", seed) for seed in range(40)]
    beside = [t for t in texts if "beside it" in t]
    assert beside  # adjacent objects are sometimes linked by "the shape beside it"
    for text in beside:
        before = text[: text.index("beside it")]
        assert "circle" in before or "disc" in before or "round dot" in before or "square" in before
