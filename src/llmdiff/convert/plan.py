"""What a conversion reads and writes, checked before anything is written; `--dry-run` prints it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ConvertOptions:
    """The user's choices; None means the release's own default."""

    llm: str | None = None
    """LLM spec recorded in text_encoder_config.json (hub id or local folder)"""
    base: str | None = None
    """diffusers SD/SDXL pipeline (local folder or hub id) for what the release does not ship"""
    variant: str | None = None
    """which of the release's sub-folders: OmniDiffusion stage-2/stage-3, ParaDiffusion unet/unet_1,
    LaVi-Bridge llama2_unet/t5_unet"""
    unet: str | None = None
    """OmniDiffusion: unet or unet_ema"""
    fuse_unet_lora: bool = False
    """LaVi-Bridge: fold the UNet LoRA into base/unet instead of writing adapter/unet_lora/"""
    trust_remote_code: bool = False
    """record that the LLM may run its own code from the hub (Baichuan2); never set silently"""


@dataclass
class Part:
    path: str
    parameters: int | None = None
    note: str = ""

    def line(self) -> str:
        count = f"{self.parameters:,} parameters" if self.parameters is not None else ""
        details = "; ".join(item for item in (count, self.note) if item)
        return f"  {self.path}" + (f"  ({details})" if details else "")


@dataclass
class Conversion:
    """A checked conversion: `write(folder)` writes the whole model folder into an empty `folder`."""

    release: str
    write: Callable[[Path], None]
    reads: list[Part] = field(default_factory=list)
    writes: list[Part] = field(default_factory=list)

    def summary(self, output: str | Path) -> str:
        lines = [f"{self.release}: reads"]
        lines += [part.line() for part in self.reads]
        lines.append(f"writes {output}/")
        lines += [part.line() for part in self.writes]
        return "\n".join(lines)
