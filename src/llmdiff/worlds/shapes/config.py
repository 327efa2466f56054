"""The shapes world's vocabularies and difficulty knobs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from llmdiff.errors import UserError

# Every shape the renderer and the oracle know, in a fixed order (the order is part of the seed contract).
SHAPES = ("circle", "square", "triangle", "diamond", "cross", "star")

# Saturated object colours, at least ~100 apart in RGB from each other and from every background, so that
# nearest-colour segmentation survives noise, JPEG and anti-aliased edges.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 30, 45),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (245, 225, 50),
    "purple": (150, 50, 200),
    "orange": (245, 130, 0),
}

# Neutral backgrounds, so no object colour can be mistaken for the canvas.
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (245, 245, 245),
    "gray": (125, 125, 125),
    "black": (20, 20, 20),
}

SIZES = ("small", "large")

MIN_CELL_PIXELS = 16

# Extent of an object (its bounding square) as a fraction of its cell's side.
SIZE_FRACTION = {"small": 0.45, "large": 0.8}


@dataclass(frozen=True)
class WorldConfig:
    """Difficulty knobs of the shapes world; the defaults are the project's benchmark world."""

    grid: int = 3
    """Cells per side of the grid; one object per cell at most."""
    min_objects: int = 1
    max_objects: int = 5
    """K: scenes hold between `min_objects` and `max_objects` objects."""
    shapes: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "cross", "star")
    colours: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple", "orange")
    backgrounds: tuple[str, ...] = ("white", "black")
    """Gray is available but off by default: purple and green on gray survive JPEG poorly (docs/shapes.md)."""
    sizes: tuple[str, ...] = SIZES
    resolution: int = 64
    """Side of the rendered image in pixels."""
    supersample: int = 4
    """Shapes are drawn this many times larger and box-filtered down: exact, deterministic anti-aliasing."""
    jitter: float = 0.5
    """How far an object may drift from its cell's centre, as a fraction of the room its size leaves."""
    unique_objects: bool = True
    """No two objects share shape and colour, so "the red circle" always names one object."""

    def __post_init__(self):
        _check_vocabulary("shape", self.shapes, SHAPES)
        _check_vocabulary("colour", self.colours, COLOURS)
        _check_vocabulary("background", self.backgrounds, BACKGROUNDS)
        _check_vocabulary("size", self.sizes, SIZES)
        if not 1 <= self.grid <= 4:
            raise UserError(f"grid must be between 1 and 4 cells per side, not {self.grid}")
        if not 1 <= self.min_objects <= self.max_objects:
            raise UserError(
                f"need 1 <= min_objects <= max_objects, got min_objects={self.min_objects}, "
                f"max_objects={self.max_objects}"
            )
        if self.max_objects > self.cells:
            raise UserError(
                f"impossible scenes: max_objects={self.max_objects} but a {self.grid}x{self.grid} grid has "
                f"only {self.cells} cells (one object per cell)"
            )
        if self.unique_objects and self.max_objects > len(self.shapes) * len(self.colours):
            raise UserError(
                f"impossible scenes: max_objects={self.max_objects} distinct objects but only "
                f"{len(self.shapes)} shapes x {len(self.colours)} colours"
            )
        if self.resolution < MIN_CELL_PIXELS * self.grid:
            # Smaller cells leave small objects a few pixels wide: the oracle can no longer read them.
            raise UserError(
                f"resolution {self.resolution} is too small for a {self.grid}x{self.grid} grid "
                f"(cells need at least {MIN_CELL_PIXELS} pixels: use at least {MIN_CELL_PIXELS * self.grid})"
            )
        if not 1 <= self.supersample <= 8:
            raise UserError(f"supersample must be between 1 and 8, not {self.supersample}")
        if not 0.0 <= self.jitter <= 1.0:
            raise UserError(f"jitter must be between 0 and 1, not {self.jitter}")

    @property
    def cells(self) -> int:
        return self.grid * self.grid

    @property
    def cell_size(self) -> float:
        """Side of a cell in output pixels (not always a whole number)."""
        return self.resolution / self.grid

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> WorldConfig:
        tuples = {k: tuple(v) for k, v in data.items() if isinstance(v, list)}
        return cls(**{**data, **tuples})

    @classmethod
    def from_file(cls, path: str | Path) -> WorldConfig:
        """The world a dataset or a packaged model was made in: the "world" entry of its world.json."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8"))["world"])


def _check_vocabulary(kind: str, chosen: tuple[str, ...], known) -> None:
    if not chosen:
        raise UserError(f"the world needs at least one {kind}")
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise UserError(f"unknown {kind} {unknown[0]!r}; known: {', '.join(known)}")
    if len(set(chosen)) != len(chosen):
        raise UserError(f"{kind}s are listed twice: {', '.join(chosen)}")


DEFAULT_WORLD = WorldConfig()
"""The benchmark world; the default of every function taking a config (frozen, so safe to share)."""

WORLD_FILE = "world.json"


def load_world(spec: str | Path | None = None) -> WorldConfig:
    """The world `spec` names: a world.json, a folder holding one (a model or a dataset), "benchmark" (the
    larger world of docs/shapes.md) or "shipped" (the shipped model's). None: the shipped model's world when
    that model is installed, else the benchmark world, so that every command agrees with the model it runs."""
    from llmdiff.defaults import default_model_dir

    if spec is None or str(spec) == "shipped":
        shipped = default_model_dir()
        if shipped is None:
            if spec is None:
                return DEFAULT_WORLD
            raise UserError("no shipped model is installed, so there is no shipped world; name a world.json")
        return WorldConfig.from_file(shipped / WORLD_FILE)
    if str(spec) == "benchmark":
        return DEFAULT_WORLD
    path = Path(spec)
    if path.is_dir():
        path = path / WORLD_FILE
    if not path.is_file():
        raise UserError(f"world {spec}: no such file (give a world.json, a model or dataset folder holding one, "
                        "'shipped' or 'benchmark')")
    try:
        return WorldConfig.from_file(path)
    except (ValueError, KeyError, TypeError) as error:
        raise UserError(f"cannot read the world in {path}: {error}") from None
