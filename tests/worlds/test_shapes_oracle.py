"""The shapes world's scenes, renderer and oracle, including the oracle's validity checks."""

import io

import numpy as np
import pytest
from PIL import Image

from llmdiff.errors import UserError
from llmdiff.worlds.shapes import (
    Scene,
    SceneObject,
    WorldConfig,
    compare,
    parse_image,
    relations,
    render,
    sample_scene,
    score,
    summarise,
)

DEFAULT = WorldConfig()
FAST = WorldConfig(resolution=32, grid=2, max_objects=4)
SEEDS = range(60)


def noisy(image, seed, sigma=0.05):
    pixels = np.asarray(image, np.float32) / 255 + np.random.default_rng(seed).normal(0, sigma, (*image.size[::-1], 3))
    return Image.fromarray((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8))


def jpeg(image, quality=70):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def mean_scores(config, make_image, seeds=SEEDS):
    results = []
    for seed in seeds:
        scene = sample_scene(seed, config)
        results.append(score(make_image(scene, seed), scene, config))
    return summarise(results)


def test_same_seed_same_scene_and_identical_bytes():
    a, b = sample_scene(11), sample_scene(11)
    assert a == b
    assert render(a).tobytes() == render(b).tobytes()
    assert sample_scene(12) != a


def test_known_scene_renders_expected_pixels():
    scene = Scene("white", (SceneObject("square", "red", "large", 0, 0),), grid=2)
    image = np.asarray(render(scene, FAST))
    assert image.shape == (32, 32, 3)
    assert tuple(image[8, 8]) == (215, 30, 45)  # inside the square
    assert tuple(image[0, 0]) == (245, 245, 245)  # margin of its cell
    assert tuple(image[24, 24]) == (245, 245, 245)  # the empty cell
    edge = image[:, :, 1][8, 1]  # the square's left edge falls inside a pixel: a blend, not either colour
    assert 30 < edge < 245


def test_scenes_respect_config():
    config = WorldConfig(grid=3, min_objects=2, max_objects=4, shapes=("circle", "cross"), colours=("red", "blue"))
    for seed in range(50):
        scene = sample_scene(seed, config)
        assert 2 <= len(scene.objects) <= 4
        assert len({o.cell for o in scene.objects}) == len(scene.objects)
        assert len({(o.shape, o.colour) for o in scene.objects}) == len(scene.objects)
        assert {o.shape for o in scene.objects} <= {"circle", "cross"}
    assert {len(sample_scene(s).objects) for s in range(100)} == {1, 2, 3, 4, 5}


def test_relations_come_from_cells():
    scene = Scene("black", (SceneObject("circle", "red", "small", 0, 0), SceneObject("star", "blue", "large", 0, 2),
                            SceneObject("cross", "green", "small", 2, 0)), grid=3)
    assert set(relations(scene)) == {(0, "left of", 1), (1, "right of", 0), (0, "above", 2), (2, "below", 0)}


def test_scene_round_trips_through_dict():
    scene = sample_scene(5)
    assert Scene.from_dict(scene.to_dict()) == scene


@pytest.mark.parametrize("config", [DEFAULT, FAST], ids=["64px-3x3", "32px-2x2"])
def test_clean_renders_score_exactly_one(config):
    scores = mean_scores(config, lambda scene, seed: render(scene, config))
    for name in ("recall", "precision", "f1", "attribute_accuracy", "count_accuracy", "background_accuracy", "all_correct"):
        assert scores[name] == 1.0, name


def test_parse_image_recovers_the_scene():
    for seed in range(20):
        scene = sample_scene(seed)
        parsed = parse_image(render(scene))
        assert parsed.background == scene.background
        assert [(o.shape, o.colour, o.size, o.cell) for o in parsed.objects] == [
            (o.shape, o.colour, o.size, o.cell) for o in scene.objects
        ]


@pytest.mark.parametrize("config", [DEFAULT, FAST], ids=["64px-3x3", "32px-2x2"])
def test_gaussian_noise_keeps_scores_above_098(config):
    scores = mean_scores(config, lambda scene, seed: noisy(render(scene, config), seed))
    for name in ("recall", "precision", "attribute_accuracy", "count_accuracy", "background_accuracy"):
        assert scores[name] >= 0.98, (name, scores[name])


