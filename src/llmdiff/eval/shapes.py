"""The shapes-world ablation: does each model draw what the caption says, by the world's exact oracle?

Rows are models (the base model with its own 77-token CLIP encoder, then the LLM-conditioned model after
each training stage); columns are caption conditions (short English captions, English paragraphs, and
paragraphs in every other language). Each cell reports the oracle's object recall and all-correct rate over
the same held-out test scenes with the same seeds, with 95% confidence intervals; paragraph columns also
report recall over objects first described after CLIP's 77-token window. A second table says where missed
objects go wrong: nothing drawn in their cell, or drawn with the wrong shape, colour or size.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from llmdiff.errors import UserError
from llmdiff.eval.drawing import Generate, as_generate, parse_drawn
from llmdiff.eval.study.analysis import wilson_interval
from llmdiff.worlds.shapes.oracle import ATTRIBUTES, attribute_hits

BOOTSTRAP_SAMPLES = 2000
DIAGNOSED_CONDITIONS = ("short-en", "paragraph-en")


@dataclass(frozen=True)
class Condition:
    """One column: captions of one style in one language."""

    style: str
    language: str

    @property
    def name(self) -> str:
        return f"{self.style}-{self.language}"


def conditions(languages: Sequence[str], freeform: Sequence[str] = ()) -> list[Condition]:
    """Short English captions, paragraphs in `languages`, then freeform captions in `freeform`."""
    return ([Condition("short", "en")] + [Condition("paragraph", language) for language in languages]
            + [Condition("freeform", language) for language in freeform])


@dataclass
class ShapesEvalConfig:
    """What to evaluate on: which scenes, which captions, how images are drawn."""

    num_scenes: int = 500
    """Held-out test scenes per column (the same scenes in every column and row)."""
    first_seed: int | None = None
    """First scene seed; default: the start of the shapes world's test split."""
    languages: tuple[str, ...] = ("en", "zh", "fr", "es", "de", "ja")
    steps: int = 30
    guidance_scale: float = 5.0
    batch_size: int = 16
    world: dict | None = None
    """The world the models were trained in (a dataset's world.json "world" entry); None: the default."""
    wording: tuple[str, ...] = ()
    """Languages of the held-out wording columns (`llmdiff.eval.wording`); empty: none."""
    freeform: tuple[str, ...] = ()
    """Languages of columns on `freeform` captions: the caption generator's casual wording, the words a
    freeform training round sees (so seen wording, apart from the held-out columns); empty: none."""

    def world_config(self):
        from llmdiff.worlds.shapes import WorldConfig

        return WorldConfig.from_dict(self.world) if self.world else WorldConfig()

    def __post_init__(self) -> None:
        if self.num_scenes < 1:
            raise UserError(f"num_scenes must be at least 1, not {self.num_scenes}")
        if self.batch_size < 1:
            raise UserError(f"batch_size must be at least 1, not {self.batch_size}")


@dataclass
class CellResult:
    """One (model, condition) cell: per-scene oracle metrics, summarised with intervals."""

    recalls: list[float] = field(default_factory=list)
    all_correct: list[float] = field(default_factory=list)
    after_window_hits: int = 0
    after_window_objects: int = 0
    objects: int = 0
    placed: int = 0
    """Scene objects whose cell holds some object in the image."""
    same: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ATTRIBUTES, 0))
    """Per attribute: placed objects whose drawn object has the scene object's value."""

    def add_objects(self, parsed, scene) -> None:
        """Count, object by object, where a miss comes from: nothing in its cell, or a wrong attribute."""
        placed, hits = attribute_hits(parsed, scene)
        self.objects += len(scene.objects)
        self.placed += placed
        for attribute in ATTRIBUTES:
            self.same[attribute] += hits[attribute]

    def summary(self) -> dict:
        n = len(self.recalls)
        correct = int(sum(self.all_correct))
        summary = {
            "scenes": n,
            "recall": float(np.mean(self.recalls)) if n else None,
            "recall_ci95": bootstrap_mean_interval(self.recalls),
            "all_correct": correct / n if n else None,
            "all_correct_ci95": list(wilson_interval(correct, n)),
            "objects": self.objects,
            "placed": self.placed / self.objects if self.objects else None,
        }
        for attribute in ATTRIBUTES:
            summary[f"{attribute}_when_placed"] = self.same[attribute] / self.placed if self.placed else None
        if self.after_window_objects:
            summary["recall_after_77"] = self.after_window_hits / self.after_window_objects
            summary["recall_after_77_ci95"] = list(
                wilson_interval(self.after_window_hits, self.after_window_objects)
            )
            summary["objects_after_77"] = self.after_window_objects
        return summary


