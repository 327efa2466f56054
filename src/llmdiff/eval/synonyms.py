"""How close does the LLM itself put two words for one thing? Synonym similarity, layer by layer.

Every word the shapes world's captions may use for a colour, shape, size, background or place (the training
lexicon and the held-out one) is read in one neutral frame ("In the picture: crimson."); its state at each
layer is the mean over its tokens. States are centred per layer (the mean over all words is subtracted: raw
states of any two words share a large common direction, which makes every raw cosine high). A word is
*related* to its value at a layer when its cosine to that value's plainest word ("red") is higher than to
the plainest word of every other value of the category ("blue", "green", ...); the margin is the difference.
Where a word is related at no layer, the LLM itself does not tie it to its meaning, and no connector reading
its states can recover it without training on that word.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from llmdiff.errors import UserError

FRAMES = {"en": "In the picture: {word}.", "de": "Im Bild: {word}.", "fr": "Dans l'image : {word}.",
          "es": "En la imagen: {word}.", "zh": "画面里：{word}。", "ja": "絵の中：{word}。"}
CATEGORIES = ("colours", "shapes", "sizes", "backgrounds", "places")


@dataclass(frozen=True)
class Word:
    category: str
    value: str
    text: str
    source: str
    """ "anchor" (the plainest training word of the value), "training" or "held-out"."""


def _surface(entry, category: str) -> str:
    if isinstance(entry, str):
        return entry
    return entry[1] if category == "places" else entry[0]  # a place's label; a noun or masculine adjective


def vocabulary(language: str = "en", world=None) -> list[Word]:
    """The words of every value of the world: its anchor, the training synonyms and the held-out ones."""
    from llmdiff.worlds.shapes.config import DEFAULT_WORLD
    from llmdiff.worlds.shapes.freeform import wording
    from llmdiff.worlds.shapes.freeform.wording import region
    from llmdiff.worlds.shapes.heldout import MODULES

    world = world or DEFAULT_WORLD
    lexicon = wording(language).lexicon
    held = MODULES.get(language)
    regions = {region(r, c, world.grid) for r in range(world.grid) for c in range(world.grid)} - {None}
    keep = {"colours": set(world.colours), "shapes": set(world.shapes), "sizes": set(world.sizes),
            "backgrounds": set(world.backgrounds), "places": regions}
    held_tables = {"colours": "COLOURS", "shapes": "SHAPES", "sizes": "SIZES", "backgrounds": "BACKGROUNDS",
                   "places": "PLACES"}
    words, seen = [], set()
    for category in CATEGORIES:
        for value, entries in getattr(lexicon, category).items():
            if value not in keep[category]:
                continue
            extra = getattr(held, held_tables[category]).get(value, ()) if held else ()
            named = [(entry, "training") for entry in entries] + [(entry, "held-out") for entry in extra]
            for n, (entry, source) in enumerate(named):
                text = _surface(entry, category)
                if (category, text.lower()) in seen:
                    continue
                seen.add((category, text.lower()))
                words.append(Word(category, "-".join(value) if isinstance(value, tuple) else value, text,
                                  "anchor" if n == 0 else source))
    return words


@torch.no_grad()
def word_states(model, tokenizer, texts: Sequence[str], frame: str, batch_size: int = 32) -> torch.Tensor:
    """(words, hidden states, width): each word's states in `frame`, averaged over the word's tokens."""
    prefix, _, _ = frame.partition("{word}")
    # A space before the word joins the word's first token, so the frame's own tokens end before it.
    start = len(tokenizer(prefix.rstrip(), add_special_tokens=True)["input_ids"])
    states = []
    for first in range(0, len(texts), batch_size):
        chunk = list(texts[first:first + batch_size])
        ends = [len(tokenizer(prefix + text, add_special_tokens=True)["input_ids"]) for text in chunk]
        encoded = tokenizer([frame.format(word=text) for text in chunk], return_tensors="pt", padding=True,
                            add_special_tokens=True)
        if getattr(tokenizer, "padding_side", "right") != "right":
            raise UserError("synonym similarity needs a right-padding tokenizer")
        output = model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"],
                       output_hidden_states=True)
        hidden = torch.stack(output.hidden_states, dim=1).float()  # (batch, states, tokens, width)
        for row, end in enumerate(ends):
            if end <= start:
                raise UserError(f"the word {chunk[row]!r} has no tokens of its own in the frame {frame!r}")
            states.append(hidden[row, :, start:end].mean(dim=1))
    return torch.stack(states)


@dataclass
class PairScore:
    """One synonym at one layer: cosine to its own anchor, and to the nearest anchor of another value."""

    word: str
    value: str
    category: str
    source: str
    own: float
    other: float
    nearest_other: str
    values: int = 2
    """Values in the category: a word picks its own anchor by chance once in `values`."""
    contains_anchor: bool = False
    """The word spells out its value's plainest word ("bright red"): related by its tokens, not by meaning."""

    @property
    def margin(self) -> float:
        return self.own - self.other

    @property
    def related(self) -> bool:
        return self.margin > 0


