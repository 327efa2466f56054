"""Training configuration: one dataclass per group, read from YAML with dotted `key=value` overrides.

A run is described by a single `RunConfig`. Unknown keys fail naming the closest valid key; values are
checked in `__post_init__`, so a bad config fails before any model is loaded.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from llmdiff.errors import UserError

STAGES = ("base", "align", "end_to_end", "quality", "cross_lingual")
"""`base`: VAE or CLIP-conditioned UNet; `align`: stage 1; `end_to_end`: stage 2; `quality`: stage 3;
`cross_lingual`: the adapter alone, taught to give every language what it gives the English caption."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(f"config: {message}")


@dataclass
class ModelConfig:
    base: str = ""
    """Diffusers SD1.5/SDXL pipeline directory: the model being taught (all stages) or, for the `base`
    stage, the template whose architecture (and, unless re-initialised, weights) training starts from."""
    llm: str | None = None
    """LLM spec (directory, hub id or .gguf); None is the default LLM (SmolLM2)."""
    adapter: str | None = None
    """Adapter directory to start from (e.g. the stage-1 output); None builds a fresh adapter."""
    teacher_adapter: str | None = None
    """`cross_lingual` stage: the frozen adapter whose outputs for the English captions are the targets;
    None: `adapter`, as it was before training."""
    connector: str = "llmdiff"
    """Connector family of a fresh adapter, a name in `llmdiff.connectors.FAMILIES` (llmdiff: `LLMAdapter`)."""
    adapter_config: dict = field(default_factory=dict)
    """Keyword arguments for a fresh connector of that family (widths follow the LLM and the base model)."""
    init_from: str | None = None
    """A model folder (`DIR/base` + `DIR/adapter` [+ `DIR/llm`], e.g. a converted or shipped model) to start
    from: it sets `base`, `adapter` (its connector family whatever `connector` says) and, when the folder
    holds one, `llm`; naming other ones beside it is refused."""
    text_encoder: dict = field(default_factory=dict)
    """`TextEncoderConfig` fields (layers, layer_reduction, max_length, instruction)."""
    reinit: tuple[str, ...] = ()
    """`base` stage: components of `base` re-initialised from their configs: unet, vae, text_encoder."""
    unet_config: dict = field(default_factory=dict)
    """`base` stage: UNet config overrides applied when `unet` is re-initialised."""
    vae_config: dict = field(default_factory=dict)
    """`base` stage: VAE config overrides applied when `vae` is re-initialised."""
    frozen_dtype: str = "float32"
    """dtype of frozen models (LLM, CLIP teacher, VAE): float32, bfloat16 or float16."""

    def __post_init__(self) -> None:
        from llmdiff.connectors import FAMILIES

        _check(self.connector in FAMILIES,
               f"model.connector: unknown family {self.connector!r} (choose from {', '.join(FAMILIES)})")
        if self.init_from:
            self._take_model_folder(Path(self.init_from))
        self.reinit = tuple(self.reinit)
        for name in self.reinit:
            _check(name in ("unet", "vae", "text_encoder"), f"model.reinit: unknown component {name!r}")
        _check(self.frozen_dtype in ("float32", "bfloat16", "float16"), "model.frozen_dtype must be float32, bfloat16 or float16")

    def _take_model_folder(self, folder: Path) -> None:
        """`base`, `adapter` (and `llm`) from the model folder `init_from`; a different one named too is refused."""
        _check(folder.is_dir(), f"model.init_from: '{folder}' is not a folder")
        parts = {"base": folder / "base", "adapter": folder / "adapter", "llm": folder / "llm"}
        for name in ("base", "adapter"):
            _check(parts[name].is_dir(), f"model.init_from: '{folder}' has no {name}/ folder (a model folder holds "
                                         "base/ and adapter/)")
        if not parts["llm"].is_dir():
            del parts["llm"]
            if self.llm is None:  # the LLM the adapter names, as a pipeline loading the folder takes it
                from llmdiff.pipeline import load_text_encoder_config

                self.llm = load_text_encoder_config(parts["adapter"])[0]
        for name, path in parts.items():
            given = getattr(self, name)
            _check(not given or Path(given).resolve() == path.resolve(),
                   f"model.init_from sets model.{name} to '{path}'; leave model.{name} out (it names '{given}')")
            setattr(self, name, str(path))