def bootstrap_mean_interval(values: Sequence[float], samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> list:
    """95% percentile bootstrap interval of the mean over scenes."""
    if not values:
        return [math.nan, math.nan]
    array = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = array[rng.integers(0, len(array), size=(samples, len(array)))].mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def evaluate_model(generate: Generate, config: ShapesEvalConfig, progress: Callable[[int], None] | None = None):
    """Every condition's cell for one model, scored by the oracle. Returns {condition name: CellResult}."""
    from llmdiff.worlds.shapes import caption_record, clip_tokenizer, compare, sample_scene
    from llmdiff.worlds.shapes import CLIP_WINDOW
    from llmdiff.worlds.shapes.tokens import mention_positions

    world = config.world_config()
    first = config.first_seed if config.first_seed is not None else test_split_start()
    seeds = list(range(first, first + config.num_scenes))
    scenes = [sample_scene(seed, world) for seed in seeds]
    tokenizer = clip_tokenizer()
    results = {}
    for condition in conditions(config.languages, config.freeform):
        records = [caption_record(scene, condition.style, condition.language, seed=scene.seed, world=world)
                   for scene in scenes]
        mentions = [None] * len(records)
        if condition.style == "paragraph":
            _, mentions = mention_positions(tokenizer, [r.text for r in records], [r.mention_spans for r in records])
        cell = CellResult()
        for start in range(0, len(scenes), config.batch_size):
            batch = range(start, min(start + config.batch_size, len(scenes)))
            images = generate([records[i].text for i in batch], [seeds[i] for i in batch])
            for i, image in zip(batch, images):
                parsed = parse_drawn(image, world)
                metrics = compare(parsed, scenes[i], mentions[i])
                cell.add_objects(parsed, scenes[i])
                cell.recalls.append(metrics.recall)
                cell.all_correct.append(metrics.all_correct)
                if mentions[i] is not None:
                    found = {obj.key for obj in parsed.objects}
                    for obj, position in zip(scenes[i].objects, mentions[i]):
                        if position >= CLIP_WINDOW:
                            cell.after_window_objects += 1
                            cell.after_window_hits += obj.key in found
            if progress:
                progress(len(batch))
        results[condition.name] = cell
    return results


def test_split_start() -> int:
    from llmdiff.worlds.shapes.dataset import SPLIT_SEED_BASE

    return SPLIT_SEED_BASE["test"]


def format_table(table: dict[str, dict[str, dict]], condition_names: list[str]) -> str:
    """Markdown: one row per model, per condition 'recall / all-correct', plus recall after token 77."""
    header = ["model"] + [f"{name} recall / all-correct" for name in condition_names] + ["en recall after token 77"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for model, cells in table.items():
        row = [model]
        for name in condition_names:
            cell = cells[name]
            low, high = cell["recall_ci95"]
            row.append(f"{cell['recall']:.3f} [{low:.3f}, {high:.3f}] / {cell['all_correct']:.3f}")
        after = cells.get("paragraph-en", {}).get("recall_after_77")
        row.append("—" if after is None else f"{after:.3f} ({cells['paragraph-en']['objects_after_77']} objects)")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def format_diagnosis(table: dict[str, dict[str, dict]], condition_names: Sequence[str] = DIAGNOSED_CONDITIONS) -> str:
    """Markdown: where the missed objects go wrong. Per model and condition, the share of scene objects whose
    cell holds something at all, then, of those, the share drawn with the right shape, colour and size."""
    names = [name for name in condition_names if all(name in cells for cells in table.values())]
    header = ["model"] + [f"{name} placed / shape / colour / size" for name in names]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for model, cells in table.items():
        row = [model]
        for name in names:
            cell = cells[name]
            rates = [cell.get("placed")] + [cell.get(f"{a}_when_placed") for a in ATTRIBUTES]
            row.append(" / ".join("—" if rate is None else f"{rate:.2f}" for rate in rates))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def write_results(
    table: dict, config: ShapesEvalConfig, output: Path, placement: dict[str, dict] | None = None,
    wording: dict[str, dict[str, dict]] | None = None,
) -> tuple[Path, Path]:
    """JSON with every number and the Markdown tables, both written atomically.

    `placement` ({model: placement summary}) adds the placement check, `wording` ({model: {column: summary}})
    the held-out wording columns; an empty `table` (the placement check alone) leaves the main tables out of
    the Markdown.
    """
    from llmdiff.eval.placement import placement_section
    from llmdiff.files import atomic_output

    output.mkdir(parents=True, exist_ok=True)
    names = [c.name for c in conditions(config.languages, config.freeform)]
    data = {"config": config.__dict__ | {"languages": list(config.languages), "wording": list(config.wording),
                                         "freeform": list(config.freeform)},
            "results": table}
    if placement:
        data["placement"] = placement
    if wording:
        data["wording"] = wording
    json_path, markdown_path = output / "shapes_eval.json", output / "shapes_eval.md"
    with atomic_output(json_path) as file:
        file.write(json.dumps(data, indent=2) + "\n")
    sections = []
    if table:
        world = config.world_config()
        sections += [
            format_table(table, names),
            "Where the errors are: the share of scene objects whose grid cell holds any object, and of those, "
            f"the share drawn with the right shape, colour and size (chance: 1/{len(world.shapes)}, "
            f"1/{len(world.colours)}, 1/{len(world.sizes)}).\n\n" + format_diagnosis(table),
        ]
    if wording:
        from llmdiff.eval.wording import wording_section

        sections.append(wording_section(wording))
    if placement:
        sections.append(placement_section(placement))
    with atomic_output(markdown_path) as file:
        file.write("\n".join(sections))
    return json_path, markdown_path


def _as_generate(call, config: ShapesEvalConfig) -> Generate:
    """A pipeline call as a `Generate` with the world's size and the config's settings."""
    return as_generate(call, config.steps, config.guidance_scale, config.world_config().resolution)


def clip_model(base: str | Path, config: ShapesEvalConfig, device: str = "cpu") -> Generate:
    """The base model with its own CLIP encoder (which keeps 77 tokens), as a `Generate`."""
    from llmdiff.pipeline import load_base_pipeline

    pipeline, _ = load_base_pipeline(base, with_clip=True)
    pipeline.to(device)
    pipeline.set_progress_bar_config(disable=True)
    return _as_generate(pipeline, config)


class SharedEncoders:
    """One LLM text encoder per (LLM, encoder settings), each batch of prompts encoded once.

    Every row of the table sees the same prompts in the same batches, so the rows after the first that
    read the same LLM the same way (stages 1-3 usually) reuse its encodings instead of running the LLM
    again: on a CPU the LLM costs more than the small UNet's whole sampling loop.
    """

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._encoders: dict[tuple, object] = {}

    def get(self, llm, encoder_config, lora=None):
        from llmdiff.text_encoder import LLMTextEncoder, TextEncoderConfig

        encoder_config = encoder_config or TextEncoderConfig()
        lora = None if lora is None else str(Path(lora).resolve())
        key = (None if llm is None else str(llm), json.dumps(encoder_config.to_dict(), sort_keys=True), lora)
        if key not in self._encoders:
            encoder = LLMTextEncoder.from_pretrained(llm, encoder_config, lora=lora).to(self.device)
            encoder.encode = _remembering(encoder.encode)
            self._encoders[key] = encoder
        return self._encoders[key]


def _remembering(encode):
    memory = {}

    def remembered(prompts):
        batch = (prompts,) if isinstance(prompts, str) else tuple(prompts)
        if batch not in memory:
            memory[batch] = encode(list(batch))
        return memory[batch]

    return remembered


def llm_model(
    model_dir: str | Path, config: ShapesEvalConfig, device: str = "cpu", encoders: SharedEncoders | None = None
) -> Generate:
    """An LLM-conditioned model directory (`base/` + `adapter/`) as a `Generate`."""
    from functools import partial

    from llmdiff.llm_lora import llm_lora_dir
    from llmdiff.model_dir import ModelDir
    from llmdiff.pipeline import LLMDiffusionPipeline, load_text_encoder_config

    folder = ModelDir.open(model_dir)
    adapter = folder.adapter
    saved_llm, saved_config = load_text_encoder_config(adapter)
    llm = str(folder.llm) if folder.llm is not None else saved_llm
    text_encoder = encoders.get(llm, saved_config, lora=llm_lora_dir(adapter)) if encoders else None
    pipe = LLMDiffusionPipeline.from_pretrained(
        base=folder.base, adapter=adapter, device=device, text_encoder=text_encoder,
        llm=None if text_encoder is not None else llm,
    )
    return _as_generate(partial(pipe, progress=False), config)
