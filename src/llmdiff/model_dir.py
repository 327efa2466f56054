"""A model folder: `base/` (a diffusers SD/SDXL pipeline) + `adapter/` (the connector) [+ `llm/`], named as one.

The shipped shapes model, every export and every converted release has this layout, so a user names the
folder instead of its two or three parts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from llmdiff.errors import UserError


@dataclass(frozen=True)
class ModelDir:
    root: Path
    base: Path
    adapter: Path
    llm: Path | None
    """the LLM itself, when it ships inside the folder"""

    @classmethod
    def open(cls, path: str | os.PathLike) -> "ModelDir":
        root = Path(path)
        if not root.is_dir():
            raise UserError(f"model folder '{root}' does not exist")
        for part in ("base", "adapter"):
            if not (root / part).is_dir():
                raise UserError(f"model folder '{root}' has no {part}/ folder (a model folder holds base/ and adapter/)")
        llm = root / "llm"
        return cls(root, root / "base", root / "adapter", llm if llm.is_dir() else None)


def model_sources(model, base, adapter, llm=None) -> tuple:
    """(base, adapter, llm) from a model folder, or the ones given when there is none.

    A model folder excludes a base or adapter named beside it; an LLM named beside it overrides the
    folder's own `llm/` (or the LLM its adapter names).
    """
    if model is None:
        return base, adapter, llm
    if base is not None or adapter is not None:
        raise UserError("give either a model folder (--model) or a base model and adapter (--base/--adapter), not both")
    folder = ModelDir.open(model)
    if llm is None and folder.llm is not None:
        llm = str(folder.llm)
    return str(folder.base), str(folder.adapter), llm
