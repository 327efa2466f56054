"""Quiet by default: the notices other libraries print on every run are hidden unless `-v` asks for them.

Only the command line does this, and only for messages that say nothing to a user of llmdiff (an optional
backend that is not installed, a deprecation inside another library); the library itself changes no
logging or warning setting of its users' programs.
"""

from __future__ import annotations

import os
import sys
import warnings

# Messages our own calls trigger inside other libraries, each matched exactly (never a whole category).
KNOWN_NOISE = (
    (FutureWarning, r"`is_gradient_checkpointing` is deprecated"),
)


def quiet_libraries(verbose: bool) -> None:
    """Hide third-party notices (transformers' and diffusers' info and warning logs, the known warnings)."""
    if verbose:
        return
    # Read by transformers and diffusers when they are first imported, which the subcommands do lazily;
    # a value the user set is kept.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    for category, message in KNOWN_NOISE:
        warnings.filterwarnings("ignore", message=message, category=category)


def quiet_progress_bars() -> None:
    """No download or loading bars when stderr is not a terminal: redrawn with \\r, they are garbage in a log.

    Commands that have a bar of their own (the denoising steps) show it only on a terminal and print a
    one-line summary instead.
    """
    if not sys.stderr.isatty():
        # Read by huggingface_hub (and through it transformers) when first imported; a value the user set is kept.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
