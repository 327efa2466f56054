"""The release-merging script: a commit's packaged release is found again, the steps run in order and are
skipped when done, and the package holds the average with a card naming the releases, weights and scores."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from llmdiff.worlds.shapes.dataset import SPLIT_SEED_BASE


def fake_release(folder: Path, value: float, card: str) -> Path:
    """A packaged-release layout with one weight file in each part that a merge averages."""
    for part, name in (("adapter", "diffusion_pytorch_model.safetensors"), ("base/unet", "diffusion_pytorch_model.safetensors")):
        (folder / part).mkdir(parents=True)
        save_file({"w": torch.full((2,), value, dtype=torch.float16)}, folder / part / name)
        (folder / part / "config.json").write_text('{"width": 2, "num_layers": 1}', encoding="utf-8")
    (folder / "base" / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}', encoding="utf-8")
    (folder / "world.json").write_text('{"world": {"grid": 2}}', encoding="utf-8")
    (folder / "README.md").write_text(card, encoding="utf-8")
    return folder


def test_a_commit_names_the_release_packaged_in_it(tmp_path, monkeypatch, load_script):
    module = load_script("merge_shapes_releases")
    repository = tmp_path / "repo"
    fake_release(repository / module.PACKAGED, 1.0, "# first\n")

    def git(*args):
        return subprocess.run(["git", "-C", str(repository), *args], check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    commit = git("rev-parse", "HEAD").strip()
    shutil.rmtree(repository / "src")  # the working tree no longer has it; the commit does

    monkeypatch.chdir(tmp_path)
    folder = module.release_folder("r1", commit, repository)
    assert folder == module.RUNS / "releases" / "r1"
    assert load_file(folder / "adapter" / "diffusion_pytorch_model.safetensors")["w"].tolist() == [1.0, 1.0]
    assert (folder / "README.md").read_text(encoding="utf-8") == "# first\n"
    assert module.release_folder("r1", str(folder), repository) == folder  # a folder is taken as it is
    with pytest.raises(SystemExit, match="neither a folder nor a commit"):
        module.release_folder("r2", "no-such-commit", repository)


def test_merge_eval_and_package_with_a_card(tmp_path, monkeypatch, load_script):
    module = load_script("merge_shapes_releases")
    a = fake_release(tmp_path / "a", 1.0, "# release a\n")
    b = fake_release(tmp_path / "b", 3.0, "# release b\n\n## Held-out scores (oracle)\n\nb's table\n")
    target = tmp_path / "package"
    commands = []

    def fake_call(command):
        commands.append(command)
        if "eval" in command:  # what a finished eval leaves: its Markdown, written last
            out = Path(command[command.index("-o") + 1])
            out.mkdir(parents=True)
            (out / "shapes_eval.md").write_text(f"| table of {out.name} |\n", encoding="utf-8")
            return 0
        return subprocess.run(command).returncode  # the real `llmdiff merge`

    monkeypatch.setattr(module.subprocess, "call", fake_call)
    argv = ["merge_shapes_releases.py", "--release", f"ra={a}", "--release", f"rb={b}", "--weights", "1,3",
            "--name", "soup", "--val", "--workdir", str(tmp_path / "work"), "--package", str(target)]
    monkeypatch.setattr(sys, "argv", argv)
    assert module.main() == 0

    assert [command[3:5] for command in commands] == [["merge", str(a)], ["eval", "shapes"], ["eval", "shapes"]]
    val, test = commands[1], commands[2]
    assert val[val.index("--first-seed") + 1] == str(SPLIT_SEED_BASE["val"]) == "1000000000"
    assert [val[i + 1] for i, part in enumerate(val) if part == "--model"][:2] == [f"ra={a}", f"rb={b}"]
    assert "--first-seed" not in test and [test[i + 1] for i, part in enumerate(test) if part == "--model"] == [
        f"soup={module.RUNS / 'merged'}"]

    merged = load_file(target / "adapter" / "diffusion_pytorch_model.safetensors")["w"]
    assert merged.dtype == torch.float16 and merged.tolist() == [2.5, 2.5]
    card = (target / "README.md").read_text(encoding="utf-8")
    assert "--release ra=" in card and "--weights 1,3" in card
    assert "| ra |" in card and "0.2500" in card and "0.7500" in card
    assert "| table of eval |" in card and "| table of eval-val |" in card
    assert "## Merged from" in card and "## release b" in card and "### Held-out scores (oracle)" in card
    assert json.loads((target / "world.json").read_text(encoding="utf-8")) == {"world": {"grid": 2}}

    commands.clear()  # a second sitting: every step is done, only the package is written again
    assert module.main() == 0
    assert commands == []
    assert json.loads((tmp_path / "work" / module.RUNS / "merge.json").read_text())["merge"]["status"] == 0


def test_a_shallower_adapter_is_deepened_as_the_identity_before_an_average(tmp_path, monkeypatch, load_script):
    from llmdiff.adapter import LLMAdapter

    module = load_script("merge_shapes_releases")
    monkeypatch.chdir(tmp_path)
    shallow = LLMAdapter(llm_dim=16, cond_dim=8, hidden_dim=16, num_heads=2, num_layers=1, num_queries=4).eval()
    releases = []
    for name, adapter in (("old", shallow), ("new", shallow.deepened(2))):
        folder = fake_release(tmp_path / name, 1.0, f"# {name}\n")
        shutil.rmtree(folder / "adapter")
        adapter.half().save_pretrained(folder / "adapter", safe_serialization=True)
        (folder / "adapter" / "text_encoder_config.json").write_text('{"layers": [15]}', encoding="utf-8")
        releases.append((name, folder))

    grown = module.deepened_to_match(releases)
    assert grown[1] == releases[1]  # the deepest is taken as it is
    name, copy = grown[0]
    assert name == "old" and copy == module.RUNS / "releases" / "old-2-layers"
    assert module.adapter_depth(copy) == 2 and module.adapter_depth(releases[0][1]) == 1  # the release untouched
    weights = load_file(copy / "adapter" / "diffusion_pytorch_model.safetensors")
    assert weights.keys() == load_file(releases[1][1] / "adapter" / "diffusion_pytorch_model.safetensors").keys()
    assert all(tensor.dtype == torch.float16 for tensor in weights.values())
    assert (copy / "adapter" / "text_encoder_config.json").read_text(encoding="utf-8") == '{"layers": [15]}'
    assert (copy / "base" / "model_index.json").is_file()
    states, mask = torch.randn(1, 5, 16), torch.ones(1, 5, dtype=torch.long)
    with torch.no_grad():
        before = LLMAdapter.load(releases[0][1] / "adapter").float().eval()(states, mask).prompt_embeds
        after = LLMAdapter.load(copy / "adapter").float().eval()(states, mask).prompt_embeds
    assert torch.allclose(before, after, atol=1e-3)
    assert module.deepened_to_match(releases) == grown  # made once
    merge = subprocess.run([sys.executable, "-m", "llmdiff", "merge", str(copy), str(releases[1][1]), "-o", "soup"],
                           capture_output=True, text=True)
    assert merge.returncode == 0, merge.stderr  # the copy and the deeper release now line up
