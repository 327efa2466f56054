"""Captions in a person's own words (`freeform`) and the held-out wording kept apart from them."""

import ast
import hashlib
import re
from pathlib import Path

import pytest

from llmdiff.errors import UserError
from llmdiff.worlds.shapes import LANGUAGES, STYLES, WorldConfig, caption, sample_scene
from llmdiff.worlds.shapes.captions import ALL_STYLES
from llmdiff.worlds.shapes.dataset import DatasetConfig
from llmdiff.worlds.shapes.freeform import MODES, WORDINGS, freeform_caption
from llmdiff.worlds.shapes.freeform.compose import MAX_TYPO_SHARE, is_absent
from llmdiff.worlds.shapes.freeform.wording import region
from llmdiff.worlds.shapes.heldout import KINDS, MODULES, heldout_caption, heldout_words

SHIPPED = WorldConfig(grid=2, max_objects=3, resolution=32, shapes=("circle", "square", "triangle", "star"),
                      colours=("red", "green", "blue", "yellow"))
WORLDS = (WorldConfig(), SHIPPED, WorldConfig(grid=4, min_objects=3, max_objects=8, resolution=64))
SCENES = [(sample_scene(seed, world), world) for world in WORLDS for seed in range(80)]


def test_the_worlds_own_styles_stay_byte_identical_and_stay_the_dataset_default():
    # The digest of the three styles before the freeform style existed (commit 777a689), same scenes.
    digest = hashlib.sha256()
    for world in WORLDS[:2]:
        for seed in range(40):
            scene = sample_scene(seed, world)
            for language in ("en", "zh", "fr", "es", "de", "ja"):
                for style in ("short", "paragraph", "canonical"):
                    digest.update(caption(scene, style, language, seed).encode())
    assert digest.hexdigest() == "9258f3cfce9b16b97b33b533f38a5fa91d6c1c71bd727459f6ebca45896835b7"
    assert STYLES == ("short", "paragraph", "canonical") and ALL_STYLES == STYLES + ("freeform",)
    assert DatasetConfig(n=10).styles == STYLES
    assert DatasetConfig(n=10, styles=("paragraph", "freeform")).styles == ("paragraph", "freeform")


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_freeform_captions_are_deterministic_and_varied(language):
    records = [freeform_caption(scene, language, scene.seed, world) for scene, world in SCENES]
    again = [freeform_caption(scene, language, scene.seed, world) for scene, world in SCENES]
    assert records == again
    assert caption(SCENES[0][0], "freeform", language, 3, world=SCENES[0][1]) == \
        freeform_caption(SCENES[0][0], language, 3, SCENES[0][1]).text
    assert {r.mode for r in records} == set(MODES)
    assert len({r.text for r in records}) == len(records)
    lengths = [len(r.clean.split()) if WORDINGS[language].cased else len(r.clean) / 1.5 for r in records]
    assert min(lengths) <= 12 and max(lengths) >= 150


def entries_of(language, category, value):
    """Surface forms of one value, as the language's lexicon lists them."""
    lexicon = WORDINGS[language].lexicon
    forms = set()
    for entry in getattr(lexicon, category)[value]:
        if isinstance(entry, str):
            forms.add(entry)
        elif category == "places":
            forms.update(entry)
        else:
            forms.add(entry[0])
            forms.update(part for part in entry[1:] if isinstance(part, str) and len(part) > 1)
    return forms


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_word_of_a_lexicon_names_one_value(language):
    """No surface form is listed for two values of one category, so a chosen word is true of one value only."""
    lexicon = WORDINGS[language].lexicon
    for category in ("shapes", "colours", "sizes", "backgrounds", "places"):
        owners = {}
        for value in getattr(lexicon, category):
            for form in entries_of(language, category, value):
                assert owners.setdefault(form.lower(), value) == value, (category, form)


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_object_background_and_negation_is_stated_truly(language):
    """By construction: each object's own size, colour, shape and place words are in the caption, the
    background's word too, and every negated (shape, colour) is absent from the scene."""
    for scene, world in SCENES:
        record = freeform_caption(scene, language, scene.seed, world, noise=False)
        text = record.clean.lower()
        assert record.text == record.clean
        for obj in scene.objects:
            named = region(obj.row, obj.col, scene.grid)
            places = entries_of(language, "places", named) if named else set(WORDINGS[language].grid_place(obj.row, obj.col, scene.grid))
            for category, value in (("shapes", obj.shape), ("colours", obj.colour), ("sizes", obj.size)):
                assert any(form.lower() in text for form in entries_of(language, category, value)), (category, value, text)
            assert any(form.lower() in text for form in places), (obj, text)
        assert any(form.lower() in text for form in entries_of(language, "backgrounds", scene.background)), text
        for item in record.negated:
            assert is_absent(item, scene), (item, scene)
            assert set(filter(None, item)) <= set(world.shapes) | set(world.colours)


