import os
import subprocess
import sys

import pytest
from PIL import Image

from llmdiff.cli.main import main
from llmdiff.images import read_metadata


@pytest.fixture(scope="module")
def base_args(tiny_models, tmp_path_factory):
    from llmdiff.pipeline import LLMDiffusionPipeline

    adapter_dir = tmp_path_factory.mktemp("adapter")
    pipe = LLMDiffusionPipeline.from_pretrained(
        base=tiny_models["sd"], llm=tiny_models["llama"],
        adapter_config={"hidden_dim": 64, "num_heads": 4, "num_layers": 1, "num_queries": 16},
    )
    pipe.save_adapter(adapter_dir, llm=str(tiny_models["llama"]))
    return ["--base", str(tiny_models["sd"]), "--adapter", str(adapter_dir), "--steps", "2",
            "--width", "32", "--height", "32"]


def run(args, capsys):
    status = main(["generate", *args])
    return status, capsys.readouterr().err


def test_writes_png_with_settings(base_args, tmp_path, capsys):
    out = tmp_path / "cat.png"
    status, err = run(["a red cat", "-o", str(out), "--seed", "7", *base_args], capsys)
    assert status == 0, err
    with Image.open(out) as image:
        assert image.size == (32, 32)
        assert image.text["prompt"] == "a red cat"
    meta = read_metadata(out)
    assert meta["seed"] == 7 and meta["steps"] == 2 and meta["guidance_scale"] == 7.5
    assert meta["llm_tokens"] == 3 and meta["llm_tokens_dropped"] == 0
    assert list(tmp_path.iterdir()) == [out]  # no temporary files left


def test_settings_left_out_are_the_models_own(base_args, tmp_path, capsys):
    import shutil

    from llmdiff.pipeline import GenerationDefaults

    args = list(base_args)
    adapter = tmp_path / "adapter"
    shutil.copytree(args[args.index("--adapter") + 1], adapter)
    GenerationDefaults(num_inference_steps=3, guidance_scale=2.5).save(adapter)
    args[args.index("--adapter") + 1] = str(adapter)
    del args[args.index("--steps"):args.index("--steps") + 2]
    status, err = run(["a red cat", "-o", str(tmp_path / "own.png"), *args], capsys)
    assert status == 0, err
    meta = read_metadata(tmp_path / "own.png")
    assert (meta["steps"], meta["guidance_scale"]) == (3, 2.5)
    status, err = run(["a red cat", "-o", str(tmp_path / "given.png"), "--guidance", "6", "--steps", "2", *args], capsys)
    assert status == 0, err
    meta = read_metadata(tmp_path / "given.png")
    assert (meta["steps"], meta["guidance_scale"]) == (2, 6.0)


def test_several_images_and_prompt_file(base_args, tmp_path, capsys):
    prompt = tmp_path / "p.txt"
    prompt.write_text("Ein rotes Quadrat.\nDaneben ein blauer Kreis.\n", encoding="utf-8")
    out = tmp_path / "img.png"
    status, err = run(["--prompt-file", str(prompt), "-o", str(out), "--num-images", "2", *base_args], capsys)
    assert status == 0, err
    assert read_metadata(tmp_path / "img-0.png")["prompt"] == "Ein rotes Quadrat.\nDaneben ein blauer Kreis."
    assert read_metadata(tmp_path / "img-1.png")["seed"] == 1


def test_never_overwrites_without_flag(base_args, tmp_path, capsys):
    out = tmp_path / "x.png"
    out.write_bytes(b"precious")
    status, err = run(["a cat", "-o", str(out), *base_args], capsys)
    assert status == 2 and "already exists" in err
    assert out.read_bytes() == b"precious"
    status, err = run(["a cat", "-o", str(out), "--overwrite", *base_args], capsys)
    assert status == 0, err
    assert read_metadata(out)["prompt"] == "a cat"


def test_empty_prompt_is_unconditional(base_args, tmp_path, capsys):
    status, err = run(["", "-o", str(tmp_path / "u.png"), *base_args], capsys)
    assert status == 0, err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["   "], "only whitespace"),
        (["a\x01b\x00"], "NUL"),
        (["cat", "--steps", "0"], "steps must be a positive integer"),
        (["cat", "--guidance", "nan"], "guidance scale"),
        (["cat", "--guidance", "-2"], "guidance scale"),
        (["cat", "--width", "30"], "multiple of 8"),
        (["cat", "--max-length", "4", "--strict", "--prompt-file-long"], "over the limit"),
        (["cat", "--adapter", "/no/such/adapter"], "does not exist"),
        (["cat", "--llm", "org/not-here"], "HF_HUB_OFFLINE"),
    ],
)
def test_bad_input_exits_2_with_one_line(base_args, tmp_path, capsys, extra, message):
    if "--prompt-file-long" in extra:
        extra = ["one two three four five six seven eight nine ten", "--max-length", "4", "--strict"]
    out = tmp_path / "bad.png"
    args = [*extra[:1], "-o", str(out), *base_args, *extra[1:]]
    status, err = run(args, capsys)
    assert status == 2
    assert message in err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if "error" in line] == [err.strip().splitlines()[-1]]
    assert list(tmp_path.iterdir()) == []


def test_invalid_utf8_prompt_file(base_args, tmp_path, capsys):
    prompt = tmp_path / "p.txt"
    prompt.write_bytes(b"a red \xff\xfe cat")
    status, err = run(["--prompt-file", str(prompt), "-o", str(tmp_path / "o.png"), *base_args], capsys)
    assert status == 2 and "not valid UTF-8 (byte 6, line 1)" in err
    assert not (tmp_path / "o.png").exists()


