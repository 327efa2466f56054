"""The README's picture: held-out paragraphs in several languages, each drawn by the shipped model and by the
base model's own CLIP encoder, with the shapes world's oracle verdict under every image.

Scenes are the first ones of the test split, one per language, in order (no choosing); both models draw at
the shipped model's own settings (its generation_config.json) with the same noise seed.

    python scripts/readme_figure.py [--model DIR] [--out docs/images/readme_figure.png] [--languages en,zh,de,ja]
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Fonts tried in order for each character, so Chinese and Japanese paragraphs render where a CJK font is
# installed (Debian: fonts-noto-cjk); without one matplotlib warns and draws boxes.
FONTS = ["DejaVu Sans", "Noto Sans CJK JP", "Noto Sans CJK SC"]


def verdict(metrics) -> str:
    if metrics.all_correct:
        return "all correct"
    return f"{metrics.matched} of {metrics.expected} objects"


def wrapped(text: str, language: str, width: int = 62, lines: int = 8) -> str:
    # Chinese and Japanese have no spaces: wrap them by characters, at about half the width.
    if language in ("zh", "ja"):
        width //= 2
        rows = [text[i : i + width] for i in range(0, len(text), width)]
    else:
        rows = textwrap.wrap(text, width)
    return "\n".join(rows[:lines]) + (" …" if len(rows) > lines else "")


def draw_examples(model: Path, languages: list[str], seed: int):
    """(language, paragraph, true render, model image, CLIP image, model metrics, CLIP metrics) per language."""
    import torch

    from llmdiff import LLMDiffusionPipeline
    from llmdiff.eval.shapes import test_split_start
    from llmdiff.pipeline import load_base_pipeline
    from llmdiff.worlds.shapes import WorldConfig, caption_record, compare, parse_image, render, sample_scene

    world = WorldConfig.from_file(model / "world.json")
    pipe = LLMDiffusionPipeline.from_pretrained(base=model / "base", adapter=model / "adapter")
    clip, _ = load_base_pipeline(model / "base", with_clip=True)
    clip.set_progress_bar_config(disable=True)
    steps, guidance = pipe.defaults.num_inference_steps, pipe.defaults.guidance_scale
    side = world.resolution
    rows = []
    for index, language in enumerate(languages):
        scene_seed = test_split_start() + index
        scene = sample_scene(scene_seed, world)
        text = caption_record(scene, "paragraph", language, seed=scene_seed).text
        ours = pipe(text, seed=seed, num_inference_steps=steps, guidance_scale=guidance, height=side, width=side,
                    progress=False).images[0]
        theirs = clip(text, generator=torch.Generator("cpu").manual_seed(seed), num_inference_steps=steps,
                      guidance_scale=guidance, height=side, width=side).images[0]
        rows.append((language, text, render(scene, world), ours, theirs,
                     compare(parse_image(ours, world), scene), compare(parse_image(theirs, world), scene)))
    return rows


def figure(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["font.family"] = FONTS
    fig, axes = plt.subplots(len(rows), 4, figsize=(11, 2.4 * len(rows)),
                             gridspec_kw={"width_ratios": [2.4, 1, 1, 1]})
    titles = ["paragraph (held-out test scene)", "the scene", "llmdiff (SmolLM2)", "base model (CLIP)"]
    for row, (language, text, truth, ours, theirs, ours_metrics, clip_metrics) in zip(axes, rows):
        row[0].text(0, 0.5, f"[{language}] {wrapped(text, language)}", va="center", ha="left", fontsize=8.5,
                    wrap=True)
        row[0].axis("off")
        for axis, image, caption in ((row[1], truth, ""), (row[2], ours, verdict(ours_metrics)),
                                     (row[3], theirs, verdict(clip_metrics))):
            axis.imshow(image, interpolation="nearest")  # 32 px images, shown large and sharp
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_xlabel(caption, fontsize=9)
    for axis, title in zip(axes[0], titles):
        axis.set_title(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the shipped model)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "readme_figure.png")
    parser.add_argument("--languages", default="en,zh,de,ja", help="one test scene per language, in order")
    parser.add_argument("--seed", type=int, default=0, help="noise seed of every image")
    args = parser.parse_args()

    from llmdiff.defaults import default_model_dir

    model = args.model or default_model_dir()
    if model is None:
        sys.exit("no trained default model is installed; pass --model DIR")
    rows = draw_examples(Path(model), args.languages.split(","), args.seed)
    figure(rows, args.out)
    for language, _, _, _, _, ours, clip in rows:
        print(f"{language}: llmdiff {verdict(ours)}, CLIP {verdict(clip)}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