@dataclass
class DataSource:
    path: str = ""
    """A JSONL/CSV manifest, a folder holding `captions.jsonl`/`metadata.jsonl`, or shards read as a stream:
    webdataset tars or parquet files (a glob such as `shards/train-*.tar`, or a folder of them)."""
    format: str = "auto"
    """auto, jsonl, csv, webdataset or parquet."""
    weight: int = 1
    """How many times the source is repeated per epoch (map-style sources only)."""
    split: str | None = None
    """Keep only records whose `split` field equals this (a shapes-world dataset holds every split in one
    records.jsonl); None keeps all."""

    def __post_init__(self) -> None:
        _check(self.format in ("auto", "jsonl", "csv", "webdataset", "parquet"), f"data source format {self.format!r} unknown")
        _check(self.weight >= 1, "data source weight must be at least 1")


@dataclass
class DataConfig:
    train: list[DataSource] = field(default_factory=list)
    """The training sources."""
    text_fields: tuple[str, ...] = ("caption",)
    """Dotted record fields the LLM reads; each one present makes one example (e.g. one per language)."""
    clip_text_field: str | None = None
    """Dotted field with the English text the CLIP teacher/base encoder (or, in the `cross_lingual` stage,
    the teacher adapter) reads. None: the same text the LLM reads. A `*` here takes the part at the same
    position of the text field it pairs with: text `captions.*.paragraph` with `captions.en.paragraph`, or
    text `captions.*.short` with `captions.en.*` (→ `captions.en.short`)."""
    image_field: str | None = "image"
    """Dotted field with the image path (relative to the manifest) or, in webdataset shards, the image
    extension (png, jpg). None: text only."""
    id_field: str = "id"
    resolution: int = 64
    """Images are resized (shorter side) and centre-cropped to this size."""
    random_flip: bool = False
    max_corrupt_fraction: float = 0.01
    """Stop the run when more than this fraction of images read so far (after 100) is unreadable."""
    shuffle: bool = True
    skip_examples: int = 0
    """Examples of the seeded order passed over before the first batch: a stage that continues an earlier
    stage's order (stage 2 after a stage 1 of N steps of B skips N × B) reads what a single run would read next."""

    def __post_init__(self) -> None:
        _check(self.skip_examples >= 0, "data.skip_examples must be ≥ 0")
        self.text_fields = tuple(self.text_fields)
        _check(bool(self.text_fields), "data.text_fields must name at least one field")
        _check(self.resolution >= 8 and self.resolution % 8 == 0, "data.resolution must be a positive multiple of 8")
        _check(0.0 <= self.max_corrupt_fraction <= 1.0, "data.max_corrupt_fraction must lie in [0, 1]")


@dataclass
class TrainConfig:
    max_steps: int = 1000
    """Optimizer steps."""
    batch_size: int = 8
    """Examples per process per micro-batch."""
    grad_accum: int = 1
    mixed_precision: str = "no"
    """no, fp16 or bf16 (autocast through accelerate)."""
    gradient_checkpointing: bool = False
    components: tuple[str, ...] = ()
    """What learns: `base` stage: unet, text_encoder and/or vae; stages 2-3: adapter, unet, llm. Empty:
    the stage's default (base: unet; align: adapter; end_to_end/quality: adapter + unet)."""
    unet_lora_rank: int = 0
    """0 trains the whole UNet; >0 trains LoRA of this rank on its attention projections."""
    llm_lora_rank: int = 8
    """Rank of the LoRA on the LLM when `llm` is among the components."""
    caption_dropout: float = 0.0
    """Probability of replacing a caption by the empty prompt (classifier-free guidance)."""
    ema_decay: float = 0.0
    """0 disables EMA; exported weights are the EMA weights when enabled."""
    seed: int = 0
    max_minutes: float | None = None
    """Stop early once this much wall time has passed: the last checkpoint and the export are written as at
    the end (for a machine held for a fixed time). None: run all `max_steps`."""

    def __post_init__(self) -> None:
        self.components = tuple(self.components)
        _check(self.max_minutes is None or self.max_minutes > 0, "train.max_minutes must be above 0")
        _check(self.max_steps >= 1, "train.max_steps must be at least 1")
        _check(self.batch_size >= 1, "train.batch_size must be at least 1")
        _check(self.grad_accum >= 1, "train.grad_accum must be at least 1")
        _check(self.mixed_precision in ("no", "fp16", "bf16"), "train.mixed_precision must be no, fp16 or bf16")
        _check(0.0 <= self.caption_dropout < 1.0, "train.caption_dropout must lie in [0, 1)")
        _check(0.0 <= self.ema_decay < 1.0, "train.ema_decay must lie in [0, 1)")
        _check(self.unet_lora_rank >= 0 and self.llm_lora_rank >= 1, "LoRA ranks must be positive")
        known = ("unet", "vae", "text_encoder", "adapter", "llm")
        for name in self.components:
            _check(name in known, f"train.components: unknown component {name!r} (choose from {', '.join(known)})")


