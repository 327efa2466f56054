"""Bad releases: one line naming the file and what is wrong, exit code 2, nothing left at OUT."""

import shutil
from pathlib import Path

import pytest
import torch

from llmdiff.cli.main import main


def run(capsys, *argv) -> tuple[int, str]:
    code = main(["convert", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.err


def assert_refused(capsys, out: Path, *argv, says: str) -> str:
    code, err = run(capsys, *argv, "-o", out)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert says in lines[0], lines[0]
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]  # no staging left
    return lines[0]


@pytest.fixture
def ella_copy(ella_release, tmp_path):
    folder = tmp_path / "ella"
    folder.mkdir()
    shutil.copy(ella_release["file"], folder)
    return folder / ella_release["file"].name


def save_state(path: Path, state: dict) -> None:
    from safetensors.torch import save_file

    save_file({name: tensor.contiguous() for name, tensor in state.items()}, str(path))


def ella_args(tiny_models, file):
    return ["ella", file, "--llm", tiny_models["llama"], "--base", tiny_models["sd"]]


def test_truncated_safetensors(capsys, tiny_models, ella_copy, tmp_path):
    data = ella_copy.read_bytes()
    ella_copy.write_bytes(data[: len(data) // 2])
    line = assert_refused(capsys, tmp_path / "out", *ella_args(tiny_models, ella_copy), says="not an intact safetensors")
    assert str(ella_copy) in line


def test_file_of_another_family(capsys, tiny_models, lavi_release, tmp_path):
    wrong = tmp_path / "ella-sd1.5-tsc-t5xl.safetensors"
    save_state(wrong, lavi_release["adapter"])
    assert_refused(capsys, tmp_path / "out", *ella_args(tiny_models, wrong), says="is not an ELLA connector")


@pytest.mark.parametrize("change, says", [
    ("missing", "lacks 1 tensor(s)"),
    ("extra", "holds 1 tensor(s) an ELLA connector does not have: connector.extra"),
    ("shape", "wrong shape"),
])
def test_missing_extra_and_misshapen_tensors(capsys, tiny_models, ella_release, tmp_path, change, says):
    state = dict(ella_release["state"])
    if change == "missing":
        del state["connector.perceiver_blocks.1.mlp.c_fc.bias"]
    elif change == "extra":
        state["connector.extra"] = torch.zeros(3)
    else:
        state["connector.perceiver_blocks.0.attn.out_proj.weight"] = torch.zeros(768, 700)
    file = tmp_path / "ella-sd1.5-tsc-t5xl.safetensors"
    save_state(file, state)
    line = assert_refused(capsys, tmp_path / "out", *ella_args(tiny_models, file), says=says)
    assert str(file) in line


def test_truncated_pickle(capsys, tiny_models, omni_release, tmp_path):
    release = tmp_path / "omni"
    shutil.copytree(omni_release["root"] / "stage-3", release / "stage-3")
    pickle = release / "stage-3" / "text_encoder_adapter" / "pytorch_model.bin"
    pickle.write_bytes(pickle.read_bytes()[:1000])
    line = assert_refused(capsys, tmp_path / "out", "omnidiffusion", release, "--base", tiny_models["sdxl"],
                          says="is not a readable PyTorch checkpoint")
    assert str(pickle) in line


def test_pickle_holding_code_is_not_run(capsys, tiny_models, omni_release, tmp_path):
    import pickle

    release = tmp_path / "omni"
    shutil.copytree(omni_release["root"] / "stage-3", release / "stage-3")
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (release / "stage-3" / "text_encoder_adapter" / "pytorch_model.bin").write_bytes(pickle.dumps({"x": Payload()}))
    assert_refused(capsys, tmp_path / "out", "omnidiffusion", release, "--base", tiny_models["sdxl"],
                   says="holds objects other than tensors and plain containers; they are refused unread")
    assert not marker.exists()


def test_pickle_of_another_family(capsys, tiny_models, omni_release, ella_release, tmp_path):
    release = tmp_path / "omni"
    shutil.copytree(omni_release["root"] / "stage-3", release / "stage-3")
    torch.save(ella_release["state"], release / "stage-3" / "text_encoder_adapter" / "pytorch_model.bin")
    assert_refused(capsys, tmp_path / "out", "omnidiffusion", release, "--base", tiny_models["sdxl"],
                   says="is not an OmniDiffusion MLMAdapter")


def test_unet_of_the_wrong_width(capsys, tiny_models, omni_release, tmp_path):
    release = tmp_path / "omni"
    shutil.copytree(omni_release["root"] / "stage-3", release / "stage-3")
    shutil.rmtree(release / "stage-3" / "unet_ema")
    shutil.copytree(tiny_models["sdxl"] / "unet", release / "stage-3" / "unet_ema")  # reads 2048, adapter gives 64
    assert_refused(capsys, tmp_path / "out", "omnidiffusion", release, "--base", tiny_models["sdxl"],
                   says="reads widths 2048 + pooled 1280")


@pytest.mark.parametrize("release_name, part, says", [
    ("lavi-bridge", "llama2_unet/lora_vis.pt", "the release has no UNet LoRA"),
    ("lavi-bridge", "llama2_unet/adapter", "the release has no adapter/ folder"),
    ("paradiffusion", "scheduler", "the release has no 'scheduler/' folder"),
    ("paradiffusion", "text_encoder_lora", "the release has no 'text_encoder_lora/' folder"),
    ("omnidiffusion", "stage-3/unet_ema", "the release has no 'unet_ema/' folder"),
])
def test_release_missing_a_part(capsys, tiny_models, lavi_release, para_release, omni_release, tmp_path,
                                release_name, part, says):
    roots = {"lavi-bridge": lavi_release["root"], "paradiffusion": para_release["root"],
             "omnidiffusion": omni_release["root"]}
    release = tmp_path / "release"
    shutil.copytree(roots[release_name], release)
    target = release / part
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    extra = {"lavi-bridge": ["--llm", tiny_models["llama"], "--base", tiny_models["sd"]],
             "omnidiffusion": ["--base", tiny_models["sdxl"]], "paradiffusion": []}[release_name]
    assert_refused(capsys, tmp_path / "out", release_name, release, *extra, says=says)


def test_lora_list_that_does_not_fit(capsys, tiny_models, lavi_release, tmp_path):
    release = tmp_path / "release"
    shutil.copytree(lavi_release["root"], release)
    torch.save(lavi_release["text_lora"][:-2], release / "llama2_unet" / "lora_text.pt")
    line = assert_refused(capsys, tmp_path / "out", "lavi-bridge", release, "--llm", tiny_models["llama"],
                          "--base", tiny_models["sd"], says="holds 22 tensors, but a LoRA of")
    assert "has 24 (12 layers, an up and a down each)" in line


def test_lora_list_in_another_order(capsys, tiny_models, lavi_release, tmp_path):
    release = tmp_path / "release"
    shutil.copytree(lavi_release["root"], release)
    swapped = list(lavi_release["text_lora"])
    swapped[0:2], swapped[2:4] = swapped[2:4], swapped[0:2]  # q and k swapped: k is narrower (grouped heads)
    torch.save(swapped, release / "llama2_unet" / "lora_text.pt")
    assert_refused(capsys, tmp_path / "out", "lavi-bridge", release, "--llm", tiny_models["llama"],
                   "--base", tiny_models["sd"], says="LoRA pair 0 (layer layers.0.self_attn.q_proj)")


def test_existing_output_is_kept_without_force_and_replaced_whole_with_it(capsys, tiny_models, ella_release, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    code, err = run(capsys, *ella_args(tiny_models, ella_release["file"]), "-o", out)
    assert code == 2 and "already exists; pass --force" in err
    assert (out / "mine.txt").read_text() == "keep"
    code, err = run(capsys, *ella_args(tiny_models, ella_release["file"]), "-o", out, "--force")
    assert code == 0, err
    assert not (out / "mine.txt").exists() and (out / "adapter" / "config.json").is_file()


def test_failed_forced_conversion_leaves_the_old_output(capsys, tiny_models, ella_release, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    broken = tmp_path / "ella-sd1.5-tsc-t5xl.safetensors"
    broken.write_bytes(b"not a safetensors file")
    code, err = run(capsys, *ella_args(tiny_models, broken), "-o", out, "--force")
    assert code == 2 and (out / "mine.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ella-sd1.5-tsc-t5xl.safetensors", "out"]


def test_crash_while_writing_leaves_nothing(tiny_models, ella_release, tmp_path, monkeypatch):
    from llmdiff.convert import ConvertOptions, convert, text_config

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("llmdiff.convert.ella.write_text_settings", fail)
    with pytest.raises(KeyboardInterrupt):
        convert("ella", ella_release["file"], tmp_path / "out",
                ConvertOptions(llm=str(tiny_models["llama"]), base=str(tiny_models["sd"])))
    assert list(tmp_path.iterdir()) == []
    assert text_config.write_text_settings is not fail


def test_output_that_would_replace_what_it_reads(capsys, tiny_models, lavi_release, tmp_path):
    release = tmp_path / "release"
    shutil.copytree(lavi_release["root"], release)
    code, err = run(capsys, "lavi-bridge", release, "-o", release, "--force", "--llm", tiny_models["llama"],
                    "--base", tiny_models["sd"])
    assert code == 2 and "would replace the release" in err
    assert (release / "llama2_unet" / "lora_vis.pt").is_file()


def test_omnidiffusion_needs_an_sdxl_base(capsys, tiny_models, omni_release, tmp_path):
    assert_refused(capsys, tmp_path / "out", "omnidiffusion", omni_release["root"], "--base", tiny_models["sd"],
                   says="is not an SDXL pipeline")
