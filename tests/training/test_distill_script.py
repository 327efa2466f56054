"""The language-distillation script: the release is copied before anything can replace it, the steps run in
order with the release's adapter as start and teacher and are skipped when done, and the package is the
release with the trained adapter in fp16 and a card that measures it and names its lineage."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from llmdiff.adapter import LLMAdapter
from llmdiff.pipeline import save_text_encoder_config
from llmdiff.text_encoder import TextEncoderConfig
from llmdiff.worlds.shapes.dataset import SPLIT_SEED_BASE

WORLD = {"resolution": 32, "grid": 2, "min_objects": 1, "max_objects": 3, "shapes": ["circle", "star"],
         "colours": ["red", "blue"], "sizes": ["small", "large"]}


def save_adapter(folder: Path, value: float, dtype=torch.float16) -> Path:
    adapter = LLMAdapter(llm_dim=8, cond_dim=8, hidden_dim=8, num_heads=2, num_layers=1, num_queries=4)
    for param in adapter.parameters():
        param.data.fill_(value)
    adapter.to(dtype).save_pretrained(folder, safe_serialization=True)
    save_text_encoder_config(folder, TextEncoderConfig(layers=(15,)), "/some/llm")
    return folder


def fake_release(folder: Path) -> Path:
    (folder / "base" / "unet").mkdir(parents=True)
    (folder / "base" / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}', encoding="utf-8")
    (folder / "base" / "unet" / "weights").write_text("the release's UNet", encoding="utf-8")
    save_adapter(folder / "adapter", 1.0)
    (folder / "world.json").write_text(json.dumps({"world": WORLD}), encoding="utf-8")
    (folder / "merge.json").write_text("{}", encoding="utf-8")
    (folder / "README.md").write_text("# release\n\n## Held-out scores (oracle)\n\nits table\n", encoding="utf-8")
    return folder


def fake_steps(records: list[dict]):
    """A stand-in for `subprocess.call` that records each command and leaves what its step would: a
    dataset of `records`, a trained adapter, an eval's Markdown (written last by a finished eval)."""
    commands = []

    def call(command):
        commands.append(command)
        verb = command[3]
        if verb == "shapes":
            out = Path(command[command.index("--out") + 1])
            out.mkdir(parents=True)
            (out / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        elif verb == "train":
            output = next(part.split("=", 1)[1] for part in command if part.startswith("output_dir="))
            save_adapter(Path(output) / "adapter", 2.0, torch.float32)
        elif verb == "eval":
            out = Path(command[command.index("-o") + 1])
            out.mkdir(parents=True)
            (out / "shapes_eval.md").write_text(f"| table of {out.name} |\n", encoding="utf-8")
        return 0

    return commands, call


def test_distil_measure_and_package(tmp_path, monkeypatch, load_script):
    module = load_script("distill_shapes_languages")
    release = fake_release(tmp_path / "release")
    target = tmp_path / "package"
    # a dataset of 12 records, every third outside the training split
    commands, fake_call = fake_steps([{"key": f"s{i}", "split": "val" if i % 3 == 2 else "train"} for i in range(12)])
    monkeypatch.setattr(subprocess, "call", fake_call)  # the steps run through the merge script's `run`
    argv = ["distill_shapes_languages.py", "--release", str(release), "--train-scenes", "5", "--steps", "30",
            "--english", "short", "--val", "--compare", "other=elsewhere/distilled", "--workdir", str(tmp_path / "work"),
            "--package", str(target)]
    monkeypatch.setattr(sys, "argv", argv)
    assert module.main() == 0

    assert [command[3] for command in commands] == ["shapes", "cache", "train", "eval", "eval"]
    make = commands[0]
    assert make[make.index("--shapes") + 1] == "circle,star" and make[make.index("--resolution") + 1] == "32"
    copied = module.RUNS / "release"
    train = commands[2]
    assert f"model.adapter={copied / 'adapter'}" in train and "train.max_steps=30" in train
    assert "data.clip_text_field=captions.en.short.text" in train
    subset = tmp_path / "work" / module.DATA / "n16" / "train_5.jsonl"
    assert [json.loads(line)["key"] for line in subset.read_text().splitlines()] == ["s0", "s1", "s3", "s4", "s6"]
    val, test = commands[3], commands[4]
    assert val[val.index("--first-seed") + 1] == str(SPLIT_SEED_BASE["val"])
    assert [val[i + 1] for i, part in enumerate(val) if part == "--model"] == [
        f"release={copied}", f"distilled={module.RUNS / 'distilled'}", "other=elsewhere/distilled"]
    assert "--first-seed" not in test

    weights = load_file(target / "adapter" / "diffusion_pytorch_model.safetensors")
    assert all(t.dtype == torch.float16 and torch.all(t == 2.0) for t in weights.values())
    settings = json.loads((target / "adapter" / "text_encoder_config.json").read_text())
    assert settings["layers"] == [15] and "llm" not in settings  # the default LLM, wherever it is installed
    assert (target / "base" / "unet" / "weights").read_text() == "the release's UNet"
    assert json.loads((target / "world.json").read_text())["world"] == WORLD
    assert not (target / "merge.json").exists()
    card = (target / "README.md").read_text(encoding="utf-8")
    assert "--train-scenes 5 --steps 30 --english short" in card and "English short caption" in card
    assert "every caption in six languages was pulled" in card
    assert "| table of eval |" in card and "| table of eval-val |" in card
    assert "## Distilled from" in card and "## release" in card and "### Held-out scores (oracle)" in card

    commands.clear()  # a second sitting: every step is done, only the package is written again
    assert module.main() == 0
    assert commands == []
    assert json.loads((tmp_path / "work" / module.RUNS / "distill.json").read_text())["cross_lingual"]["status"] == 0


def test_stop_after_training_or_validation(tmp_path, monkeypatch, load_script):
    module = load_script("distill_shapes_languages")
    release = fake_release(tmp_path / "release")
    commands, fake_call = fake_steps([{"key": "s0", "split": "train"}])
    monkeypatch.setattr(subprocess, "call", fake_call)
    base = ["distill_shapes_languages.py", "--release", str(release), "--train-scenes", "1",
            "--runs", "runs/candidate", "--workdir", str(tmp_path / "work")]
    monkeypatch.setattr(sys, "argv", [*base, "--stop-after", "train"])
    assert module.main() == 0
    assert [command[3] for command in commands] == ["shapes", "cache", "train"]
    assert (tmp_path / "work" / "runs" / "candidate" / "distilled" / "adapter").is_dir()
    monkeypatch.setattr(sys, "argv", [*base, "--val", "--stop-after", "val"])
    assert module.main() == 0
    assert [command[3] for command in commands] == ["shapes", "cache", "train", "eval"]  # the validation scenes only
    monkeypatch.setattr(sys, "argv", [*base, "--compare", "x=y"])
    with pytest.raises(SystemExit):
        module.main()


def test_denoiser_space_reads_images_at_the_release_resolution(tmp_path, monkeypatch, load_script):
    module = load_script("distill_shapes_languages")
    release = fake_release(tmp_path / "release")
    target = tmp_path / "package"
    commands, fake_call = fake_steps([{"key": "s0", "split": "train"}])
    monkeypatch.setattr(subprocess, "call", fake_call)
    monkeypatch.setattr(sys, "argv", [
        "distill_shapes_languages.py", "--release", str(release), "--train-scenes", "1", "--space", "denoiser",
        "--set", "optim.lr=1e-4", "--set", "data.resolution=64",
        "--set", "data.text_fields=[captions.de.paragraph.text]", "--workdir", str(tmp_path / "work"),
        "--package", str(target)])
    assert module.main() == 0

    train = next(command for command in commands if command[3] == "train")
    assert "loss.distill_space=denoiser" in train and "data.image_field=image" in train
    # the release's resolution, then each --set in order after the script's own, so a --set wins
    assert train.index("data.resolution=32") < train.index("data.resolution=64") == len(train) - 2
    assert train[-3] == "optim.lr=1e-4"
    card = (target / "README.md").read_text(encoding="utf-8")
    assert "--space denoiser --set optim.lr=1e-4 --set data.resolution=64" in card
    assert "UNet's predictions, on the scene's noisy latents" in card
    # the card names the captions the override chose, not the config's six languages
    assert "each caption in `[captions.de.paragraph.text]` was pulled" in card and "six languages" not in card
