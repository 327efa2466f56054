"""How a run is spread over processes: plain, DDP, DeepSpeed ZeRO or FSDP, as `accelerate launch` asked.

`accelerate launch` tells the processes what to use through environment variables (`ACCELERATE_USE_FSDP`,
`ACCELERATE_USE_DEEPSPEED`, `WORLD_SIZE`); this module reads them, builds the `Accelerator`, and fills in
what accelerate 1.16 leaves to the training script or gets wrong on processes without a GPU:

- several CPU processes, nothing else asked: DDP over gloo (accelerate does so only with `cpu=True`);
- DeepSpeed on CPU processes: accelerate finds no device backend, so it counts one process while DeepSpeed
  runs them all; naming gloo before the `Accelerator` exists gives it the real process group (DeepSpeed's
  own CPU accelerator then runs ZeRO over gloo);
- FSDP on CPU processes: accelerate 1.16 cannot. With FSDP1 its plugin refuses (`sync_module_states=True
  is not supported on cpu`); with FSDP2 it drops the plugin and runs DDP (`cpu=True`) or unrelated single
  processes. The run is refused here in one line instead of silently training without sharding.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from llmdiff.errors import UserError
from llmdiff.training.config import RunConfig


def _flag(name: str) -> bool:
    return os.environ.get(name, "false").lower() == "true"


def launch_mode() -> str:
    """`fsdp`, `deepspeed`, `cpu_ddp` (several processes, no GPU) or `default` (what accelerate picks)."""
    if _flag("ACCELERATE_USE_FSDP"):
        return "fsdp"
    if _flag("ACCELERATE_USE_DEEPSPEED"):
        return "deepspeed"
    if not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return "cpu_ddp"
    return "default"


def make_accelerator(config: RunConfig):
    """The run's `Accelerator`, set up for the launch mode (see the module docstring)."""
    from accelerate import Accelerator, PartialState

    mode = launch_mode()
    gpu = torch.cuda.is_available()
    if mode == "fsdp" and not gpu:
        raise UserError(
            "FSDP needs GPUs: accelerate 1.16 does not shard over CPU processes (FSDP1 refuses, FSDP2 falls back to "
            "DDP); on CPU launch with configs/accelerate/cpu_ddp.yaml or deepspeed_zero2_cpu.yaml"
        )
    if mode == "deepspeed":
        if config.train.grad_accum > 1:
            raise UserError("train.grad_accum > 1 with DeepSpeed: set gradient_accumulation_steps in the DeepSpeed "
                            "config instead and leave train.grad_accum at 1")
        if not gpu:
            PartialState(backend="gloo")
    accelerator = Accelerator(mixed_precision=config.train.mixed_precision, cpu=mode == "cpu_ddp")
    if mode == "deepspeed":
        settings = accelerator.state.deepspeed_plugin.deepspeed_config
        settings["train_micro_batch_size_per_gpu"] = config.train.batch_size
        accumulation = settings.get("gradient_accumulation_steps", 1)
        accumulation = 1 if accumulation == "auto" else int(accumulation)
        settings["train_batch_size"] = config.train.batch_size * accelerator.num_processes * accumulation
        settings["gradient_clipping"] = config.optim.grad_clip
    return accelerator


def uses_deepspeed(accelerator) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.DEEPSPEED


def loss_autocast(accelerator, mixed_precision: str):
    """The autocast a step's loss runs under. Under DeepSpeed, accelerate leaves mixed precision to DeepSpeed,
    which casts the trained modules to bf16/fp16 but not the frozen ones (LLM, VAE) nor the inputs, so
    the step autocasts itself; elsewhere accelerate's own autocast."""
    if uses_deepspeed(accelerator) and mixed_precision != "no":
        dtype = torch.bfloat16 if mixed_precision == "bf16" else torch.float16
        return torch.autocast(device_type=accelerator.device.type, dtype=dtype)
    return accelerator.autocast()


class TrainableModules(nn.ModuleDict):
    """Every trainable module of a stage as one model: DeepSpeed wraps one model per engine, and accelerate
    1.16 keeps only the last of several. The stage still calls each module itself; ZeRO-2 shards their
    gradients and optimizer states through hooks on the parameters, whatever calls them."""


def prepare(accelerator, modules: dict[str, nn.Module], optimizer, scheduler):
    """(modules as the stage calls them, optimizer, scheduler), prepared for the launch mode."""
    names = list(modules)
    if uses_deepspeed(accelerator):
        engine, optimizer, scheduler = accelerator.prepare(TrainableModules(modules), optimizer, scheduler)
        return {name: engine.module[name] for name in names}, optimizer, scheduler
    prepared = accelerator.prepare(*modules.values(), optimizer, scheduler)
    for module in prepared[: len(names)]:
        # Mixed precision: accelerate also wraps each model's forward to cast its outputs to fp32, rebuilding
        # output dataclasses from a dict, which a `ConnectorOutput` (required attention mask) cannot survive.
        # The step loop runs the whole loss under `accelerator.autocast()` and the losses compute in fp32,
        # so the wrapper is taken off again (in place, on the model inside any DDP wrapper).
        accelerator.unwrap_model(module, keep_fp32_wrapper=False)
    return dict(zip(names, prepared[: len(names)])), prepared[-2], prepared[-1]
