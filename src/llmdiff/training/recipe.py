"""What every stage shares: setup, the step loop, checkpoints, logging and cleanup.

A stage (in `llmdiff.training.recipes`) subclasses `Recipe` and fills in four pieces:
`build()` loads models and returns the trainable ones; `compute_loss(batch)` returns a dict with "loss";
`export(directory)` writes the HF-layout result; `sample_images(prompts)` draws the sample grid.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from llmdiff.errors import UserError
from llmdiff.files import replace_path
from llmdiff.training.checkpoint import COMPLETE_MARKER, CheckpointManager, fsync_tree
from llmdiff.training.config import RunConfig
from llmdiff.training.data import Example, ExampleStream, ImageLoader, check_sources
from llmdiff.training.distributed import loss_autocast, make_accelerator, prepare, uses_deepspeed
from llmdiff.training.ema import EMA
from llmdiff.training.frozen_weights import keep_frozen_weights_out
from llmdiff.training.models import trainable_parameters
from llmdiff.training.observability import TrainingLog, save_grid

EXPORT_STAGING = ".export.tmp"  # the export is written here first, then moved into place
TRAINABLE_FILE = "trainable_parameters.json"
"""Written at setup: {component: parameters that learn}, counted from the modules the optimizer gets."""


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


def fused_adamw_supported(groups: list[dict]) -> bool:
    """Whether AdamW's fused kernel can take these parameters. On a small model the default per-tensor loop
    costs several times the update itself (about 7 times the fused step for the shapes UNet + CLIP on a CPU)."""
    params = [p for group in groups for p in group["params"]]
    return bool(params) and all(
        p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.float16, torch.bfloat16) for p in params
    )


def lr_lambda(schedule: str, warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        if schedule == "linear":
            return max(0.0, 1.0 - progress)
        if schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        return 1.0

    return factor


def held(factor: Callable[[int], float], hold_steps: int) -> Callable[[int], float]:
    """`factor`, but 0 (no update) for the first `hold_steps` steps."""
    if not hold_steps:
        return factor
    return lambda step: 0.0 if step < hold_steps else factor(step)


class Recipe:
    """One training stage. Use: `recipe.setup(); recipe.train(); recipe.cleanup()` (or `run()`)."""

    stage = ""

    def __init__(self, config: RunConfig, resume: str | None = None):
        self.config = config
        self.resume = resume
        self.output = Path(config.output_dir)
        self.step = 0
        self.callbacks: list[Callable[["Recipe", int], None]] = []
        """Called after every optimizer step with (recipe, step); e.g. tests, custom logging."""
        self.log: TrainingLog | None = None

    # pieces a stage provides
    def build(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def compute_loss(self, batch: list[Example]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def export(self, directory: Path) -> None:
        raise NotImplementedError

    def sample_images(self, prompts: list[str]) -> list:
        return []

    def param_groups(self) -> list[dict]:
        return [{"params": trainable_parameters(module), "lr": self.config.optim.lr} for module in self.models.values()]

    # setup
    def setup(self) -> None:
        from accelerate.utils import set_seed

        config = self.config
        check_sources(config.data)  # before any model loads
        self.checkpoints = CheckpointManager(self.output / "checkpoints", config.checkpoint.keep_last)
        resume_dir = self.checkpoints.resolve(self.resume) if self.resume else None
        self.accelerator = make_accelerator(config)
        accelerator = self.accelerator
        self.device = accelerator.device
        set_seed(config.train.seed)
        self.generator = torch.Generator().manual_seed(config.train.seed * 7919 + accelerator.process_index)
        self.stream = ExampleStream(config.data, seed=config.train.seed)
        self.images = ImageLoader(config.data.resolution, config.data.random_flip, config.data.max_corrupt_fraction,
                                  min_seen=min(100, len(self.stream)) if len(self.stream) else 100)
        modules = self.build()
        for name, module in modules.items():
            if not trainable_parameters(module):
                raise UserError(f"stage {self.stage}: component {name!r} has no trainable parameters")
        self.names = list(modules)
        self.models = modules
        groups = self.param_groups()
        optimizer = torch.optim.AdamW(
            groups, lr=config.optim.lr, betas=config.optim.betas, eps=config.optim.eps,
            weight_decay=config.optim.weight_decay, fused=fused_adamw_supported(groups),
        )
        schedule = lr_lambda(config.optim.schedule, config.optim.warmup_steps, config.train.max_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, [held(schedule, group.get("hold_steps", 0)) for group in groups]
        )
        self.models, self.optimizer, self.scheduler = prepare(accelerator, modules, optimizer, scheduler)
        keep_frozen_weights_out(accelerator)
        self.after_prepare()
        self.ema = EMA(self.unwrapped(), config.train.ema_decay) if config.train.ema_decay else None
        if accelerator.is_main_process:
            self.checkpoints.clean_temp()
            self.output.mkdir(parents=True, exist_ok=True)
            (self.output / "config.yaml").write_text(config.dump(), encoding="utf-8")
            counts = {name: sum(p.numel() for p in trainable_parameters(module)) for name, module in modules.items()}
            (self.output / TRAINABLE_FILE).write_text(json.dumps(counts, indent=2) + "\n", encoding="utf-8")
        if resume_dir is not None:
            self.load_checkpoint(resume_dir)
        self.log = TrainingLog(self.output / "logs", config.train.max_steps, self.step,
                               accelerator.is_main_process, config.log.progress, config.log.tensorboard)

    def after_prepare(self) -> None:
        """Hook: re-attach prepared (possibly DDP-wrapped) modules where a stage needs them."""

    def unwrapped(self) -> dict[str, nn.Module]:
        return {name: self.accelerator.unwrap_model(module) for name, module in self.models.items()}

    # data
    def next_batch(self) -> list[Example]:
        """This process's share of the next global batch (every process reads the same order)."""
        accelerator = self.accelerator
        size = self.config.train.batch_size
        batch = self.stream.next_batch(size * accelerator.num_processes)
        start = accelerator.process_index * size
        return batch[start : start + size]

    def drop_captions(self, texts: list[str]) -> list[str]:
        """Caption dropout for classifier-free guidance: some captions become the empty prompt."""
        p = self.config.train.caption_dropout
        if not p:
            return list(texts)
        keep = torch.rand(len(texts), generator=self.generator) >= p
        return [text if kept else "" for text, kept in zip(texts, keep.tolist())]

    # the loop
    def train(self) -> None:
        config = self.config
        accelerator = self.accelerator
        for module in self.models.values():
            module.train()
        deadline = None if config.train.max_minutes is None else time.monotonic() + 60 * config.train.max_minutes
        while self.step < config.train.max_steps:
            if deadline is not None and self._out_of_time(deadline):
                self.log.message(f"stopping at step {self.step} of {config.train.max_steps}: "
                                 f"train.max_minutes={config.train.max_minutes} has passed")
                if self.step and not self.checkpoints.step_dir(self.step).exists():
                    self.save_checkpoint()  # so `--resume latest` can finish the schedule later
                break
            started = time.perf_counter()
            totals: dict[str, float] = {}
            for micro in range(config.train.grad_accum):
                last = micro == config.train.grad_accum - 1
                with self._no_sync(not last), loss_autocast(accelerator, config.train.mixed_precision):
                    terms = self.compute_loss(self.next_batch())
                loss = terms["loss"]
                self._check_finite(loss)
                accelerator.backward(loss / config.train.grad_accum)
                for name, value in terms.items():
                    totals[name] = totals.get(name, 0.0) + float(value.detach()) / config.train.grad_accum
            if config.optim.grad_clip:
                params = [p for group in self.optimizer.param_groups for p in group["params"]]
                accelerator.clip_grad_norm_(params, config.optim.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            if self.ema is not None:
                self.ema.update(self.unwrapped())
            elapsed = time.perf_counter() - started
            samples = config.train.batch_size * config.train.grad_accum * accelerator.num_processes
            scalars = {**totals, "lr": self.scheduler.get_last_lr()[0], "samples_per_s": samples / max(elapsed, 1e-9)}
            self.last_scalars = scalars
            self.log.step(self.step, scalars, write=self.step % config.log.every_steps == 0)
            for callback in self.callbacks:
                callback(self, self.step)
            if config.log.sample_every_steps and self.step % config.log.sample_every_steps == 0:
                self.save_samples()
            if self.step % config.checkpoint.every_steps == 0 or (
                config.checkpoint.save_final and self.step == config.train.max_steps
            ):
                self.save_checkpoint()
        if accelerator.is_main_process:
            self.publish_export()
            if self.config.data.image_field and self.images.seen:
                self.log.message(self.images.summary())
        accelerator.wait_for_everyone()

    def _no_sync(self, skip: bool):
        stack = contextlib.ExitStack()
        if skip and self.accelerator.num_processes > 1:
            for module in self.models.values():
                stack.enter_context(self.accelerator.no_sync(module))
        return stack

    def _out_of_time(self, deadline: float) -> bool:
        """Whether the main process's clock passed `deadline`; every process gets the same answer."""
        late = time.monotonic() > deadline
        if self.accelerator.num_processes == 1:
            return late  # no tensor and no device sync on every step of a single-process run
        from accelerate.utils import broadcast

        return bool(broadcast(torch.tensor([float(late)], device=self.device), from_process=0).item())

    def _check_finite(self, loss: torch.Tensor) -> None:
        finite = torch.isfinite(loss.detach()).to(torch.float32).reshape(1)
        if self.accelerator.num_processes > 1:
            finite = self.accelerator.reduce(finite.to(self.device), reduction="sum") / self.accelerator.num_processes
        if float(finite) < 1.0:
            last = self.checkpoints.latest()
            where = f"the last good checkpoint is {last} (resume with --resume latest" if last else \
                "no checkpoint was written yet (restart"
            raise TrainingDiverged(
                f"the loss became {float(loss.detach())} at step {self.step + 1}; stopping. {where} "
                "after lowering optim.lr or enabling optim.grad_clip)"
            )

    # checkpoints
    def save_checkpoint(self) -> Path:
        accelerator = self.accelerator
        temp = self.checkpoints.temp_dir(self.step)
        if accelerator.is_main_process:
            self.checkpoints.begin(self.step)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(temp))
        save_file({"state": self.generator.get_state()}, str(temp / f"generator_{accelerator.process_index}.safetensors"))
        accelerator.wait_for_everyone()
        final = self.checkpoints.step_dir(self.step)
        if accelerator.is_main_process:
            if self.ema is not None:
                save_file(self.ema.state_dict(), str(temp / "ema.safetensors"))
            state = {"step": self.step, "stage": self.stage, "data": self.stream.state_dict(),
                     "images_seen": self.images.seen, "images_corrupt": self.images.corrupt,
                     "num_processes": accelerator.num_processes}
            (temp / COMPLETE_MARKER).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
            final = self.checkpoints.commit(self.step)
        accelerator.wait_for_everyone()
        return final

    def load_checkpoint(self, directory: Path) -> None:
        accelerator = self.accelerator
        state = json.loads((directory / COMPLETE_MARKER).read_text(encoding="utf-8"))
        if state.get("stage") != self.stage:
            raise UserError(f"checkpoint {directory} is from stage {state.get('stage')!r}, not {self.stage!r}")
        if state.get("num_processes") != accelerator.num_processes:
            raise UserError(f"checkpoint {directory} was written by {state.get('num_processes')} processes; "
                            f"resume with the same number (now {accelerator.num_processes})")
        # Non-strict only under the plain and DDP paths, whose files may leave frozen weights out (checked by
        # frozen_weights.check_saved first); DeepSpeed's engine takes no such argument.
        accelerator.load_state(str(directory), **({} if uses_deepspeed(accelerator) else {"strict": False}))
        generator = directory / f"generator_{accelerator.process_index}.safetensors"
        self.generator.set_state(load_file(str(generator))["state"])
        if self.ema is not None:
            self.ema.load_state_dict(load_file(str(directory / "ema.safetensors")))
        self.step = int(state["step"])
        self.stream.load_state_dict(state["data"])
        self.images.seen, self.images.corrupt = state["images_seen"], state["images_corrupt"]

    # samples
    def save_samples(self) -> None:
        if not self.accelerator.is_main_process:
            return
        for module in self.models.values():
            module.eval()
        try:
            with torch.no_grad():
                images = self.sample_images(list(self.config.log.sample_prompts))
        finally:
            for module in self.models.values():
                module.train()
        if images:
            path = self.output / "samples" / f"step-{self.step:06d}.png"
            save_grid(images, path, {"step": self.step, "prompts": list(self.config.log.sample_prompts)})

    def publish_export(self) -> None:
        """`export` into a staging folder, then each part (`adapter/`, `base/`) into place in the output.

        An export over an earlier one (a resumed or repeated run) must not destroy it half-way: a crash while
        writing leaves the earlier parts whole, and a part's new folder replaces the old one only once written.
        """
        staging = self.output / EXPORT_STAGING
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            self.export(staging)
            fsync_tree(staging)
            for part in sorted(staging.iterdir()):
                replace_path(part, self.output / part.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def exported(self, name: str) -> nn.Module:
        """A copy of trainable module `name` for export, holding the EMA weights when EMA is on."""
        import copy

        module = copy.deepcopy(self.unwrapped()[name])
        if self.ema is not None:
            self.ema.copy_to(name, module)
        return module

    def cleanup(self) -> None:
        if self.log is not None:
            self.log.close()
        if getattr(self, "accelerator", None) is not None:
            self.accelerator.end_training()

    def run(self) -> Path:
        self.setup()
        try:
            self.train()
        finally:
            self.cleanup()
        return self.output
