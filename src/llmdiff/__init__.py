"""llmdiff: large language models as text encoders for text-to-image diffusion models."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("llmdiff")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

_LAZY = {
    "LLMDiffusionPipeline": "llmdiff.pipeline",
    "GenerationOutput": "llmdiff.pipeline",
    "GenerationDefaults": "llmdiff.pipeline",
    "LLMTextEncoder": "llmdiff.text_encoder",
    "TextEncoderConfig": "llmdiff.text_encoder",
    "LLMAdapter": "llmdiff.adapter",
    "UserError": "llmdiff.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    # Importing torch and diffusers takes seconds; do it only when a model class is used.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'llmdiff' has no attribute {name!r}")
