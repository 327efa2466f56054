"""The LLM a release was trained with: its config (for widths and LoRA layer names), never its weights."""

from __future__ import annotations

from pathlib import Path

from llmdiff.errors import UserError
from llmdiff.loading import check_source, user_errors


def llm_config(spec: str, trust_remote_code: bool = False):
    """The transformers config of an LLM spec (local folder or hub id), or a one-line error."""
    from transformers import AutoConfig

    check_source("LLM", spec)
    with user_errors("LLM config", spec):
        return AutoConfig.from_pretrained(spec, trust_remote_code=trust_remote_code)


def llm_width(config) -> int:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return int(getattr(text, "hidden_size", None) or getattr(text, "d_model"))


def meta_text_model(config, source: str):
    """The module llmdiff's text encoder runs (the encoder of an encoder-decoder model), on the meta device."""
    from accelerate import init_empty_weights
    from transformers import AutoModel

    try:
        with init_empty_weights(include_buffers=False):
            model = AutoModel.from_config(config)
    except Exception as error:
        raise UserError(f"cannot build the LLM described by '{source}': {' '.join(str(error).split())[:200]}") from error
    return model.get_encoder() if getattr(config, "is_encoder_decoder", False) else model


def local_or_none(spec: str) -> Path | None:
    path = Path(spec).expanduser()
    return path if path.is_dir() else None


def recorded_llm(spec: str) -> str:
    """The LLM spec as the model folder records it: a local folder as an absolute path (the folder is used
    from anywhere), a hub id as it is."""
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else spec


def recorded_llm_of_width(spec: str, width: int, reader: Path, trust_remote_code: bool = False) -> str:
    """The LLM spec a model folder records, checked now when it is a local folder: its states must be as wide
    as what `reader` (the release's connector file) reads. A hub id is only recorded."""
    llm = recorded_llm(spec)
    if local_or_none(llm) is not None:
        found = llm_width(llm_config(llm, trust_remote_code))
        if found != width:
            raise UserError(f"the LLM '{llm}' has width {found}, but '{reader}' reads width {width}")
    return llm
