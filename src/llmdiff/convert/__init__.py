"""`llmdiff convert`: published LLM-conditioned diffusion releases turned into llmdiff model folders.

One module per release layout reads the release as published, checks every tensor against the model it
must fill, and returns a `Conversion` that writes `base/` + `adapter/`. Writing goes to a temp folder that
replaces the output only once it is complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from llmdiff.convert.plan import Conversion, ConvertOptions, Part
from llmdiff.errors import UserError
from llmdiff.files import replace_path

RELEASES = {
    "omnidiffusion": "llmdiff.convert.omnidiffusion",
    "paradiffusion": "llmdiff.convert.paradiffusion",
    "ella": "llmdiff.convert.ella",
    "lavi-bridge": "llmdiff.convert.lavi_bridge",
}
"""release name (as the CLI takes it) -> module with `prepare(source, options) -> Conversion`"""

__all__ = ["RELEASES", "Conversion", "ConvertOptions", "Part", "convert", "prepare"]


def prepare(release: str, source: str | os.PathLike, options: ConvertOptions | None = None) -> Conversion:
    """Read and check a release; nothing is written."""
    import importlib

    if release not in RELEASES:
        raise UserError(f"unknown release '{release}'; known: {', '.join(RELEASES)}")
    source = Path(source).expanduser()
    if not source.exists():
        raise UserError(f"release '{source}' does not exist")
    return importlib.import_module(RELEASES[release]).prepare(source, options or ConvertOptions())


def check_output(output: Path, force: bool) -> None:
    if output.exists() and not output.is_dir():
        raise UserError(f"output '{output}' is a file, not a model folder; choose another path")
    if output.exists() and not force:
        raise UserError(f"output '{output}' already exists; pass --force to replace it")


def convert(release: str, source: str | os.PathLike, output: str | os.PathLike,
            options: ConvertOptions | None = None, force: bool = False) -> Conversion:
    """Convert a release into the model folder `output`; an existing one is replaced only with `force`,
    and only once the new one is complete."""
    output = Path(output).expanduser()
    check_output(output, force)
    options = options or ConvertOptions()
    for name, path in (("the release", source), ("--base", options.base), ("--llm", options.llm)):
        if path is not None and Path(path).expanduser().exists() and _within(Path(path).expanduser(), output):
            raise UserError(f"output '{output}' would replace {name} '{path}' it reads; choose another output")
    conversion = prepare(release, source, options)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent))
    try:
        conversion.write(staging)
        check_output(output, force)  # nothing appeared there meanwhile
        replace_path(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return conversion


def _within(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents
