"""The part of every language that is not wording: walking a plan, padding, and recording mentions."""

from __future__ import annotations

import random

from llmdiff.worlds.shapes.captions.plan import (
    Act,
    composition_facts,
    plan_paragraph,
    short_order,
)
from llmdiff.worlds.shapes.scene import Scene

MIN_PARAGRAPH_WORDS = 80
MAX_PARAGRAPH_WORDS = 500
SHORT_PLACES_UP_TO = 5
"""Short captions say where each object is when the scene has at most this many (alt-text names positions
the way a photo's caption says "on the left"; a model trained on it learns what place words mean)."""


class Language:
    """A language's wording of plans. Subclasses write one method per act kind, plus `short`."""

    code = ""
    name = ""
    separator = " "
    """Between sentences: a space, or nothing in Chinese and Japanese."""
    fillers: tuple[str, ...] = ()
    """Sentences true of every image of the world, used to bring short paragraphs up to length."""

    def length(self, text: str) -> int:
        """Length in words; Chinese and Japanese count 1.5 characters as a word."""
        return len(text.split())

    def paragraph(self, scene: Scene, rng: random.Random) -> tuple[str, list[tuple[int, int]]]:
        """The paragraph and, per object, the character span of the sentence that first describes it."""
        facts = composition_facts(scene)
        sentences: list[tuple[str, int | None]] = []
        for act in plan_paragraph(scene, rng):
            text = getattr(self, act.kind)(scene, act, facts, rng)
            sentences.append((text, act.subject if act.kind == "object" else None))
        fillers = list(self.fillers)
        rng.shuffle(fillers)
        while self.length(self.separator.join(s for s, _ in sentences)) < MIN_PARAGRAPH_WORDS and fillers:
            sentences.insert(len(sentences) - 1, (fillers.pop(), None))
        text, spans, cursor = [], {}, 0
        for sentence, subject in sentences:
            if text:
                cursor += len(self.separator)
            if subject is not None and subject not in spans:
                spans[subject] = (cursor, cursor + len(sentence))
            text.append(sentence)
            cursor += len(sentence)
        return self.separator.join(text), [spans[i] for i in range(len(scene.objects))]

    def short_caption(self, scene: Scene, rng: random.Random, places: bool = True) -> str:
        order = short_order(scene, rng)
        return self.short(scene, order, rng, places and len(order) <= SHORT_PLACES_UP_TO)

    def canonical_caption(self, scene: Scene) -> str:
        """The short caption in one fixed form: objects in reading order, word choices from a fixed seed.

        A function of the scene alone, so a model asked to produce its text encoding from any other
        caption of the scene (stage 1's target) has one answer to learn, not an average over orderings.
        """
        order = sorted(range(len(scene.objects)), key=lambda i: scene.objects[i].cell)
        return self.short(scene, order, random.Random(0), len(order) <= SHORT_PLACES_UP_TO)

    # One method per act kind; each returns one sentence (or a few) ending in punctuation.
    def opening(self, scene: Scene, act: Act, facts: dict, rng: random.Random) -> str:
        raise NotImplementedError

    background = composition = object = relation = closing = opening

    def short(self, scene: Scene, order: list[int], rng: random.Random, places: bool) -> str:
        """Alt-text listing the objects in `order`, each with its place when `places`."""
        raise NotImplementedError


class CJKLanguage(Language):
    separator = ""

    def length(self, text: str) -> int:
        return int(len(text.replace(" ", "")) / 1.5)
