"""Put a scene into a person's words: alt-text, lists, prose or long prose, objects in any order, with
unrelated sentences, negations of absent things, and a little typing noise.

Every caption is exactly true of its scene: each object is described with its own size, colour, shape and
place, the background is named, and only things the scene does not hold are negated. Typos never turn a
word into another word of the lexicon.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from llmdiff.worlds.shapes.config import DEFAULT_WORLD, WorldConfig
from llmdiff.worlds.shapes.freeform.wording import Wording
from llmdiff.worlds.shapes.scene import Scene

MODES = ("alt", "list", "prose", "long")
MODE_WEIGHTS = (0.3, 0.15, 0.4, 0.15)
TYPO_CAPTION_RATE = 0.2
"""Share of captions that get typos at all."""
TYPO_WORD_RATE = 0.04
"""Per eligible word (letters only, at least four) of such a caption."""
MAX_TYPO_SHARE = 0.1
"""A caption never has more than this share of its words misspelt (tests hold the generator to it)."""
LOWERCASE_RATE, UPPERCASE_RATE = 0.12, 0.02
SHOUTED_UP_TO = 40
"""Only captions this short are ever all capitals (capitals take several times the tokens)."""

Negated = tuple[str | None, str | None]
"""(shape, colour) said to be absent; None where the negation leaves it open ("no stars": (star, None))."""


@dataclass(frozen=True)
class FreeformCaption:
    text: str
    clean: str
    """The text before typos and casing noise."""
    mode: str
    negated: tuple[Negated, ...]
    typos: int


def absent_items(scene: Scene, world: WorldConfig = DEFAULT_WORLD) -> list[Negated]:
    """Every (shape, colour), shape alone and colour alone of the world that no object of the scene has."""
    pairs = {(o.shape, o.colour) for o in scene.objects}
    shapes = {o.shape for o in scene.objects}
    colours = {o.colour for o in scene.objects}
    items: list[Negated] = [(s, c) for s in world.shapes for c in world.colours if (s, c) not in pairs]
    items += [(s, None) for s in world.shapes if s not in shapes]
    items += [(None, c) for c in world.colours if c not in colours]
    return items


def is_absent(item: Negated, scene: Scene) -> bool:
    shape, colour = item
    return not any((shape is None or o.shape == shape) and (colour is None or o.colour == colour)
                   for o in scene.objects)


def negation_sentence(wording: Wording, item: Negated, rng: random.Random) -> str:
    shape, colour = item
    frames = wording.frames
    family = frames.negation_pair if shape and colour else frames.negation_shape if shape else frames.negation_colour
    return wording.sentence(rng.choice(family).format(**wording.negation_fields(shape, colour, rng)))


def pick_negations(scene: Scene, world: WorldConfig, count: int, rng: random.Random) -> list[Negated]:
    items = absent_items(scene, world)
    return rng.sample(items, min(count, len(items)))


def insert_sentences(sentences: list[str], extra: list[str], rng: random.Random, keep_first: bool = True) -> list[str]:
    """`sentences` with `extra` put in at random places (after the first sentence when `keep_first`)."""
    merged = list(sentences)
    for sentence in extra:
        merged.insert(rng.randint(1 if keep_first and merged else 0, len(merged)), sentence)
    return merged


def compose(scene: Scene, wording: Wording, rng: random.Random, world: WorldConfig | None = None,
            mode: str | None = None, noise: bool = True) -> FreeformCaption:
    world = world or DEFAULT_WORLD
    mode = mode or rng.choices(MODES, MODE_WEIGHTS)[0]
    order = list(range(len(scene.objects)))
    rng.shuffle(order)
    fields = [wording.fields(scene.objects[i], scene.grid, rng) for i in order]
    background = wording.background_fields(scene.background, rng)
    frames = wording.frames
    negations = pick_negations(scene, world, rng.choice((1, 1, 2)) if rng.random() < 0.3 else 0, rng)
    said_no = [negation_sentence(wording, item, rng) for item in negations]
    if mode in ("alt", "list"):
        item = rng.choice(frames.item)  # one person keeps to one way of listing
        items = [wording.sentence(item.format(**f)) if mode == "list" else item.format(**f) for f in fields]
        bg = rng.choice(frames.background_item).format(**background)
        if mode == "alt":
            # Items with commas of their own need another mark between objects to keep them apart.
            commas = ",，、" if "{tags}" in item else ""
            joiner = rng.choice([j for j in wording.list_separators if j.strip() not in item + commas])
            items.insert(0 if rng.random() < 0.2 else len(items), bg)
            text = joiner.join(items)
            if rng.random() < 0.3:
                text = wording.sentence(text)
            tail = said_no + ([rng.choice(frames.distractors)] if rng.random() < 0.15 else [])
            if tail:
                text = wording.separator.join([text + wording.stop, *tail])
        else:
            bullet = rng.choice(("- ", "* ", "• ", "{n}. ", ""))
            lines = [rng.choice(frames.heading)] if rng.random() < 0.6 else []
            items.append(wording.sentence(bg))
            lines += [bullet.format(n=n + 1) + line for n, line in enumerate(items)]
            lines += said_no
            text = "\n".join(lines)
    else:
        sentences = [wording.sentence(rng.choice(frames.object).format(**f)) for f in fields]
        bg = wording.sentence(rng.choice(frames.background).format(**background))
        sentences.insert(0 if rng.random() < 0.4 else len(sentences), bg)
        count = {"count": wording.count(len(scene.objects)), **background}
        if mode == "long" or rng.random() < 0.4:
            sentences.insert(0, wording.sentence(rng.choice(frames.opening).format(**count)))
        if mode == "long":
            distractors = rng.sample(frames.distractors, min(len(frames.distractors), rng.randint(8, 25)))
        else:
            distractors = rng.sample(frames.distractors, rng.choice((0, 0, 1, 2, 3)))
        sentences = insert_sentences(sentences, distractors + said_no, rng)
        while distractors and wording.size(wording.separator.join(sentences)) > wording.budget:
            sentences.remove(distractors.pop())
        if rng.random() < 0.3:
            sentences.append(wording.sentence(rng.choice(frames.closing)))
        text = wording.separator.join(sentences)
    clean = text
    typos = 0
    if noise and wording.cased:
        text, typos = add_typos(text, wording, rng)
        draw = rng.random()
        if draw < LOWERCASE_RATE:
            text = text.lower()
        elif draw < LOWERCASE_RATE + UPPERCASE_RATE and wording.size(text) <= SHOUTED_UP_TO:
            text = text.upper()
    return FreeformCaption(text, clean, mode, tuple(negations), typos)


WORD = re.compile(r"[^\W\d_]{4,}")


def add_typos(text: str, wording: Wording, rng: random.Random) -> tuple[str, int]:
    """A few misspelt words (swapped, dropped or doubled letters), never another word of the lexicon."""
    if rng.random() >= TYPO_CAPTION_RATE:
        return text, 0
    known = {word for forms in wording.lexicon.surface_words().values() for form in forms for word in form.split()}
    words = len(text.split())
    budget = int(words * MAX_TYPO_SHARE)
    typos = 0

    def misspell(match: re.Match) -> str:
        nonlocal typos
        word = match.group(0)
        if typos >= budget or rng.random() >= TYPO_WORD_RATE:
            return word
        i = rng.randrange(1, len(word) - 1)
        kind = rng.randrange(3)
        if kind == 0:
            wrong = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        elif kind == 1:
            wrong = word[:i] + word[i + 1:]
        else:
            wrong = word[:i] + word[i] + word[i:]
        if wrong == word or wrong.lower() in known:
            return word
        typos += 1
        return wrong

    return WORD.sub(misspell, text), typos
