"""The placement check: does a model put an object where the caption says, or where its noise puts it?

Per seed, one object is named in every grid cell in turn ("a small red circle in the top-left corner on a
white background"), each prompt drawn with the same noise seed, so only the place words change between the
images of one seed. A trial is a hit when the named cell holds an object of the right shape and colour; a
seed's layout ignores the place words when every prompt of that seed leaves the same cells occupied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from llmdiff.errors import UserError
from llmdiff.eval.drawing import Generate, parse_drawn
from llmdiff.eval.study.analysis import wilson_interval
from llmdiff.worlds.shapes import Scene, SceneObject, WorldConfig, caption_record

TITLE = "Does the layout follow the place words?"


def placement_scenes(world: WorldConfig, num_seeds: int, first_seed: int) -> list[list[Scene]]:
    """Per seed, one scene per cell in reading order: the seed's one object, centred in that cell."""
    groups = []
    for seed in range(first_seed, first_seed + num_seeds):
        rng = np.random.default_rng(seed)
        shape, colour, size, background = (
            vocabulary[rng.integers(len(vocabulary))]
            for vocabulary in (world.shapes, world.colours, world.sizes, world.backgrounds)
        )
        groups.append([
            Scene(background, (SceneObject(shape, colour, size, row, col),), world.grid, seed)
            for row in range(world.grid)
            for col in range(world.grid)
        ])
    return groups


def placement_caption(scene: Scene) -> str:
    # The caption seed is the scene seed, shared by every cell of a seed. With one object the short caption's
    # random draws (word choices, template) never depend on its cell, so the wording is fixed and only the
    # place phrase differs between the prompts of one seed.
    return caption_record(scene, "short", "en", seed=scene.seed).text


@dataclass
class PlacementResult:
    """One model's placement check, counted over trials (prompts) and seeds."""

    cells: int
    first_seed: int
    hits: int = 0
    trials: int = 0
    seeds: int = 0
    ignored_seeds: int = 0
    """Seeds whose images leave the same cells occupied whatever cell the caption names."""

    def summary(self) -> dict:
        return {
            "hit_rate": self.hits / self.trials if self.trials else None,
            "hit_rate_ci95": list(wilson_interval(self.hits, self.trials)),
            "chance": 1 / self.cells,
            "hits": self.hits,
            "trials": self.trials,
            "seeds": self.seeds,
            "ignored_seeds": self.ignored_seeds,
            "ignored_share": self.ignored_seeds / self.seeds if self.seeds else None,
            "cells": self.cells,
            "first_seed": self.first_seed,
        }


def check_placeable(world: WorldConfig) -> None:
    if world.cells < 2:
        raise UserError("the placement check needs a grid of at least 2x2: a 1x1 world has no places to name")


def evaluate_placement(
    generate: Generate,
    world: WorldConfig,
    num_seeds: int,
    first_seed: int = 0,
    batch_size: int = 16,
    progress: Callable[[int], None] | None = None,
) -> PlacementResult:
    """Draw every placement scene's caption with the scene's seed as the noise seed and count the hits."""
    check_placeable(world)
    if num_seeds < 1 or batch_size < 1:
        raise UserError(f"the placement check needs at least 1 seed and a batch size of at least 1, "
                        f"not {num_seeds} and {batch_size}")
    scenes = [scene for group in placement_scenes(world, num_seeds, first_seed) for scene in group]
    parsed = []
    for start in range(0, len(scenes), batch_size):
        batch = scenes[start:start + batch_size]
        images = generate([placement_caption(scene) for scene in batch], [scene.seed for scene in batch])
        parsed += [parse_drawn(image, world) for image in images]
        if progress:
            progress(len(batch))
    result = PlacementResult(cells=world.cells, first_seed=first_seed, seeds=num_seeds, trials=len(scenes))
    for start in range(0, len(scenes), world.cells):
        group = slice(start, start + world.cells)  # one seed's prompts
        layouts = set()
        for scene, drawn in zip(scenes[group], parsed[group]):
            (named,) = scene.objects
            found = drawn.at(*named.cell)
            result.hits += found is not None and (found.shape, found.colour) == (named.shape, named.colour)
            layouts.add(frozenset(obj.cell for obj in drawn.objects))
        result.ignored_seeds += len(layouts) == 1
    return result


def format_placement(placement: dict[str, dict]) -> str:
    """Markdown: one row per model, the hit rate with its interval, chance, and the seeds whose layout
    stays put whatever cell the caption names."""
    header = ["model", "place hit rate [95% CI]", "chance", "seeds whose layout ignores the place words"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for model, summary in placement.items():
        low, high = summary["hit_rate_ci95"]
        lines.append(
            f"| {model} | {summary['hit_rate']:.3f} [{low:.3f}, {high:.3f}] ({summary['hits']}/{summary['trials']}) "
            f"| {summary['chance']:.3f} | {summary['ignored_seeds']}/{summary['seeds']} |"
        )
    return "\n".join(lines) + "\n"


def placement_section(placement: dict[str, dict]) -> str:
    """The Markdown section: what was measured, then the table."""
    return (
        f"{TITLE} Per seed, one object named in each grid cell in turn, every prompt drawn with the same "
        "noise seed: the share of prompts whose named cell holds that object (right shape and colour), and the "
        "seeds whose drawn layout is the same whatever cell is named.\n\n" + format_placement(placement)
    )