@dataclass
class OptimConfig:
    lr: float = 1e-4
    unet_lr: float | None = None
    """Learning rate of the UNet (or its LoRA); None: `lr`."""
    llm_lr: float | None = None
    """Learning rate of the LLM's LoRA; None: `lr`."""
    text_encoder_lr: float | None = None
    """`base` stage: learning rate of the CLIP encoder; None: `lr`."""
    text_encoder_hold_steps: int = 0
    """`base` stage: steps the CLIP encoder stays frozen while the UNet learns to read its states. A fresh
    encoder trained from the first step collapses its outputs before the UNet reads them (on the shapes
    world, place words stay near-identical and layout ignores them); held still for a few hundred steps
    its random but distinct states get read, place words included, and training it afterwards keeps that."""
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    grad_clip: float = 1.0
    """Max gradient norm; 0 disables clipping."""
    schedule: str = "constant"
    """constant, linear or cosine (after warmup)."""
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)
        _check(self.lr > 0, "optim.lr must be positive")
        _check(self.text_encoder_hold_steps >= 0, "optim.text_encoder_hold_steps must be ≥ 0")
        _check(self.schedule in ("constant", "linear", "cosine"), "optim.schedule must be constant, linear or cosine")
        _check(self.warmup_steps >= 0, "optim.warmup_steps must be ≥ 0")


@dataclass
class LossConfig:
    mse_weight: float = 1.0
    """Stage 1: weight of the per-element MSE between adapter output and CLIP teacher states."""
    cosine_weight: float = 0.0
    """Stage 1: weight of the per-token (1 - cosine similarity) term."""
    pooled_weight: float = 1.0
    """Stage 1, SDXL: weight of the MSE on the pooled vector."""
    diffusion_weight: float = 0.0
    """Stage 1: weight of the diffusion loss through the frozen UNet when records have images."""
    teacher_chunks: int = 3
    """Stage 1: 75-token CLIP chunks the teacher encodes; target length = 75 × chunks + 2."""
    min_snr_gamma: float = 0.0
    """Diffusion loss: min-SNR-γ weighting (Hang et al. 2023); 0 disables it."""
    distill_space: str = "conditioning"
    """`cross_lingual` stage: where a caption meets its English pair. `conditioning`: the adapter outputs,
    per position; `denoiser`: the frozen UNet's predictions on the scene's noisy latents, one conditioned
    on each side (reads the images; only what the UNet reads of the conditioning counts)."""
    kl_weight: float = 1e-6
    """VAE: weight of the KL term."""

    def __post_init__(self) -> None:
        _check(self.teacher_chunks >= 1, "loss.teacher_chunks must be at least 1")
        _check(self.distill_space in ("conditioning", "denoiser"), "loss.distill_space must be conditioning or denoiser")
        for name in ("mse_weight", "cosine_weight", "pooled_weight", "diffusion_weight", "min_snr_gamma", "kl_weight"):
            _check(getattr(self, name) >= 0, f"loss.{name} must be ≥ 0")


@dataclass
class CheckpointConfig:
    every_steps: int = 500
    keep_last: int = 3
    save_final: bool = True

    def __post_init__(self) -> None:
        _check(self.every_steps >= 1, "checkpoint.every_steps must be at least 1")
        _check(self.keep_last >= 1, "checkpoint.keep_last must be at least 1")


@dataclass
class LogConfig:
    every_steps: int = 10
    """TensorBoard scalars every N steps."""
    tensorboard: bool = True
    progress: bool = True
    sample_every_steps: int = 0
    """Save a grid of samples at `sample_prompts` every N steps (0: never)."""
    sample_prompts: tuple[str, ...] = ("a red circle", "a blue square")
    sample_steps: int = 20
    sample_guidance: float = 4.0
    sample_seed: int = 0

    def __post_init__(self) -> None:
        self.sample_prompts = tuple(self.sample_prompts)
        _check(self.every_steps >= 1, "log.every_steps must be at least 1")


@dataclass
class CacheConfig:
    dir: str | None = None
    """Cache root; None disables caches. `llmdiff cache` fills it; training reads it memory-mapped."""
    llm: bool = True
    """Cache frozen-LLM hidden states (ignored when the LLM trains)."""
    teacher: bool = True
    """Cache CLIP teacher targets (stage 1)."""
    latents: bool = True
    """Cache VAE latent moments (stages with images, VAE frozen)."""
    dtype: str = "float32"
    """Storage dtype: float32, bfloat16 or float16."""
    shard_size: int = 4096
    """Items per safetensors shard."""

    def __post_init__(self) -> None:
        _check(self.dtype in ("float32", "bfloat16", "float16"), "cache.dtype must be float32, bfloat16 or float16")
        _check(self.shard_size >= 1, "cache.shard_size must be at least 1")


