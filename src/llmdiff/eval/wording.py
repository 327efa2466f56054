"""Does a model follow descriptions in words it was never trained on? The held-out wording columns.

Per language with held-out wording (`llmdiff.worlds.shapes.heldout`), five columns over the same test scenes
and noise seeds as the main table: held-out sentence frames, held-out synonyms, the same short frame in taught
synonyms (the control for the held-out ones), the world's paragraph with unrelated sentences mixed in, and the
paragraph with "there is no ..." sentences about absent things. Each is
scored by the oracle like any column (recall, all-correct); the negation column adds the share of negated
things absent from the image, beside the same share in the distractor column's image of the scene (drawn with
the same seed from a caption that does not mention them): how often the model leaves them out anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llmdiff.eval.drawing import Generate, parse_drawn
from llmdiff.eval.shapes import CellResult, ShapesEvalConfig, test_split_start
from llmdiff.eval.study.analysis import wilson_interval

TITLE = "In words it never saw"


@dataclass(frozen=True)
class WordingCondition:
    kind: str
    language: str

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.language}"


def wording_conditions(languages: Sequence[str]) -> list[WordingCondition]:
    from llmdiff.worlds.shapes.heldout import KINDS

    return [WordingCondition(kind, language) for language in languages for kind in KINDS]


@dataclass
class WordingCell(CellResult):
    """A column's cell; negation columns also count the negated things and how many the image leaves out."""

    negations: int = 0
    negations_absent: int = 0
    negations_absent_unsaid: int = 0
    """The same negated things, absent from the distractor column's image of the scene."""
    negations_compared: int = 0

    def summary(self) -> dict:
        summary = super().summary()
        if self.negations:
            summary["negations"] = self.negations
            summary["negated_absent"] = self.negations_absent / self.negations
            summary["negated_absent_ci95"] = list(wilson_interval(self.negations_absent, self.negations))
        if self.negations_compared:
            summary["negated_absent_unsaid"] = self.negations_absent_unsaid / self.negations_compared
        return summary


def absent_from(item, parsed) -> bool:
    shape, colour = item
    return not any((shape is None or o.shape == shape) and (colour is None or o.colour == colour)
                   for o in parsed.objects)


def evaluate_wording(generate: Generate, config: ShapesEvalConfig,
                     progress: Callable[[int], None] | None = None) -> dict[str, WordingCell]:
    """Every held-out wording column of `config.wording` for one model. Returns {column name: WordingCell}."""
    from llmdiff.worlds.shapes import compare, sample_scene
    from llmdiff.worlds.shapes.heldout import heldout_caption

    world = config.world_config()
    first = config.first_seed if config.first_seed is not None else test_split_start()
    seeds = list(range(first, first + config.num_scenes))
    scenes = [sample_scene(seed, world) for seed in seeds]
    results: dict[str, WordingCell] = {}
    unsaid: dict[str, list] = {}  # per language, the distractor column's parsed images
    for condition in wording_conditions(config.wording):
        records = [heldout_caption(scene, condition.kind, condition.language, scene.seed, world) for scene in scenes]
        cell = WordingCell()
        drawn = []
        for start in range(0, len(scenes), config.batch_size):
            batch = range(start, min(start + config.batch_size, len(scenes)))
            images = generate([records[i].text for i in batch], [seeds[i] for i in batch])
            for i, image in zip(batch, images):
                parsed = parse_drawn(image, world)
                drawn.append(parsed)
                metrics = compare(parsed, scenes[i])
                cell.add_objects(parsed, scenes[i])
                cell.recalls.append(metrics.recall)
                cell.all_correct.append(metrics.all_correct)
                for item in records[i].negated:
                    cell.negations += 1
                    cell.negations_absent += absent_from(item, parsed)
                    if condition.language in unsaid:
                        cell.negations_compared += 1
                        cell.negations_absent_unsaid += absent_from(item, unsaid[condition.language][i])
            if progress:
                progress(len(batch))
        if condition.kind == "distractors":
            unsaid[condition.language] = drawn
        results[condition.name] = cell
    return results


def format_wording(table: dict[str, dict[str, dict]]) -> str:
    """Markdown: one row per model; per column 'recall / all-correct', negation columns add the share of
    negated things absent from the image (and, in brackets, absent when the caption does not mention them)."""
    names = list(dict.fromkeys(name for cells in table.values() for name in cells))
    header = ["model"] + [f"{name} recall / all-correct" + (" / negated absent (unsaid)" if name.startswith("negation")
                                                            else "") for name in names]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for model, cells in table.items():
        row = [model]
        for name in names:
            cell = cells.get(name)
            if cell is None:
                row.append("—")
                continue
            text = f"{cell['recall']:.3f} / {cell['all_correct']:.3f}"
            if "negated_absent" in cell:
                unsaid = cell.get("negated_absent_unsaid")
                text += f" / {cell['negated_absent']:.3f}" + ("" if unsaid is None else f" ({unsaid:.3f})")
            row.append(text)
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def wording_section(table: dict[str, dict[str, dict]]) -> str:
    return (
        f"{TITLE}: held-out sentence frames, held-out synonyms (and, as their control, taught synonyms in the same "
        "frame), the paragraph with unrelated sentences mixed in, "
        "and the paragraph with sentences saying what is not there (docs/shapes.md lists the held-out wording). "
        "Negation columns add the share of negated things absent from the image, and in brackets the same share "
        "in the distractor column's image of the scene, whose caption does not mention them.\n\n"
        + format_wording(table)
    )
