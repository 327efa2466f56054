"""What several models being compared must agree on: the shapes world they were trained in, and the steps
and guidance they are drawn with (each model folder's own, unless the user names them)."""

from __future__ import annotations

from pathlib import Path

from llmdiff.errors import UserError

FALLBACK_STEPS = 30
FALLBACK_GUIDANCE = 5.0
"""Settings for rows that carry none of their own (base models drawing with their CLIP encoder)."""


def agreed_world(spec: str | None, model_dirs: dict[str, str | Path]):
    """The world `spec` names, else the world of the model folders (each one's world.json), else the shipped
    model's; a model whose world.json differs from the one asked for, or from another model's, is refused."""
    from llmdiff.worlds.shapes.config import WORLD_FILE, load_world

    asked = load_world(spec) if spec else None
    found: tuple[str, object] | None = None
    for name, folder in model_dirs.items():
        if not (Path(folder) / WORLD_FILE).is_file():
            continue
        world = load_world(folder)
        if asked is not None and world != asked:
            raise UserError(f"model '{name}' was trained in another world than --world {spec} (its {WORLD_FILE} "
                            "differs); drop --world to use the model's own, or evaluate it separately")
        if found is not None and world != found[1]:
            raise UserError(f"models '{found[0]}' and '{name}' were trained in different worlds (their {WORLD_FILE} "
                            "files differ); evaluate them separately")
        found = found or (name, world)
    if asked is not None:
        return asked
    return found[1] if found is not None else load_world(None)


def agreed_generation(steps: int | None, guidance: float | None, adapter_dirs: dict[str, str | Path]):
    """(steps, guidance): the ones given, else the models' own (each adapter's generation_config.json); models
    that disagree need the setting named."""
    from llmdiff.pipeline import GenerationDefaults

    defaults = {name: GenerationDefaults.load(adapter) for name, adapter in adapter_dirs.items()}
    chosen = []
    for given, field, option, fallback in ((steps, "num_inference_steps", "--steps", FALLBACK_STEPS),
                                           (guidance, "guidance_scale", "--guidance", FALLBACK_GUIDANCE)):
        if given is not None:
            chosen.append(given)
            continue
        values = {name: getattr(default, field) for name, default in defaults.items()}
        if len(set(values.values())) > 1:
            shown = ", ".join(f"{name} {value:g}" for name, value in values.items())
            raise UserError(f"the models draw best with different {option.lstrip('-')} ({shown}); name {option} "
                            "for all of them")
        chosen.append(next(iter(values.values())) if values else fallback)
    return tuple(chosen)
