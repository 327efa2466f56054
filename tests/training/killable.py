"""Runs a training config in this process and SIGKILLs itself at a chosen point (for resume tests).

usage: python killable.py CONFIG.yaml [--resume latest] [--kill step:N | --kill save_state:N |
       --kill before_rename:N | --kill before_pointer:N]
"""

import argparse
import os
import signal
import sys


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--resume")
    parser.add_argument("--kill", default="")
    args = parser.parse_args()

    from llmdiff.training import checkpoint
    from llmdiff.training.config import load_config
    from llmdiff.training.recipes import RECIPES

    config = load_config(args.config)
    recipe = RECIPES[config.stage](config, resume=args.resume)
    where, _, value = args.kill.partition(":")
    at = int(value or 0)
    if where == "step":
        recipe.callbacks.append(lambda r, step: die() if step == at else None)
    elif where == "save_state":
        # Kill with the temporary checkpoint half written (accelerate state there, trainer state not).
        original = recipe.save_checkpoint

        def save_then_die():
            if recipe.step == at:
                recipe.checkpoints.begin(recipe.step)
                recipe.accelerator.save_state(str(recipe.checkpoints.temp_dir(recipe.step)))
                die()
            return original()

        recipe.save_checkpoint = save_then_die
    elif where in ("before_rename", "before_pointer"):
        target = os.rename if where == "before_rename" else checkpoint.write_atomic
        name = "rename" if where == "before_rename" else "write_atomic"

        def patched(*a, **k):
            if recipe.step == at:
                die()
            return target(*a, **k)

        if where == "before_rename":
            checkpoint.os = type(os)("os_proxy")
            checkpoint.os.__dict__.update(os.__dict__)
            checkpoint.os.rename = patched
        else:
            setattr(checkpoint, name, patched)
    recipe.run()


if __name__ == "__main__":
    main()
