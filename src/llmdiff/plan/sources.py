"""Where a model's config files come from: a local folder, or the configs shipped for well-known hub ids.

Planning reads configs only, never weights, and never the network. A local folder (a diffusers pipeline,
a transformers model, or a `.gguf` file) is read as it is. A hub id with no local files is looked up in
`hub_configs/index.json`, which names a folder of published `config.json` files copied from the hub
(configs only; `CompVis/stable-diffusion-v1-4` shares SD1.5's folder: the two UNets, VAEs and CLIP encoders
have the same architecture). Anything else is a one-line error.
"""

from __future__ import annotations

import json
from pathlib import Path

from llmdiff.errors import UserError

HUB_CONFIGS = Path(__file__).parent / "hub_configs"


def shipped_hub_ids() -> dict[str, Path]:
    """Hub id -> folder of its shipped configs."""
    index = json.loads((HUB_CONFIGS / "index.json").read_text(encoding="utf-8"))
    return {hub_id: HUB_CONFIGS / folder for hub_id, folder in index.items()}


def config_folder(spec: str, what: str) -> Path:
    """The folder holding `spec`'s config files: the local path itself, or the shipped configs of a hub id."""
    local = Path(spec).expanduser()
    if local.is_dir():
        return local
    shipped = shipped_hub_ids().get(spec)
    if shipped is not None:
        return shipped
    known = ", ".join(sorted(shipped_hub_ids()))
    raise UserError(
        f"{what} '{spec}' is not a local folder and no configs are shipped for it; download its config.json "
        f"files into a folder and name that folder (configs are shipped for: {known})"
    )


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"'{path}' does not exist: planning reads each model's config.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UserError(f"'{path}' is not valid JSON ({error.msg})") from None
