"""Loading models by hub id, local directory or GGUF file, with errors a user can act on.

Everything here loads weights through `from_pretrained` with safetensors only; pickled checkpoints are
never opened. With `HF_HUB_OFFLINE=1` a name that is not a local path fails at once with a message that
says so, instead of waiting on the network.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from llmdiff.defaults import cache_dir, default_llm_path
from llmdiff.errors import UserError
from llmdiff.files import give_usual_modes

logger = logging.getLogger(__name__)


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


@contextlib.contextmanager
def user_errors(what: str, source: str) -> Iterator[None]:
    """Turn the many ways a load can fail into one `UserError` naming what and where."""
    try:
        yield
    except UserError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        detail = " ".join(str(error).split())
        if len(detail) > 300:
            detail = detail[:300] + "..."
        hint = ""
        if not Path(source).exists() and hub_offline():
            hint = " (it is not a local path and hub access is off: HF_HUB_OFFLINE=1)"
        elif not Path(source).exists():
            hint = " (it is not a local path; as a hub id it could not be fetched)"
        raise UserError(f"could not load {what} from '{source}'{hint}: {detail}") from error


def check_source(what: str, source: str) -> None:
    """Fail fast for a name that is neither a local path nor a hub id that can be fetched."""
    if Path(source).expanduser().exists():
        return
    looks_like_hub_id = re.fullmatch(r"[\w.-]+(/[\w.-]+)?", source) is not None
    if not looks_like_hub_id:
        raise UserError(f"{what} '{source}' does not exist")
    if hub_offline():
        raise UserError(
            f"{what} '{source}' is not a local path, and hub access is off (HF_HUB_OFFLINE=1); "
            "pass a local directory"
        )


@dataclass(frozen=True)
class LLMSource:
    """Where an LLM's weights and tokenizer live: a directory or hub id, plus a GGUF file name."""

    path: str
    gguf_file: str | None = None

    @classmethod
    def parse(cls, spec: str | os.PathLike | None) -> "LLMSource":
        if spec is None:
            gguf = default_llm_path()
            return cls(str(gguf.parent), gguf.name)
        spec = str(spec)
        if spec.endswith(".gguf"):
            path = Path(spec).expanduser()
            if not path.is_file():
                raise UserError(f"GGUF file '{spec}' does not exist")
            return cls(str(path.parent), path.name)
        check_source("LLM", spec)
        return cls(spec)

    def describe(self) -> str:
        return str(Path(self.path) / self.gguf_file) if self.gguf_file else self.path


def _gguf_cache(source: LLMSource) -> Path:
    """Directory where a GGUF model is kept once dequantised, keyed by the file's identity."""
    gguf = Path(source.path) / source.gguf_file
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_dir() / "gguf" / f"{gguf.stem}-{key}"


def _convert_gguf(source: LLMSource, target: Path) -> None:
    """Dequantise a GGUF model once and save it as safetensors: later loads take a fraction of the time."""
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer

    logger.warning("converting %s to safetensors under %s (once)", source.describe(), target)
    with user_errors("GGUF model", source.describe()):
        tokenizer = AutoTokenizer.from_pretrained(source.path, gguf_file=source.gguf_file)
        model = AutoModel.from_pretrained(source.path, gguf_file=source.gguf_file)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        # The dequantised weights are plain tensors now, but the model still calls itself quantised and
        # refuses `save_pretrained`; write its config and weights directly.
        config = model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.save_pretrained(staging)
        weights = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
        save_file(weights, staging / "model.safetensors", metadata={"format": "pt"})
        tokenizer.save_pretrained(staging)
        give_usual_modes(staging)  # mkdtemp's folder and safetensors' files start private
        os.replace(staging, target)  # atomic: a crash leaves no half-written cache entry
    except OSError:
        if not (target / "config.json").is_file():  # another process may have won the race
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def resolve_llm(spec: str | os.PathLike | None) -> str:
    """A local directory or hub id that `from_pretrained` can read for this LLM spec."""
    source = LLMSource.parse(spec)
    if source.gguf_file is None:
        return source.path
    target = _gguf_cache(source)
    if not (target / "config.json").is_file():
        _convert_gguf(source, target)
    return str(target)


def check_remote_code(path: str, trust_remote_code: bool) -> None:
    """Refuse a model that ships its own code (`auto_map` in its config) unless the caller opted in.

    transformers would otherwise run a built-in class in its place when it knows the model type, or
    fail deep inside; either way the user should decide first.
    """
    if trust_remote_code:
        return
    from transformers import PretrainedConfig
    from transformers.models.auto.tokenization_auto import get_tokenizer_config

    with user_errors("LLM config", path):
        model_config, _ = PretrainedConfig.get_config_dict(path)
        tokenizer_config = get_tokenizer_config(path)
    for name, settings in (("config.json", model_config), ("tokenizer_config.json", tokenizer_config)):
        if settings.get("auto_map"):
            raise UserError(
                f"LLM '{path}' runs its own code (auto_map in its {name}); if you trust its source, opt in "
                "with trust_remote_code=True (CLI: --trust-remote-code)"
            )


def load_llm_tokenizer(spec: str | os.PathLike | None = None, trust_remote_code: bool = False):
    """The tokenizer of an LLM spec (None: the default LLM)."""
    from transformers import AutoTokenizer

    path = resolve_llm(spec)
    check_remote_code(path, trust_remote_code)
    with user_errors("LLM tokenizer", path):
        return AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)


def load_llm_model(spec: str | os.PathLike | None = None, dtype=None, trust_remote_code: bool = False):
    """The LLM's transformer without its language-model head, in eval mode, weights from safetensors.

    `trust_remote_code`: allow a model that ships its own modelling code to run it (refused otherwise).
    """
    from transformers import AutoModel

    from transformers.utils import logging as transformers_logging

    path = resolve_llm(spec)
    check_remote_code(path, trust_remote_code)
    verbosity = transformers_logging.get_verbosity()
    # A causal LM's checkpoint holds a language-model head that the encoder never uses; transformers
    # reports it as an unexpected key on every load. Only that load is quietened.
    transformers_logging.set_verbosity_error()
    try:
        with user_errors("LLM", path):
            model = AutoModel.from_pretrained(
                path, dtype=dtype, use_safetensors=True, trust_remote_code=trust_remote_code
            )
    finally:
        transformers_logging.set_verbosity(verbosity)
    return model.eval()