def test_corrupt_adapter_weights(base_args, tmp_path, capsys):
    import shutil

    adapter = tmp_path / "adapter"
    shutil.copytree(base_args[base_args.index("--adapter") + 1], adapter)
    weights = adapter / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    args = [a if a != base_args[base_args.index("--adapter") + 1] else str(adapter) for a in base_args]
    status, err = run(["cat", "-o", str(tmp_path / "o.png"), *args], capsys)
    assert status == 2 and "could not load adapter" in err
    assert not (tmp_path / "o.png").exists()


def test_base_required_without_a_default_model(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("llmdiff.defaults.default_model_dir", lambda: None)
    status, err = run(["cat", "-o", str(tmp_path / "o.png")], capsys)
    assert status == 2 and "--base is required" in err


def test_real_process_prints_no_traceback(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "llmdiff", "generate", "cat", "-o", str(tmp_path / "o.png"), "--steps", "-1"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == "llmdiff generate: error: steps must be a positive integer, not -1"


def test_clip_tokens_option_appends_the_bases_own(base_args, tmp_path, capsys):
    status, err = run(["a red cat", "-o", str(tmp_path / "clip.png"), "--clip-tokens", *base_args], capsys)
    assert status == 0, err
    assert read_metadata(tmp_path / "clip.png")["clip_tokens"] is True
    status, _ = run(["a red cat", "-o", str(tmp_path / "plain.png"), *base_args], capsys)
    assert status == 0 and "clip_tokens" not in read_metadata(tmp_path / "plain.png")
    with Image.open(tmp_path / "clip.png") as clip, Image.open(tmp_path / "plain.png") as plain:
        assert clip.tobytes() != plain.tobytes()


def test_help_names_the_clip_tokens_option(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--help"])
    assert exit_.value.code == 0 and "--clip-tokens" in capsys.readouterr().out


def test_bad_arguments_are_refused_before_the_model_libraries_load(tmp_path):
    """Each refusal comes from checks that import neither torch, diffusers nor transformers."""
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"x")
    empty_model = tmp_path / "model"
    empty_model.mkdir()
    cases = [
        ["cat", "--steps", "0"],
        ["cat", "--guidance", "nan"],
        ["cat", "--width", "30"],
        ["cat", "--num-images", "0"],
        ["cat", "--max-length", "0"],
        ["a\x01b\x00"],
        ["   "],
        ["--prompt-file", str(tmp_path / "missing.txt")],
        ["cat", "-o", str(taken)],
        ["cat", "-o", str(tmp_path / "no" / "dir.png")],
        ["cat", "-o", str(tmp_path / "x.jpg")],
        ["cat", "--model", str(tmp_path / "missing")],
        ["cat", "--model", str(empty_model)],
        ["cat", "--adapter", str(tmp_path / "missing")],
        ["cat", "--base", str(tmp_path / "missing")],
        ["cat", "--llm", str(tmp_path / "missing.gguf")],
    ]
    script = (
        "import json, sys\n"
        "from llmdiff.cli.main import main\n"
        "codes = [main(['generate', *case]) for case in json.loads(sys.argv[1])]\n"
        "heavy = sorted(name for name in ('torch', 'diffusers', 'transformers') if name in sys.modules)\n"
        "print(json.dumps({'codes': codes, 'heavy': heavy}))\n"
    )
    import json
    from pathlib import Path

    import llmdiff

    # Run from tmp_path (its default outputs land there), with this checkout's llmdiff first on the path.
    source = str(Path(llmdiff.__file__).parents[1])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", script, json.dumps(cases)], capture_output=True, text=True,
                            env=env, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    errors = [line for line in result.stderr.splitlines() if line.startswith("llmdiff generate: error:")]
    assert report["codes"] == [2] * len(cases), result.stderr
    assert len(errors) == len(cases) and "Traceback" not in result.stderr
    assert report["heavy"] == []
    assert taken.read_bytes() == b"x"


def test_default_output_names_never_replace_a_file(tmp_path):
    from llmdiff.cli.generate import default_output_paths

    assert default_output_paths(tmp_path, 7, 1) == [tmp_path / "llmdiff-7.png"]
    (tmp_path / "llmdiff-7.png").write_bytes(b"old")
    (tmp_path / "llmdiff-7-2.png").write_bytes(b"old")
    assert default_output_paths(tmp_path, 7, 3) == [
        tmp_path / "llmdiff-7-3.png", tmp_path / "llmdiff-8.png", tmp_path / "llmdiff-9.png",
    ]


def test_output_is_optional(base_args, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "llmdiff-3.png").write_bytes(b"precious")
    status = main(["generate", "a red cat", "--seed", "3", "--num-images", "2", *base_args])
    out, err = capsys.readouterr()
    assert status == 0, err
    written = [tmp_path / "llmdiff-3-2.png", tmp_path / "llmdiff-4.png"]
    assert out.splitlines() == [str(path) for path in written]
    assert [read_metadata(path)["seed"] for path in written] == [3, 4]
    assert (tmp_path / "llmdiff-3.png").read_bytes() == b"precious"
    assert "loading " in err and "2 images: 2 steps in " in err


def test_help_says_output_is_optional(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    assert "llmdiff-SEED.png" in " ".join(capsys.readouterr().out.split())
