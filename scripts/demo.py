"""The main job: draw the shapes-world scene an English and a Chinese paragraph describe.

The paragraphs describe a held-out test scene (examples/scene.json gives its seed), so the world's oracle
says how faithful each image is. Uses the trained default model shipped in src/llmdiff/models/shapes.
Without it (a checkout that has not got it), it builds a tiny, untrained SD1.5-shaped base model so that
the whole path (SmolLM2 reads the paragraph, the adapter maps it, diffusers draws) still runs end to end;
those images are noise and are not scored.
"""

import json
import subprocess
import sys
from pathlib import Path

from llmdiff.defaults import default_model_dir

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = ROOT / "outputs"


def main() -> int:
    OUTPUTS.mkdir(exist_ok=True)
    extra = []
    if default_model_dir() is None:
        from llmdiff.testing import make_tiny_base

        base = OUTPUTS / "untrained-tiny-base"
        if not (base / "model_index.json").is_file():
            make_tiny_base(base, "sd")
        print(f"no trained default model installed yet: using the untrained tiny base in {base} (images are noise)")
        extra = ["--base", str(base), "--width", "32", "--height", "32", "--steps", "20"]
    example = example_scene() if not extra else None
    for language in ("en", "zh"):
        command = [
            sys.executable, "-m", "llmdiff", "generate",
            "--prompt-file", str(ROOT / "examples" / f"paragraph_{language}.txt"),
            "-o", str(OUTPUTS / f"demo_{language}.png"), "--overwrite", *extra,
        ]
        status = subprocess.call(command)
        if status:
            return status
        if not extra:
            print(verdict(OUTPUTS / f"demo_{language}.png", *example))
    return 0


def example_scene():
    """The scene the example paragraphs describe, and the shipped model's world it lives in."""
    from llmdiff.worlds.shapes import WorldConfig, sample_scene

    config = WorldConfig.from_file(default_model_dir() / "world.json")
    return sample_scene(json.loads((ROOT / "examples" / "scene.json").read_text())["seed"], config), config


def verdict(image_path: Path, scene, config) -> str:
    """The oracle's reading of a drawn image against the scene, in one line."""
    from PIL import Image

    from llmdiff.worlds.shapes import score

    with Image.open(image_path) as image:
        metrics = score(image.convert("RGB"), scene, config)
    return (f"{image_path.name}: {metrics.matched} of {metrics.expected} objects drawn with the right shape, colour "
            f"and cell (oracle recall {metrics.recall:.2f}); all correct: {'yes' if metrics.all_correct else 'no'}")


if __name__ == "__main__":
    sys.exit(main())
