"""Scenes: what an image of the shapes world contains, and how to sample one from a seed."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from llmdiff.errors import UserError
from llmdiff.worlds.shapes.config import (
    BACKGROUNDS,
    COLOURS,
    DEFAULT_WORLD,
    SHAPES,
    SIZE_FRACTION,
    SIZES,
    WorldConfig,
)


@dataclass(frozen=True)
class SceneObject:
    """One flat shape, centred (up to `offset`) in one grid cell."""

    shape: str
    colour: str
    size: str
    row: int
    col: int
    offset: tuple[float, float] = (0.0, 0.0)
    """Drift of the centre from the cell's centre as (dx, dy) in cell sides; drawing only, not semantics."""

    @property
    def cell(self) -> tuple[int, int]:
        return (self.row, self.col)

    @property
    def key(self) -> tuple[str, str, int, int]:
        """What the oracle must recover: (shape, colour, row, col)."""
        return (self.shape, self.colour, self.row, self.col)


@dataclass(frozen=True)
class Scene:
    """A background colour and objects, at most one per cell of a `grid` x `grid` grid."""

    background: str
    objects: tuple[SceneObject, ...]
    grid: int
    seed: int | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.background not in BACKGROUNDS:
            raise UserError(f"unknown background {self.background!r}; known: {', '.join(BACKGROUNDS)}")
        cells = set()
        for obj in self.objects:
            if obj.shape not in SHAPES or obj.colour not in COLOURS or obj.size not in SIZES:
                raise UserError(f"unknown attribute in {obj}")
            if not (0 <= obj.row < self.grid and 0 <= obj.col < self.grid):
                raise UserError(f"cell {obj.cell} is outside the {self.grid}x{self.grid} grid")
            if obj.cell in cells:
                raise UserError(f"impossible scene: two objects in cell {obj.cell}")
            cells.add(obj.cell)

    def at(self, row: int, col: int) -> SceneObject | None:
        return next((obj for obj in self.objects if obj.cell == (row, col)), None)

    def to_dict(self) -> dict:
        return {
            "background": self.background,
            "grid": self.grid,
            "seed": self.seed,
            "objects": [
                {"shape": o.shape, "colour": o.colour, "size": o.size, "row": o.row, "col": o.col,
                 "offset": list(o.offset)}
                for o in self.objects
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Scene:
        objects = tuple(
            SceneObject(o["shape"], o["colour"], o["size"], o["row"], o["col"], tuple(o.get("offset", (0, 0))))
            for o in data["objects"]
        )
        return cls(data["background"], objects, data["grid"], data.get("seed"))


def sample_scene(seed: int, config: WorldConfig = DEFAULT_WORLD) -> Scene:
    """The scene of `seed`: the same seed and config give the same scene on every machine."""
    rng = random.Random(seed)
    count = rng.randint(config.min_objects, config.max_objects)
    cells = rng.sample([(r, c) for r in range(config.grid) for c in range(config.grid)], count)
    pairs = [(s, c) for s in config.shapes for c in config.colours]
    if config.unique_objects:
        chosen = rng.sample(pairs, count)
    else:
        chosen = [rng.choice(pairs) for _ in range(count)]
    objects = []
    for (row, col), (shape, colour) in zip(cells, chosen):
        size = rng.choice(config.sizes)
        room = (1.0 - SIZE_FRACTION[size]) / 2 * config.jitter
        offset = (rng.uniform(-room, room), rng.uniform(-room, room))
        objects.append(SceneObject(shape, colour, size, row, col, offset))
    # Objects are kept in reading order (row by row); captions shuffle them for themselves.
    objects.sort(key=lambda o: o.cell)
    return Scene(rng.choice(config.backgrounds), tuple(objects), config.grid, seed)


# Relations are derived from cells alone, so they are always exactly true of the scene.
def relation(a: SceneObject, b: SceneObject) -> str | None:
    """How `a` stands to `b`: "left of", "right of", "above", "below" (same row or column only), or None."""
    if a.row == b.row:
        return "left of" if a.col < b.col else "right of"
    if a.col == b.col:
        return "above" if a.row < b.row else "below"
    return None


def adjacent(a: SceneObject, b: SceneObject) -> bool:
    """Next to each other in a row or a column ("beside it")."""
    return abs(a.row - b.row) + abs(a.col - b.col) == 1


def relations(scene: Scene) -> list[tuple[int, str, int]]:
    """Every (i, relation, j) between objects sharing a row or column, by index into `scene.objects`."""
    found = []
    for i, a in enumerate(scene.objects):
        for j, b in enumerate(scene.objects):
            if i != j and (rel := relation(a, b)) is not None:
                found.append((i, rel, j))
    return found
