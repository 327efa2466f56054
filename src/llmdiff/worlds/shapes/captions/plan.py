"""What a paragraph says and in which order, before any language puts it into words.

A plan is a list of acts. Every language realises the same plan, so the captions of one scene in six
languages describe the same objects in the same order; only the wording, chosen by the language, differs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from llmdiff.worlds.shapes.scene import Scene, adjacent, relation


@dataclass(frozen=True)
class Act:
    """One sentence's worth of content.

    kind: "opening" (count and background), "background", "composition", "object" (the first, full
    description of `subject`, optionally placed against the previously described object `anchor`),
    "relation" (between two already described objects), "closing".
    """

    kind: str
    subject: int | None = None
    anchor: int | None = None
    relation: str | None = None
    """How `subject` stands to `anchor`: "left of", "right of", "above", "below"."""
    pronoun: bool = False
    """The sentence may call the anchor "it" (it was described in the previous sentence)."""
    adjacent: bool = False
    """Subject and anchor are in neighbouring cells, so "the shape beside it" is true."""


def plan_paragraph(scene: Scene, rng: random.Random) -> list[Act]:
    order = list(range(len(scene.objects)))
    rng.shuffle(order)
    acts = [Act("opening")]
    # Half the time the background and composition come first: a long preamble, as in real long captions,
    # which pushes object descriptions past the 77-token window.
    preamble = rng.random() < 0.5
    if preamble:
        acts += [Act("background"), Act("composition")]
    previous = None
    for index in order:
        rel = relation(scene.objects[index], scene.objects[previous]) if previous is not None else None
        if rel is not None and rng.random() < 0.7:
            near = adjacent(scene.objects[index], scene.objects[previous])
            acts.append(Act("object", index, previous, rel, pronoun=near or rng.random() < 0.5, adjacent=near))
        else:
            acts.append(Act("object", index))
        previous = index
    pairs = [(i, j) for i in order for j in order if i < j and relation(scene.objects[i], scene.objects[j])]
    for i, j in rng.sample(pairs, min(len(pairs), rng.randint(0, 2))):
        acts.append(Act("relation", i, j, relation(scene.objects[i], scene.objects[j])))
    if not preamble:
        acts += rng.sample([Act("background"), Act("composition")], 2)
    acts.append(Act("closing"))
    return acts


def short_order(scene: Scene, rng: random.Random) -> list[int]:
    order = list(range(len(scene.objects)))
    rng.shuffle(order)
    return order


def composition_facts(scene: Scene) -> dict:
    """Facts about the layout that a sentence about composition may state, all derived from cells."""
    g = scene.grid
    top = sum(o.row < (g - 1) / 2 for o in scene.objects)
    bottom = sum(o.row > (g - 1) / 2 for o in scene.objects)
    left = sum(o.col < (g - 1) / 2 for o in scene.objects)
    right = sum(o.col > (g - 1) / 2 for o in scene.objects)
    heavier = None
    if top != bottom or left != right:
        candidates = [("top", top - bottom), ("bottom", bottom - top), ("left", left - right), ("right", right - left)]
        side, margin = max(candidates, key=lambda c: c[1])
        heavier = side if margin > 0 else None
    centre_taken = g % 2 == 1 and scene.at(g // 2, g // 2) is not None
    return {
        "cells": g * g,
        "empty": g * g - len(scene.objects),
        "count": len(scene.objects),
        "heavier": heavier,
        "centre": (None if g % 2 == 0 else centre_taken),
        "large": sum(o.size == "large" for o in scene.objects),
        "small": sum(o.size == "small" for o in scene.objects),
    }