def test_jpeg_quality_70_keeps_scores_above_098():
    scores = mean_scores(DEFAULT, lambda scene, seed: jpeg(render(scene, DEFAULT)), seeds=range(100))
    for name in ("recall", "precision", "attribute_accuracy", "count_accuracy", "background_accuracy"):
        assert scores[name] >= 0.98, (name, scores[name])


def test_a_different_scene_scores_low():
    scores = mean_scores(DEFAULT, lambda scene, seed: render(sample_scene(seed + 10_000), DEFAULT))
    assert scores["recall"] < 0.05
    assert scores["precision"] < 0.05
    assert scores["all_correct"] == 0.0


@pytest.mark.parametrize("kind", ["uniform noise", "white", "black", "gray"])
def test_noise_and_blank_images_score_zero(kind):
    rng = np.random.default_rng(0)

    def make(scene, seed):
        if kind == "uniform noise":
            return Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
        return Image.new("RGB", (64, 64), {"white": (255, 255, 255), "black": (0, 0, 0), "gray": (128, 128, 128)}[kind])

    scores = mean_scores(DEFAULT, make)
    for name in ("recall", "precision", "f1", "attribute_accuracy", "count_accuracy", "all_correct"):
        assert scores[name] == 0.0, name


def test_metrics_of_a_partly_right_image():
    scene = Scene("white", (SceneObject("circle", "red", "large", 0, 0), SceneObject("square", "blue", "small", 1, 1),
                            SceneObject("cross", "green", "large", 2, 2)), grid=3)
    parsed = Scene("white", (SceneObject("circle", "red", "small", 0, 0), SceneObject("triangle", "blue", "small", 1, 1),
                             SceneObject("star", "yellow", "large", 0, 2)), grid=3)
    metrics = compare(parsed, scene, mention_tokens=[10, 90, 120])
    assert metrics.recall == pytest.approx(1 / 3)  # the circle: size is not part of the (shape, colour, cell) key
    assert metrics.precision == pytest.approx(1 / 3)
    assert metrics.shape_accuracy == pytest.approx(1 / 3)
    assert metrics.colour_accuracy == pytest.approx(2 / 3)
    assert metrics.size_accuracy == pytest.approx(1 / 3)
    assert metrics.attribute_accuracy == pytest.approx(4 / 9)
    assert metrics.count_accuracy == 1.0
    assert metrics.all_correct == 0.0
    assert metrics.recall_before_window == 1.0
    assert metrics.recall_after_window == 0.0


def test_all_correct_needs_sizes_and_background():
    scene = Scene("white", (SceneObject("circle", "red", "large", 0, 0),), grid=3)
    assert compare(scene, scene).all_correct == 1.0
    assert compare(Scene("black", scene.objects, 3), scene).all_correct == 0.0
    assert compare(Scene("white", (SceneObject("circle", "red", "small", 0, 0),), 3), scene).all_correct == 0.0


@pytest.mark.parametrize(
    "image, message",
    [
        (Image.new("RGB", (32, 32)), "64x64"),
        (Image.new("RGBA", (64, 64)), "RGB"),
        (Image.new("L", (64, 64)), "RGB"),
        (np.zeros((64, 64), np.uint8), "uint8"),
        (np.zeros((64, 64, 3), np.float32), "uint8"),
        ("image.png", "PIL image"),
    ],
)
def test_oracle_rejects_wrong_images(image, message):
    with pytest.raises(UserError, match=message):
        score(image, sample_scene(0))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"grid": 2, "max_objects": 5}, "impossible scenes"),
        ({"min_objects": 3, "max_objects": 2}, "min_objects"),
        ({"shapes": ("circle", "hexagon")}, "unknown shape 'hexagon'"),
        ({"colours": ("red", "teal")}, "unknown colour 'teal'"),
        ({"resolution": 32, "grid": 3, "max_objects": 3}, "too small"),
        ({"shapes": ("circle",), "colours": ("red", "blue"), "max_objects": 3}, "impossible scenes"),
    ],
)
def test_config_rejects_impossible_worlds(kwargs, message):
    with pytest.raises(UserError, match=message):
        WorldConfig(**kwargs)


def test_scene_rejects_two_objects_in_one_cell():
    with pytest.raises(UserError, match="two objects in cell"):
        Scene("white", (SceneObject("circle", "red", "large", 0, 0), SceneObject("star", "blue", "small", 0, 0)), 3)