SEGMENT = re.compile(r"(?<=[.!?])\s+|\n|; | / ")


def find(segment, table):
    """Values of `table` ({value: forms}) named in `segment`, longest form first, each span read once."""
    found, taken = set(), []
    forms = sorted(((form.lower(), value) for value, fs in table.items() for form in fs), key=lambda f: -len(f[0]))
    for form, value in forms:
        for match in re.finditer(rf"(?<![\w-]){re.escape(form)}(?![\w-])", segment):
            if not any(a < match.end() and match.start() < b for a, b in taken):
                found.add(value)
                taken.append(match.span())
    return found


def test_english_captions_parse_back_into_their_scene():
    """A reader that knows only the English lexicon recovers every object's (shape, colour, size, place) and the
    background from each caption, segment by segment, and finds nothing else in it."""
    lexicon = WORDINGS["en"].lexicon
    tables = {category: {value: {e for e in entries_of("en", category, value)} for value in getattr(lexicon, category)}
              for category in ("shapes", "colours", "sizes", "backgrounds", "places")}
    plurals = {value: forms | {f + "s" for f in forms} | {f + "es" for f in forms} for value, forms in tables["shapes"].items()}
    for scene, world in SCENES[:160]:  # grids of 3 and 2: every place has a region name
        record = freeform_caption(scene, "en", scene.seed, world, noise=False)
        negations = {sentence for sentence in SEGMENT.split(record.clean.lower())
                     if re.search(r"\b(no|nothing)\b", sentence) and find(sentence, plurals) | find(sentence, tables["colours"])}
        parsed, backgrounds = set(), set()
        for segment in SEGMENT.split(record.clean.lower()):
            if segment in negations:
                continue
            pieces = [segment]
            if len(find(segment, tables["shapes"])) > 1 or len(find(segment, tables["places"])) > 1:
                pieces = segment.split(", ")
            for piece in pieces:
                shapes = find(piece, tables["shapes"])
                backgrounds |= find(piece, tables["backgrounds"])
                if shapes:
                    colours, sizes, places = (find(piece, tables[c]) for c in ("colours", "sizes", "places"))
                    assert len(shapes) == len(colours) == len(sizes) == len(places) == 1, (piece, record.clean)
                    parsed.add((shapes.pop(), colours.pop(), sizes.pop(), places.pop()))
        assert parsed == {(o.shape, o.colour, o.size, region(o.row, o.col, scene.grid)) for o in scene.objects}, record.clean
        assert backgrounds == {scene.background}, record.clean
        assert len(negations) == len(record.negated), record.clean


def test_typos_are_rare_bounded_and_never_another_lexicon_word():
    records = [freeform_caption(scene, "en", seed, world) for seed in range(3) for scene, world in SCENES]
    with_typos = [r for r in records if r.typos]
    assert 0.03 < len(with_typos) / len(records) < 0.3
    words = sum(len(r.clean.split()) for r in records)
    assert sum(r.typos for r in records) / words < 0.02
    for record in with_typos:
        assert record.typos <= MAX_TYPO_SHARE * len(record.clean.split())
        changed = [(a, b) for a, b in zip(record.clean.lower().split(), record.text.lower().split()) if a != b]
        assert 0 < len(changed) <= record.typos
    known = {form.lower() for forms in WORDINGS["en"].lexicon.surface_words().values() for form in forms}
    for record in with_typos:
        for a, b in zip(record.clean.lower().split(), record.text.lower().split()):
            if a != b:
                assert b.strip(".,:;()") not in known
    cased = {r.text == r.text.lower() for r in records if r.text != r.clean}
    assert True in cased  # some captions are all lower case


