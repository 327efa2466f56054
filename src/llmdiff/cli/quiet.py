"""Quiet by default: the notices other libraries print on every run are hidden unless `-v` asks for them.

Only the command line does this, and only for messages that say nothing to a user of llmdiff (an optional
backend that is not installed, a deprecation inside another library); the library itself changes no
logging or warning setting of its users' programs.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings

# Messages our own calls trigger inside other libraries, each matched exactly (never a whole category).
KNOWN_NOISE = (
    (FutureWarning, r"`is_gradient_checkpointing` is deprecated"),
)


# Log records of other libraries' own loggers, matched exactly by logger and message.
KNOWN_LOG_NOISE = (
    # DeepSpeed (imported by accelerate when installed) guesses the device at import and says so on stdout.
    ("DeepSpeed", r"Setting accelerator to CPU\."),
)


class _DropMessage(logging.Filter):
    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.match(record.getMessage())


def quiet_libraries(verbose: bool) -> None:
    """Hide third-party notices (transformers' and diffusers' info and warning logs, the known warnings)."""
    if verbose:
        return
    for logger_name, message in KNOWN_LOG_NOISE:
        # A filter on the logger itself survives the library setting its level and handlers at import.
        logging.getLogger(logger_name).addFilter(_DropMessage(message))
    # Read by transformers and diffusers when they are first imported, which the subcommands do lazily;
    # a value the user set is kept.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    for category, message in KNOWN_NOISE:
        warnings.filterwarnings("ignore", message=message, category=category)


def own_warnings_as_lines(command: str) -> None:
    """llmdiff's own warnings (a prompt truncated, …) as one line, `llmdiff CMD: warning: …`, without the
    file name and source line Python's default format adds; other libraries' warnings keep that format."""
    global _command
    if _command is None:
        default = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if not category.__module__.startswith("llmdiff"):
                return default(message, category, filename, lineno, file, line)
            text = " ".join(str(message).split())
            print(f"llmdiff {_command}: warning: {text}", file=file or sys.stderr, flush=True)

        warnings.showwarning = show
    _command = command


_command: str | None = None
"""The subcommand running, once `own_warnings_as_lines` has set the format."""


def quiet_progress_bars() -> None:
    """No download or loading bars when stderr is not a terminal: redrawn with \\r, they are garbage in a log.

    Commands that have a bar of their own (the denoising steps) show it only on a terminal and print a
    one-line summary instead.
    """
    if not sys.stderr.isatty():
        # Read by huggingface_hub (and through it transformers) when first imported; a value the user set is kept.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def hide_loading_bars() -> None:
    """No bar per file loaded (diffusers' pipeline components, transformers' weights): on the command line
    the "loading …" line says what the wait is for. Called by commands once they import the model libraries.
    """
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
