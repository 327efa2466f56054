"""Diffusers folders: checking a model folder's weights against its config, and copying pipelines as safetensors.

A release's UNet may be stored as a pickle (`diffusion_pytorch_model.bin`); it is written back as
safetensors. Safetensors files are copied byte for byte, after their headers were checked against the
model the config describes (built on the meta device: no memory, no time).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from llmdiff.convert.tensors import check_tensors, one_line, parameter_count, read_weights, require, shapes
from llmdiff.errors import UserError
from llmdiff.files import read_json_object
from llmdiff.loading import check_source, user_errors

WEIGHTS_STEM = {"diffusers": "diffusion_pytorch_model", "transformers": "model"}
TOKENIZER_AND_CONFIG_SUFFIXES = (".json", ".txt", ".model", ".tiktoken")
UNUSED = ("safety_checker", "feature_extractor")
"""pipeline components llmdiff never runs; left out of a converted base/"""


def read_json(path: Path, what: str) -> dict:
    return read_json_object(require(path, what))


def has_weights(folder: Path) -> bool:
    return any(item.suffix in (".safetensors", ".bin") for item in folder.iterdir() if item.is_file())


def weight_files(folder: Path) -> list[Path]:
    """The weight files of one model folder (diffusers' or transformers' names): safetensors, one file or
    shards, else its pickle."""
    for stem in WEIGHTS_STEM.values():
        single = folder / f"{stem}.safetensors"
        if single.is_file():
            return [single]
        index = folder / f"{stem}.safetensors.index.json"
        if index.is_file():
            shards = sorted(set(read_json(index, "weight index").get("weight_map", {}).values()))
            return [require(folder / shard, f"weight shard of '{folder}'") for shard in shards]
    for name in ("diffusion_pytorch_model.bin", "pytorch_model.bin"):
        if (folder / name).is_file():
            return [folder / name]
    raise UserError(f"'{folder}' has no weights (diffusion_pytorch_model.safetensors or .bin)")


def header_shapes(files: list[Path]) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the tensors in these files; safetensors headers only, pickles read whole."""
    from safetensors import safe_open

    found: dict[str, tuple[int, ...]] = {}
    for file in files:
        if file.suffix != ".safetensors":
            found.update({name: tuple(t.shape) for name, t in read_weights(file).items()})
            continue
        try:
            with safe_open(str(file), framework="pt") as weights:
                found.update({name: tuple(weights.get_slice(name).get_shape()) for name in weights.keys()})
        except Exception as error:  # a cut or garbled file
            raise UserError(f"'{file}' is not an intact safetensors file (cut short or another format?): "
                            f"{one_line(error)}") from error
    return found


def meta_model(model_class, config: dict, source: Path):
    """`model_class` built from `config` on the meta device, or a one-line error naming `source`."""
    from accelerate import init_empty_weights

    try:
        with init_empty_weights(include_buffers=False):
            return model_class.from_config(config)
    except Exception as error:
        raise UserError(f"'{source}' does not describe a {model_class.__name__}: {one_line(error)}") from error


def check_diffusers_model(folder: Path, model_class, what: str) -> int:
    """Check a diffusers model folder's weights against its config.json; returns its parameter count."""
    config = read_json(folder / "config.json", f"{what} config")
    expected = shapes(meta_model(model_class, config, folder / "config.json").state_dict())
    files = weight_files(folder)
    found = header_shapes(files)
    check_tensors(files[0] if len(files) == 1 else folder, found, expected, what)
    return parameter_count(found)


def copy_model_folder(source: Path, target: Path) -> None:
    """Copy a model folder's configs and its weights as safetensors (a pickle is converted)."""
    from safetensors.torch import save_file

    target.mkdir(parents=True, exist_ok=True)
    for item in sorted(source.iterdir()):  # configs, and a shard index beside its shards
        if item.is_file() and item.suffix in TOKENIZER_AND_CONFIG_SUFFIXES:
            shutil.copyfile(item, target / item.name)
    files = weight_files(source)
    if files[0].suffix == ".safetensors":
        for file in files:
            shutil.copyfile(file, target / file.name)
        return
    stem = "model" if files[0].name == "pytorch_model.bin" else "diffusion_pytorch_model"
    state = {name: tensor.contiguous() for name, tensor in read_weights(files[0]).items()}
    save_file(state, str(target / f"{stem}.safetensors"), metadata={"format": "pt"})


def local_pipeline(base: str) -> Path:
    """A diffusers pipeline as a local folder: `base` itself, or its hub snapshot (configs and safetensors)."""
    check_source("base model", base)
    path = Path(base).expanduser()
    if path.exists():
        require(path / "model_index.json", f"diffusers pipeline at '{path}' (model_index.json)")
        return path
    from huggingface_hub import hf_hub_download, snapshot_download

    with user_errors("base model", base):
        # Only the pipeline's own component folders: hub repos also hold single-file checkpoints and variants.
        components = pipeline_components(Path(hf_hub_download(base, "model_index.json")).parent)
        patterns = [f"{name}/*.{suffix}" for name, spec in components.items() if spec and name not in UNUSED
                    for suffix in ("json", "txt", "model", "safetensors")]
        return Path(snapshot_download(base, allow_patterns=["model_index.json", *patterns],
                                      ignore_patterns=["*.fp16.safetensors", "*.non_ema.safetensors"]))


def pipeline_components(folder: Path) -> dict[str, tuple[str, str] | None]:
    """model_index.json's components: name -> (library, class), or None for an empty slot."""
    index = read_json(folder / "model_index.json", "pipeline index")
    return {
        name: (tuple(value) if value and value[0] else None)
        for name, value in index.items()
        if not name.startswith("_") and isinstance(value, list) and len(value) == 2
    }


def copy_pipeline(source: Path, target: Path, replace: dict[str, Path] | None = None) -> None:
    """Copy a diffusers pipeline folder, components in `replace` taken from other folders, the safety
    checker left out (llmdiff never runs it); weights as safetensors only."""
    replace = replace or {}
    index = read_json(source / "model_index.json", "pipeline index")
    target.mkdir(parents=True, exist_ok=True)
    for name, spec in pipeline_components(source).items():
        if spec is None:
            continue
        if name in UNUSED:
            index[name] = [None, None]
            index["requires_safety_checker"] = False
            continue
        folder = require(replace.get(name, source / name), f"{name} of the pipeline")
        if has_weights(folder):
            copy_model_folder(folder, target / name)
        else:  # a tokenizer or scheduler: settings files only
            (target / name).mkdir(parents=True)
            for item in sorted(folder.iterdir()):
                if item.is_file() and item.suffix in TOKENIZER_AND_CONFIG_SUFFIXES:
                    shutil.copyfile(item, target / name / item.name)
    (target / "model_index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