def test_freeform_refuses_unknown_modes_and_languages():
    scene = SCENES[0][0]
    with pytest.raises(UserError, match="unknown freeform mode 'poem'"):
        freeform_caption(scene, "en", mode="poem")
    with pytest.raises(UserError, match="unknown language 'xx'"):
        freeform_caption(scene, "xx")


# --- held-out wording --------------------------------------------------------------------------------------

TRAINING_PACKAGES = ("captions", "freeform")


def test_no_training_generator_imports_the_held_out_wording():
    root = Path(__file__).resolve().parents[2] / "src" / "llmdiff" / "worlds" / "shapes"
    files = [f for package in TRAINING_PACKAGES for f in (root / package).glob("*.py")]
    assert len(files) >= 14
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any("heldout" in name for name in names), path


def frame_fragments(template: str) -> list[str]:
    """The fixed text of a frame between its placeholders, where it is distinctive (two words or more)."""
    pieces = [piece.strip(" .,:;") for piece in re.split(r"\{\w+\}", template)]
    return [piece.lower() for piece in pieces if len(piece.split()) >= 2]


@pytest.mark.parametrize("language", list(MODULES))
def test_no_held_out_word_or_frame_appears_in_any_training_caption(language):
    module = MODULES[language]
    held = set().union(*heldout_words(language).values())
    training = set().union(*WORDINGS[language].lexicon.surface_words().values())
    assert not held & training
    frames = module.FRAMES
    fragments = {fragment for family in (frames.object, frames.background, frames.negation_pair,
                                         frames.negation_shape, frames.negation_colour, frames.distractors)
                 for template in family for fragment in frame_fragments(template)}
    assert len(fragments) >= 10
    patterns = [re.compile(rf"(?<!\w){re.escape(word)}(?!\w)") for word in held]
    for scene, world in SCENES:
        for style in ALL_STYLES:
            for seed in (scene.seed, scene.seed + 1):
                text = caption(scene, style, language, seed, world=world).lower()
                assert not any(pattern.search(text) for pattern in patterns), text
                assert not any(fragment in text for fragment in fragments), text


@pytest.mark.parametrize("language", list(MODULES))
def test_held_out_captions_use_held_out_wording_and_stay_true(language):
    held = heldout_words(language)
    module = MODULES[language]
    for scene, world in SCENES[80:160]:  # the shipped model's world
        synonyms = heldout_caption(scene, "synonyms", language, scene.seed, world).text.lower()
        for obj in scene.objects:
            for category, table, value in (("colours", module.COLOURS, obj.colour), ("sizes", module.SIZES, obj.size)):
                forms = {e if isinstance(e, str) else e[0] for e in table[value]}
                assert any(form.lower() in synonyms for form in forms), (value, synonyms)
        assert any(word in synonyms for word in held["backgrounds"]), synonyms
        frames = heldout_caption(scene, "frames", language, scene.seed, world).text.lower()
        assert any(fragment in frames for template in module.FRAMES.object for fragment in frame_fragments(template)) or \
            any(fragment in frames for template in module.FRAMES.background for fragment in frame_fragments(template))
        paragraph = caption(scene, "paragraph", language, scene.seed)
        distracted = heldout_caption(scene, "distractors", language, scene.seed, world).text
        assert sum(sentence in distracted for sentence in module.FRAMES.distractors) >= 3
        assert len(distracted) > len(paragraph)
        negation = heldout_caption(scene, "negation", language, scene.seed, world)
        assert 1 <= len(negation.negated) <= 2
        assert all(is_absent(item, scene) for item in negation.negated)


