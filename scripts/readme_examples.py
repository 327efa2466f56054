"""Draw held-out shapes-world scenes from their paragraphs with the default model, for the README.

For each example: the test scene's paragraph in one language, the scene's true render and the model's
image side by side (4x nearest-neighbour, so 32x32 pixels stay visible), and the oracle's verdict.
Writes docs/images/shapes_example_<i>.png and prints the README's Markdown.

    python scripts/readme_examples.py [--model DIR] [--out docs/images] [--languages en,zh,fr,ja]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def side_by_side(truth, generated, scale: int = 4):
    from PIL import Image

    width, height = truth.size
    gap = 2 * scale
    canvas = Image.new("RGB", (2 * width * scale + gap, height * scale), (128, 128, 128))
    canvas.paste(truth.resize((width * scale, height * scale), Image.NEAREST), (0, 0))
    canvas.paste(generated.resize((width * scale, height * scale), Image.NEAREST), (width * scale + gap, 0))
    return canvas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the shipped model)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--languages", default="en,zh,fr,ja")
    parser.add_argument("--first-scene", type=int, default=0, help="offset into the test split")
    parser.add_argument("--seed", type=int, default=0, help="generation seed (20 steps, guidance 5, as in the eval)")
    args = parser.parse_args()

    from llmdiff import LLMDiffusionPipeline
    from llmdiff.defaults import default_model_dir
    from llmdiff.eval.shapes import test_split_start
    from llmdiff.worlds.shapes import WorldConfig, caption_record, compare, parse_image, render, sample_scene

    model = args.model or default_model_dir()
    if model is None:
        sys.exit("no trained default model is installed; pass --model DIR")
    world = WorldConfig.from_file(model / "world.json")
    pipe = LLMDiffusionPipeline.from_pretrained(base=model / "base", adapter=model / "adapter")
    args.out.mkdir(parents=True, exist_ok=True)
    for index, language in enumerate(args.languages.split(",")):
        seed = test_split_start() + args.first_scene + index
        scene = sample_scene(seed, world)
        text = caption_record(scene, "paragraph", language, seed=seed).text
        image = pipe(text, seed=args.seed, num_inference_steps=20, guidance_scale=5.0, progress=False).images[0]
        metrics = compare(parse_image(image, world), scene)
        path = args.out / f"shapes_example_{index}.png"
        side_by_side(render(scene, world), image).save(path)
        verdict = "all correct" if metrics.all_correct else f"recall {metrics.recall:.2f}"
        link = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path.resolve()
        print(f"**{language}** (test scene {seed}, oracle: {verdict})\n\n"
              f"![true scene, then the model's image]({link.as_posix()})\n\n> {text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
