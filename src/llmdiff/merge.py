"""Weighted averages of models that share one architecture ("model soups").

Models fine-tuned from one start, such as the successive releases of one lineage, usually lie in one basin
of the loss, so the average of their weights is a model too, often as good as the best of them or better
(Wortsman et al. 2022, "Model soups"). This works on whole model folders, whatever they hold (a diffusers
pipeline, an adapter, a `base/` + `adapter/` model directory): every safetensors file is averaged tensor by
tensor, in float32, and saved in its own dtype; every other file must say the same in each model (the same
architecture, the same encoder settings) and is copied. A file whose bytes are the same in every model is
copied as it is, so parts that were never trained apart (a shared VAE) stay bit for bit what they were.
"""

from __future__ import annotations

import filecmp
import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from llmdiff.errors import UserError
from llmdiff.files import replace_path

MODEL_CARD = "README.md"
"""Each source's card describes that source, not the average: it is left out."""
RECORD = "merge.json"
"""Written into the merged folder: the sources and their weights."""
SAMPLING_SETTINGS = "generation_config.json"
"""An adapter's steps and guidance were measured for that model, not for an average: left out, so the
merge uses the library defaults until its own are measured (`llmdiff.pipeline.GENERATION_CONFIG_NAME`)."""
LORA_FOLDER = "llm_lora"
"""An adapter's LLM LoRA (`llmdiff.llm_lora.LLM_LORA_DIR`; named here so this command loads no torch)."""
BOOKKEEPING_KEYS = {"_diffusers_version", "transformers_version", "_name_or_path", "local_files_only",
                    "peft_version", "base_model_name_or_path"}
"""Config entries that say which library version wrote a file, or how it was loaded (transformers saves
`local_files_only: true` when the hub was offline; peft, where the LLM under a LoRA was read from), not
what the model is."""


def normalised_weights(count: int, weights: Sequence[float] | None) -> list[float]:
    """`weights` scaled to sum to 1 (equal weights if None), refusing negative, non-finite or all-zero ones."""
    if weights is None:
        return [1.0 / count] * count
    if len(weights) != count:
        raise UserError(f"{len(weights)} weights for {count} models; give one weight per model")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise UserError(f"weights must be finite and not negative, not {list(weights)}")
    total = sum(weights)
    if total <= 0:
        raise UserError("at least one weight must be above 0")
    return [w / total for w in weights]


def merge_models(
    models: Sequence[str | os.PathLike], output: str | os.PathLike, weights: Sequence[float] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the weighted average of `models` (folders of one architecture) to `output`; returns `output`.

    Weights are scaled to sum to 1 (default: equal). The folder appears whole or not at all: it is built
    beside `output` and moved into place at the end, so a crash leaves any earlier `output` untouched.
    """
    sources = [Path(model) for model in models]
    output = Path(output)
    if len(sources) < 2:
        raise UserError("name at least two models to merge")
    weights = normalised_weights(len(sources), weights)
    for source in sources:
        if not source.is_dir():
            raise UserError(f"model folder '{source}' does not exist")
    if output.exists() and not overwrite:
        raise UserError(f"'{output}' exists; pass overwrite (--overwrite) to replace it")
    if output.resolve() in {source.resolve() for source in sources}:
        raise UserError(f"'{output}' is one of the models being merged; write the merge elsewhere")
    files = _common_files(sources)
    if not any(name.endswith(".safetensors") for name in files):
        raise UserError(f"'{sources[0]}' holds no .safetensors weights to merge")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent))
    try:
        for name in files:
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            paths = [source / name for source in sources]
            if all(filecmp.cmp(paths[0], path, shallow=False) for path in paths[1:]):
                shutil.copyfile(paths[0], target)
            elif name.endswith(".safetensors") and LORA_FOLDER in Path(name).parts[:-1]:
                raise UserError(
                    f"the models' LLM LoRAs differ ({name}): a LoRA's two factors cannot be averaged apart "
                    "(the product of averages is not the average of the products); merge models whose LLM "
                    "LoRA is the same, or none"
                )
            elif name.endswith(".safetensors"):
                _average_file(paths, weights, target)
            else:
                _check_same_settings(paths, name)
                shutil.copyfile(paths[0], target)
        record = {"sources": [{"path": str(s), "weight": w} for s, w in zip(sources, weights)]}
        (staging / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        replace_path(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output


def _common_files(sources: list[Path]) -> list[str]:
    """The files (relative paths) of the first model, checked to be the same set in every other."""

    def listing(folder: Path) -> set[str]:
        return {
            path.relative_to(folder).as_posix() for path in folder.rglob("*")
            if path.is_file() and path.name not in (MODEL_CARD, RECORD, SAMPLING_SETTINGS)
        }

    files = listing(sources[0])
    for source in sources[1:]:
        other = listing(source)
        if other != files:
            name = sorted(files ^ other)[0]
            holder, lacking = (sources[0], source) if name in files else (source, sources[0])
            raise UserError(f"'{holder}' has {name} and '{lacking}' has not: not models of one layout")
    return sorted(files)


def _average_file(paths: list[Path], weights: list[float], target: Path) -> None:
    """One safetensors file averaged over the models, tensor by tensor, each source read once in turn."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(paths[0], "pt") as first:
        metadata = first.metadata()
        reference = {key: first.get_tensor(key) for key in first.keys()}
    sums = {key: tensor.float() * weights[0] for key, tensor in reference.items() if tensor.is_floating_point()}
    for path, weight in zip(paths[1:], weights[1:]):
        with safe_open(path, "pt") as other:
            if set(other.keys()) != set(reference):
                key = sorted(set(other.keys()) ^ set(reference))[0]
                raise UserError(f"tensor '{key}' is in one of {paths[0]} and {path} only: not one architecture")
            for key, tensor in reference.items():
                theirs = other.get_tensor(key)
                if theirs.shape != tensor.shape or theirs.dtype != tensor.dtype:
                    raise UserError(
                        f"tensor '{key}' is {tuple(tensor.shape)} {tensor.dtype} in {paths[0]} but "
                        f"{tuple(theirs.shape)} {theirs.dtype} in {path}: not one architecture"
                    )
                if key in sums:
                    sums[key] += theirs.float() * weight
                elif not torch.equal(theirs, tensor):  # integer buffers (ids, counters) cannot be averaged
                    raise UserError(f"integer tensor '{key}' differs between {paths[0]} and {path}")
    merged = {key: sums[key].to(tensor.dtype) if key in sums else tensor for key, tensor in reference.items()}
    save_file(merged, target, metadata=metadata)


def _check_same_settings(paths: list[Path], name: str) -> None:
    """A non-weight file (config, tokenizer, encoder settings) must say the same in every model."""

    def content(path: Path):
        if path.suffix == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, ValueError) as error:
                raise UserError(f"cannot read {path}: {error}") from None
            return {k: v for k, v in data.items() if k not in BOOKKEEPING_KEYS} if isinstance(data, dict) else data
        return path.read_bytes()

    first = content(paths[0])
    for path in paths[1:]:
        if content(path) != first:
            raise UserError(f"{name} differs between '{paths[0]}' and '{path}': the models do not share one "
                            "architecture and settings, so their weights cannot be averaged")