def score_pairs(states: torch.Tensor, words: Sequence[Word]) -> list[list[PairScore]]:
    """Per layer, per non-anchor word with at least one other value in its category, its `PairScore`."""
    centred = states - states.mean(dim=0, keepdim=True)
    unit = torch.nn.functional.normalize(centred, dim=-1)  # (words, states, width)
    anchors = {(w.category, w.value): i for i, w in enumerate(words) if w.source == "anchor"}
    layers = []
    for layer in range(states.shape[1]):
        scores = []
        for i, word in enumerate(words):
            if word.source == "anchor":
                continue
            others = [(value, j) for (category, value), j in anchors.items()
                      if category == word.category and value != word.value]
            if not others or (word.category, word.value) not in anchors:
                continue
            own = float(unit[i, layer] @ unit[anchors[(word.category, word.value)], layer])
            value, other = max(((v, float(unit[i, layer] @ unit[j, layer])) for v, j in others), key=lambda x: x[1])
            anchor = words[anchors[(word.category, word.value)]].text.lower()
            contains = anchor in word.text.lower().replace("-", " ").split() or anchor in word.text.lower()
            scores.append(PairScore(word.text, word.value, word.category, word.source, own, other, value,
                                    len(others) + 1, contains))
        layers.append(scores)
    return layers


def layer_summary(layers: list[list[PairScore]]) -> list[dict]:
    rows = []
    for layer, scores in enumerate(layers):
        row = {"layer": layer, "pairs": len(scores),
               "mean_margin": sum(s.margin for s in scores) / len(scores) if scores else None}
        for source in ("training", "held-out"):
            chosen = [s for s in scores if s.source == source]
            row[f"related_{source}"] = sum(s.related for s in chosen) / len(chosen) if chosen else None
        row["related"] = sum(s.related for s in scores) / len(scores) if scores else None
        plain = [s for s in scores if not s.contains_anchor]
        row["related_other_words"] = sum(s.related for s in plain) / len(plain) if plain else None
        rows.append(row)
    return rows


def best_layer(summary: list[dict]) -> int:
    return max(summary, key=lambda row: (row["related_other_words"] or row["related"] or 0.0,
                                         row["mean_margin"] or -1.0))["layer"]


def synonym_report(layers: list[list[PairScore]], marked: Sequence[int] = ()) -> dict:
    """Every number: per layer, per pair at the best, marked and last layers, and the never-related pairs."""
    summary = layer_summary(layers)
    marked = [m % len(layers) for m in marked if -len(layers) <= m < len(layers)]
    pairs = layers[0]
    chance = sum(1 / s.values for s in pairs) / len(pairs) if pairs else None
    best = best_layer(summary)
    last = len(layers) - 1
    shown = sorted({best, last, *marked})
    never = [asdict(s) | {"best_margin": max(layers[k][n].margin for k in range(len(layers)))}
             for n, s in enumerate(layers[best]) if not any(layers[k][n].related for k in range(len(layers)))]
    return {"layers": summary, "best_layer": best, "chance": chance, "marked_layers": marked,
            "pairs": {str(k): [asdict(s) | {"margin": s.margin, "related": s.related} for s in layers[k]] for k in shown},
            "never_related": never}


def format_report(report: dict, title: str) -> str:
    marked = set(report["marked_layers"])
    lines = [f"# {title}", "", "| layer | related (training words) | related (held-out words) | all | "
             "all but words spelling out their value | mean margin |", "| --- | --- | --- | --- | --- | --- |"]

    def rate(value):
        return "—" if value is None else f"{value:.2f}"

    for row in report["layers"]:
        tags = ("best " if row["layer"] == report["best_layer"] else "") + ("adapter" if row["layer"] in marked else "")
        name = f"{row['layer']}" + (f" ({tags.strip()})" if tags else "")
        lines.append(f"| {name} | {rate(row['related_training'])} | {rate(row['related_held-out'])} | "
                     f"{rate(row['related'])} | {rate(row['related_other_words'])} | {rate(row['mean_margin'])} |")
    if report.get("chance") is not None:
        lines += ["", f"Chance (a word nearest its own value by luck): {report['chance']:.2f}."]
    for layer, pairs in report["pairs"].items():
        lines += ["", f"## Pairs at layer {layer}", "",
                  "| category | value | word | source | cos to own | nearest other (cos) | related |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for p in pairs:
            lines.append(f"| {p['category']} | {p['value']} | {p['word']} | {p['source']} | {p['own']:.2f} | "
                         f"{p['nearest_other']} ({p['other']:.2f}) | {'yes' if p['related'] else 'no'} |")
    lines += ["", "## Related at no layer", ""]
    lines += [f"- {p['word']} ({p['category']}: {p['value']}, {p['source']}): best margin {p['best_margin']:.2f}"
              for p in report["never_related"]] or ["- none"]
    return "\n".join(lines) + "\n"


def synonym_similarity(llm=None, language: str = "en", lora=None, world=None, marked: Sequence[int] = ()) -> dict:
    """Load the LLM (with an LLM LoRA merged when given) and report how it relates the world's synonyms."""
    from llmdiff.text_encoder import LLMTextEncoder, TextEncoderConfig

    if language not in FRAMES:
        raise UserError(f"unknown language {language!r}; known: {', '.join(FRAMES)}")
    # Reading the last state keeps every layer of the model.
    encoder = LLMTextEncoder.from_pretrained(llm, TextEncoderConfig(layers=(-1,)), lora=lora)
    words = vocabulary(language, world)
    states = word_states(encoder.model, encoder.tokenizer, [w.text for w in words], FRAMES[language])
    report = synonym_report(score_pairs(states, words), marked)
    report.update(llm=encoder.name, language=language, frame=FRAMES[language], words=len(words))
    return report


def write_report(report: dict, output: Path, title: str) -> tuple[Path, Path]:
    from llmdiff.files import atomic_output

    output.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = output / "synonyms.json", output / "synonyms.md"
    with atomic_output(json_path) as file:
        file.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    with atomic_output(markdown_path) as file:
        file.write(format_report(report, title))
    return json_path, markdown_path
