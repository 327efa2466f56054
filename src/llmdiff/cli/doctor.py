"""`llmdiff doctor`: what this installation has — versions, the device, the default model and LLM, caches."""

from __future__ import annotations

import argparse
import importlib.metadata

# The libraries llmdiff runs on, in the order a bug report wants them; the optional ones serve extras
# (`serve`, `eval`) and are reported without being required.
REQUIRED = ("torch", "diffusers", "transformers", "peft", "accelerate", "safetensors", "gguf")
OPTIONAL = ("gradio", "torchmetrics")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check the installation: versions, device, default model and LLM, cache paths",
        description="Print the versions of llmdiff and the libraries it runs on, the device `auto` picks, "
        "whether the shipped default model and the default LLM are installed, and where caches live. "
        "Exits 1 when something the default model needs is missing.",
    )
    parser.set_defaults(func=doctor_command)


def library_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def checks() -> list[tuple[str, str, bool]]:
    """(what, finding, ok) for each thing the default model needs."""
    from llmdiff import __version__
    from llmdiff.defaults import cache_dir, default_llm_path, default_model_dir
    from llmdiff.errors import UserError

    rows = [("llmdiff", __version__, True)]
    rows += [(name, library_version(name), library_version(name) != "not installed") for name in REQUIRED]
    rows += [(name, library_version(name), True) for name in OPTIONAL]
    from llmdiff.devices import resolve_device

    rows.append(("device (auto)", str(resolve_device("auto")), True))
    model = default_model_dir()
    rows.append(("default model", str(model) if model else "not installed", model is not None))
    try:
        rows.append(("default LLM", str(default_llm_path()), True))
    except UserError as error:
        rows.append(("default LLM", str(error), False))
    rows.append(("cache (LLMDIFF_CACHE)", str(cache_dir()), True))
    from huggingface_hub.constants import HF_HUB_CACHE, HF_HUB_OFFLINE

    rows.append(("hub cache", str(HF_HUB_CACHE), True))
    rows.append(("hub access", "offline (HF_HUB_OFFLINE=1)" if HF_HUB_OFFLINE else "online", True))
    return rows


def doctor_command(args: argparse.Namespace) -> int:
    rows = checks()
    width = max(len(what) for what, _, _ in rows)
    for what, finding, ok in rows:
        print(f"{what:<{width}}  {finding}{'' if ok else '   <- missing'}")
    return 0 if all(ok for _, _, ok in rows) else 1
