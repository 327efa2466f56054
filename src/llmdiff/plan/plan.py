"""A run's plan: parameters per component and memory per GPU under each sharding strategy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from llmdiff.errors import UserError
from llmdiff.plan.activations import ActivationEstimate, estimate_activations
from llmdiff.plan.components import run_models
from llmdiff.plan.memory import GiB, STRATEGIES, GPUMemory, gpu_memory
from llmdiff.training.config import RunConfig


@dataclass
class ComponentPlan:
    name: str
    kind: str
    parameters: int
    trainable: int
    held_dtype: str
    lora_rank: int = 0


@dataclass
class RunPlan:
    stage: str
    gpus: int
    gpu_memory_gib: float
    mixed_precision: str
    gradient_checkpointing: bool
    batch_size: int
    resolution: int
    text_length: int
    components: list[ComponentPlan]
    activations: ActivationEstimate
    memory: dict[str, GPUMemory]
    strategy: str | None = None
    """The strategy of the accelerate config given, if one was."""
    notes: list[str] = field(default_factory=list)

    def fits(self, strategy: str) -> bool:
        return self.memory[strategy].total <= self.gpu_memory_gib * GiB


def accelerate_settings(path: str | Path) -> tuple[str, int]:
    """(strategy, processes) of an accelerate config file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"accelerate config '{path}' does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise UserError(f"accelerate config '{path}' is not valid YAML") from None
    kind = data.get("distributed_type", "NO")
    if kind == "DEEPSPEED":
        stage = int((data.get("deepspeed_config") or {}).get("zero_stage", 2))
        strategy = "zero3" if stage == 3 else "zero2" if stage == 2 else "ddp"
    elif kind == "FSDP":
        strategy = "zero3"
    else:
        strategy = "ddp"
    return strategy, int(data.get("num_processes", 1))


def make_plan(config: RunConfig, gpus: int | None = None, gpu_memory_gib: float = 80.0,
              accelerate_config: str | Path | None = None) -> RunPlan:
    """Build every model of `config` on the meta device and work out what one GPU holds."""
    strategy = None
    if accelerate_config is not None:
        strategy, processes = accelerate_settings(accelerate_config)
        gpus = gpus or processes
    gpus = gpus or 1
    if gpus < 1:
        raise UserError("--gpus must be at least 1")
    models = run_models(config)
    components = [
        ComponentPlan(c.name, type(c.module.get_base_model() if hasattr(c.module, "get_base_model") else c.module).__name__,
                      c.parameters, c.trainable, str(c.held_dtype).removeprefix("torch."), c.lora_rank)
        for c in models.components
    ]
    activations = estimate_activations(config, models)
    train = config.train
    memory = {name: gpu_memory(models, activations, name, gpus, train.mixed_precision, train.gradient_checkpointing)
              for name in STRATEGIES}
    notes = list(models.notes)
    unet = models.get("unet")
    if train.gradient_checkpointing and not unet.learns and config.stage in ("end_to_end", "quality"):
        notes.append("the recipe checkpoints only modules that learn: the frozen UNet the gradient flows through keeps all its activations")
    if config.cache.dir is not None and "llm" not in config.components:
        notes.append("with cache.dir the LLM states can come from the cache, but the recipe still loads the LLM")
    return RunPlan(config.stage, gpus, gpu_memory_gib, train.mixed_precision, train.gradient_checkpointing,
                   train.batch_size, config.data.resolution, models.text_length, components, activations, memory,
                   strategy, notes)
