"""What a person watches during training: progress bar, TensorBoard scalars, sample grids."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image

from llmdiff.images import save_png


class TrainingLog:
    """tqdm bar (loss, lr, samples/s) and TensorBoard scalars; silent on non-main processes."""

    def __init__(self, log_dir: Path, total: int, start: int, enabled: bool, progress: bool, tensorboard: bool):
        self.enabled = enabled
        self.bar = None
        self.writer = None
        if not enabled:
            return
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=start, desc="train", dynamic_ncols=True)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(log_dir))

    def step(self, step: int, scalars: dict[str, float], write: bool) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(1)
            shown = {"loss": f"{scalars['loss']:.4g}", "lr": f"{scalars['lr']:.2e}",
                     "samples/s": f"{scalars['samples_per_s']:.1f}"}
            self.bar.set_postfix(shown, refresh=False)
        if write and self.writer is not None:
            for name, value in scalars.items():
                self.writer.add_scalar(f"train/{name}", value, step)

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()


def image_grid(images: list[Image.Image], columns: int | None = None) -> Image.Image:
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    width, height = images[0].size
    grid = Image.new("RGB", (columns * width, rows * height), "white")
    for index, image in enumerate(images):
        grid.paste(image.convert("RGB"), ((index % columns) * width, (index // columns) * height))
    return grid


def save_grid(images: list[Image.Image], path: Path, metadata: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_png(image_grid(images), path, metadata)
    return path
