import re
from pathlib import Path

from llmdiff.cli.main import main

SOURCE = Path(__file__).resolve().parents[2] / "src" / "llmdiff"


def test_help_lists_the_releases_and_options(capsys):
    try:
        main(["convert", "--help"])
    except SystemExit as exit:
        assert exit.code == 0
    out = capsys.readouterr().out
    for word in ("omnidiffusion", "paradiffusion", "ella", "lavi-bridge", "--llm", "--base", "--dry-run", "--force",
                 "--trust-remote-code", "--variant", "--unet", "--fuse-unet-lora"):
        assert word in out


def test_convert_is_a_subcommand_in_the_main_help(capsys):
    try:
        main(["--help"])
    except SystemExit:
        pass
    assert "convert" in capsys.readouterr().out


def test_dry_run_lists_reads_and_writes_with_counts_and_writes_nothing(capsys, lavi_release, tiny_models, tmp_path):
    out = tmp_path / "model"
    code = main(["convert", "lavi-bridge", str(lavi_release["root"]), "-o", str(out), "--llm", str(tiny_models["llama"]),
                 "--base", str(tiny_models["sd"]), "--dry-run"])
    text = capsys.readouterr().out
    assert code == 0
    assert list(tmp_path.iterdir()) == []
    adapter = sum(t.numel() for t in lavi_release["adapter"].values())
    text_lora = sum(t.numel() for t in lavi_release["text_lora"])
    vis_lora = sum(t.numel() for t in lavi_release["vis_lora"])
    assert f"lora_text.pt  ({text_lora:,} parameters; 12 LoRA layers of rank 4)" in text
    assert f"{vis_lora:,} parameters" in text and f"adapter/ (LaViBridgeConnector)  ({adapter:,} parameters)" in text
    assert "adapter/unet_lora/pytorch_lora_weights.safetensors" in text and "dry run: nothing written" in text


def test_dry_run_still_refuses_bad_input(capsys, tiny_models, tmp_path):
    file = tmp_path / "ella-sd1.5-tsc-t5xl.safetensors"
    file.write_bytes(b"\x00" * 10)
    code = main(["convert", "ella", str(file), "-o", str(tmp_path / "m"), "--base", str(tiny_models["sd"]), "--dry-run"])
    assert code == 2 and "not an intact safetensors" in capsys.readouterr().err


def test_convert_writes_and_says_so(capsys, ella_release, tiny_models, tmp_path):
    code = main(["convert", "ella", str(ella_release["file"]), "-o", str(tmp_path / "m"), "--llm",
                 str(tiny_models["llama"]), "--base", str(tiny_models["sd"])])
    assert code == 0 and f"wrote {tmp_path / 'm'}" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["adapter", "base"]


def test_unknown_variant_is_one_line(capsys, lavi_release, tiny_models, tmp_path):
    code = main(["convert", "lavi-bridge", str(lavi_release["root"]), "-o", str(tmp_path / "m"),
                 "--variant", "t5_transformer"])
    err = capsys.readouterr().err
    assert code == 2 and "PixArt" in err and len(err.strip().splitlines()) == 1


def test_only_the_pickles_module_reads_pickles():
    """torch.load and pickle appear in one module of llmdiff: convert/pickles.py."""
    pattern = re.compile(r"\btorch\.load\b|\bimport pickle\b|\bfrom pickle\b|\bpickle\.loads?\(|\bimport dill\b|\bjoblib\.load\b")
    readers = sorted(str(path.relative_to(SOURCE)) for path in SOURCE.rglob("*.py")
                     if pattern.search(path.read_text(encoding="utf-8")))
    assert readers == ["convert/pickles.py"]


def test_fuse_unet_lora_only_for_lavi_bridge(capsys, ella_release, tmp_path):
    code = main(["convert", "ella", str(ella_release["file"]), "-o", str(tmp_path / "m"), "--fuse-unet-lora"])
    assert code == 2 and "--fuse-unet-lora is for lavi-bridge" in capsys.readouterr().err