@pytest.mark.parametrize("language", list(MODULES))
def test_seen_synonyms_are_the_synonyms_frame_in_taught_words_and_stay_true(language):
    """The control for the synonyms column: the same frame, every word from the training lexicon other than
    the plainest, none held out."""
    held = set().union(*heldout_words(language).values())
    patterns = [re.compile(rf"(?<!\w){re.escape(word)}(?!\w)") for word in held]
    taught = WORDINGS[language].lexicon.taught()
    for scene, world in SCENES[80:160]:
        seen = heldout_caption(scene, "seen-synonyms", language, scene.seed, world).text.lower()
        assert not any(pattern.search(seen) for pattern in patterns), seen
        for obj in scene.objects:
            for table, value in ((taught.colours, obj.colour), (taught.sizes, obj.size)):
                forms = {form for e in table[value] for form in ((e,) if isinstance(e, str) else e) if isinstance(form, str)}
                assert any(form.lower() in seen for form in forms), (value, seen)
        plain = heldout_caption(scene, "synonyms", language, scene.seed, world).text
        # the same frame: the caption's fixed words are the synonyms column's
        template = MODULES[language].SHORT[0].replace("{items}", "").replace("{a_bg}", "").replace("{bg_dat}", "").replace("{bg}", "")
        assert all(word.lower() in seen for word in template.split()), (template, seen, plain)


def test_held_out_kinds_and_languages_are_checked():
    scene = SCENES[0][0]
    assert KINDS == ("frames", "synonyms", "seen-synonyms", "distractors", "negation")
    with pytest.raises(UserError, match="no held-out wording for language 'ja'"):
        heldout_caption(scene, "frames", "ja")
    with pytest.raises(UserError, match="unknown held-out caption kind 'rhymes'"):
        heldout_caption(scene, "rhymes", "en")


def test_cli_makes_a_dataset_with_freeform_captions_and_renders_one(tmp_path, capsys):
    import json

    from llmdiff.cli.main import main

    out = tmp_path / "d"
    assert main(["shapes", "make", "--n", "4", "--out", str(out), "--resolution", "32", "--grid", "2",
                 "--max-objects", "3", "--shapes", "circle,square,triangle,star", "--colours", "red,green,blue,yellow",
                 "--languages", "en,de", "--styles", "paragraph,freeform", "--workers", "1"]) == 0
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    world = WorldConfig.from_file(out / "world.json")
    for record in records:
        scene = sample_scene(record["seed"], world)
        for language in ("en", "de"):
            assert set(record["captions"][language]) == {"paragraph", "freeform"}
            assert record["captions"][language]["freeform"]["text"] == freeform_caption(scene, language, record["seed"], world).text
    assert main(["shapes", "make", "--n", "4", "--out", str(tmp_path / "e"), "--styles", "haiku"]) == 2
    assert "unknown caption style 'haiku'" in capsys.readouterr().err
    assert main(["shapes", "render", "--seed", "3", "--style", "freeform", "--out", str(tmp_path / "s.png"),
                 "--world", "benchmark"]) == 0
    assert capsys.readouterr().out.strip() == freeform_caption(sample_scene(3), "en", 3, WorldConfig()).text.strip()


def test_every_freeform_caption_fits_the_text_encoders_512_tokens(default_tokenizer):
    for language in LANGUAGES:
        texts = [freeform_caption(scene, language, seed, world).text for seed in range(2) for scene, world in SCENES]
        counts = [len(ids) for ids in default_tokenizer(texts)["input_ids"]]
        assert max(counts) <= 500 and min(counts) < 40, (language, max(counts), min(counts))


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_the_plainest_words_are_the_worlds_own(language):
    """Held-out frames are measured with the plain lexicon: its places are the ones the world's captions use,
    so a held-out frame column changes the frames alone."""
    from llmdiff.worlds.shapes.captions import de, en, es, fr, ja, zh

    place = {"en": en.place, "de": de.place, "fr": fr.place, "es": es.place, "zh": zh.place, "ja": ja.place}[language]
    plain = WORDINGS[language].lexicon.plain()
    for grid in (2, 3):
        for row in range(grid):
            for col in range(grid):
                ((where, _),) = plain.places[region(row, col, grid)]
                assert place(row, col, grid) in where, (where, place(row, col, grid))
