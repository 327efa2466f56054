"""What a person watches during training: progress bar, TensorBoard scalars, sample grids."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from PIL import Image

from llmdiff.images import save_png
from llmdiff.progress import format_duration


class TrainingLog:
    """Progress (loss, lr, samples/s) and TensorBoard scalars; silent on non-main processes.

    On a terminal the progress is a tqdm bar. Elsewhere (a log file, a job's output) a bar redrawn in place is
    garbage, so one line is printed every `every_steps` steps instead, with the mean loss since the last line.
    """

    def __init__(self, log_dir: Path, total: int, start: int, enabled: bool, progress: bool, tensorboard: bool):
        self.enabled = enabled
        self.bar = None
        self.writer = None
        self.lines = False
        self.total = total
        self._losses: list[float] = []
        self._since = (start, time.perf_counter())
        if not enabled:
            return
        if progress and not sys.stderr.isatty():
            self.lines = True
        elif progress:
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
        if self.lines:
            self._losses.append(scalars["loss"])
            if write or step == self.total:
                self._print_line(step, scalars)
        if write and self.writer is not None:
            for name, value in scalars.items():
                self.writer.add_scalar(f"train/{name}", value, step)

    def _print_line(self, step: int, scalars: dict[str, float]) -> None:
        first, started = self._since
        now = time.perf_counter()
        per_step = (now - started) / max(1, step - first)
        left = (self.total - step) * per_step
        mean_loss = sum(self._losses) / len(self._losses)
        print(f"train step {step}/{self.total}: loss {mean_loss:.4g}, lr {scalars['lr']:.2e}, "
              f"{scalars['samples_per_s']:.1f} samples/s, {per_step:.2f} s/step, {format_duration(left)} left",
              file=sys.stderr, flush=True)
        self._losses = []
        self._since = (step, now)

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