@dataclass
class RunConfig:
    stage: str = "align"
    """base, align (stage 1), end_to_end (stage 2), quality (stage 3) or cross_lingual."""
    output_dir: str = "runs/llmdiff"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    log: LogConfig = field(default_factory=LogConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)

    def __post_init__(self) -> None:
        _check(self.stage in STAGES, f"unknown stage {self.stage!r}; choose from {', '.join(STAGES)}")
        _check(bool(self.model.base), "model.base must name a diffusers pipeline directory")
        _check(bool(self.data.train), "data.train must list at least one source")
        if self.stage == "base":
            for name in self.components:
                _check(name in ("unet", "vae", "text_encoder"), f"the base stage cannot train {name!r}")
            _check(not ("vae" in self.components and len(self.components) > 1), "the base stage trains the VAE alone")
        else:
            for name in self.components:
                _check(name in ("adapter", "unet", "llm"), f"stage {self.stage} cannot train {name!r}")
        if self.stage == "align":
            _check(self.components == ("adapter",), "stage 1 (align) trains the adapter only")
        if self.stage == "cross_lingual":
            _check(self.components == ("adapter",), "the cross_lingual stage trains the adapter only")
            _check(bool(self.model.adapter), "the cross_lingual stage starts from a trained adapter: set model.adapter")
            _check(self.loss.distill_space == "conditioning" or bool(self.data.image_field),
                   "loss.distill_space=denoiser reads the scenes' images: set data.image_field")

    @property
    def components(self) -> tuple[str, ...]:
        if self.train.components:
            return self.train.components
        return {"base": ("unet",), "align": ("adapter",), "cross_lingual": ("adapter",)}.get(self.stage, ("adapter", "unet"))

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))

    def dump(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _from_dict(cls, data, where: str):
    if not isinstance(data, dict):
        raise UserError(f"config: {where or 'the config'} must be a mapping, not {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.5)
            hint = f"; did you mean '{where}{close[0]}'?" if close else f"; valid keys: {', '.join(names)}"
            raise UserError(f"config: unknown key '{where}{key}'{hint}")
        kwargs[key] = _convert(hints[key], value, f"{where}{key}")
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise UserError(f"config: {where or 'top level'}: {error}") from None


def _convert(hint, value, where: str):
    if dataclasses.is_dataclass(hint):
        return _from_dict(hint, value if value is not None else {}, where + ".")
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [arg for arg in args if arg is not type(None)]
        return _convert(inner[0], value, where) if len(inner) == 1 else value
    if origin is list and args and dataclasses.is_dataclass(args[0]):
        if not isinstance(value, list):
            value = [value]
        return [_convert(args[0], {"path": item} if isinstance(item, str) else item, f"{where}[{i}]")
                for i, item in enumerate(value)]
    if origin in (list, tuple):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            value = [value]
        return list(value) if origin is list else tuple(value)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads 3e-4 (no dot) as a string
        except ValueError:
            pass
    if hint is str and isinstance(value, bool):
        # YAML 1.1 reads no/yes/off/on unquoted as booleans
        raise UserError(f"config: '{where}' must be str, not {value!r}: YAML reads no, yes, off and on as booleans; "
                        f"quote the word (e.g. {where}='no')")
    if hint in (int, float, bool, str) and not isinstance(value, hint):
        raise UserError(f"config: '{where}' must be {hint.__name__}, not {value!r}")
    return value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `a.b.c=value` overrides (values parsed as YAML) to a nested dict."""
    for override in overrides:
        if "=" not in override:
            raise UserError(f"override {override!r} must look like key=value (e.g. optim.lr=1e-4)")
        key, text = override.split("=", 1)
        value = yaml.safe_load(text) if text else ""
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise UserError(f"override {override!r}: '{part}' is not a group")
            node = child
        node[parts[-1]] = value
    return data


def load_config(path: str | os.PathLike | None = None, overrides: list[str] = (), data: dict | None = None) -> RunConfig:
    """A `RunConfig` from a YAML file (or a dict) and dotted overrides."""
    if data is None:
        if path is None:
            raise UserError("no config given")
        path = Path(path)
        if not path.is_file():
            raise UserError(f"config file '{path}' does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise UserError(f"config file '{path}' is not valid YAML: {' '.join(str(error).split())}") from None
    data = apply_overrides(_plain(data), list(overrides))
    return _from_dict(RunConfig, data, "")
