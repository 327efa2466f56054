import json
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from llmdiff.cli.main import main
from llmdiff.errors import UserError
from llmdiff.merge import merge_models
from llmdiff.testing import make_tiny_base


@pytest.fixture(scope="module")
def two_bases(tmp_path_factory):
    """Two SD-shaped pipelines of one architecture with different weights."""
    root = tmp_path_factory.mktemp("merge")
    return make_tiny_base(root / "a", seed=0), make_tiny_base(root / "b", seed=1)


def weight_files(folder):
    return sorted(path.relative_to(folder) for path in folder.rglob("*.safetensors"))


def fake_model(folder, tensors, config=None):
    folder.mkdir(parents=True)
    save_file(tensors, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(config or {"width": 4}), encoding="utf-8")
    return folder


def test_weighted_average_of_two_pipelines_loads_and_holds_the_average(two_bases, tmp_path):
    from diffusers import UNet2DConditionModel

    a, b = two_bases
    out = merge_models([a, b], tmp_path / "soup", weights=[1, 3])

    unets = [UNet2DConditionModel.from_pretrained(folder / "unet") for folder in (a, b, out)]
    params = [dict(unet.named_parameters()) for unet in unets]
    assert params[0]["conv_in.weight"].ne(params[1]["conv_in.weight"]).any()  # the two really differ
    for name, merged in params[2].items():
        expected = 0.25 * params[0][name] + 0.75 * params[1][name]
        torch.testing.assert_close(merged, expected, rtol=0, atol=1e-6)
    assert weight_files(out) == weight_files(a)
    record = json.loads((out / "merge.json").read_text(encoding="utf-8"))
    assert [source["weight"] for source in record["sources"]] == [0.25, 0.75]
    assert [source["path"] for source in record["sources"]] == [str(a), str(b)]


def test_files_the_same_in_every_model_are_copied_bit_for_bit(two_bases, tmp_path):
    a, _ = two_bases
    twin = tmp_path / "twin"
    shutil.copytree(a, twin)
    out = merge_models([a, twin], tmp_path / "soup", weights=[0.3, 0.7])
    for name in weight_files(a):
        assert (out / name).read_bytes() == (a / name).read_bytes()


def test_half_precision_stays_half_and_integer_buffers_are_kept(tmp_path):
    ids = torch.arange(5)
    a = fake_model(tmp_path / "a", {"w": torch.tensor([1.0, 2.0], dtype=torch.float16), "ids": ids})
    b = fake_model(tmp_path / "b", {"w": torch.tensor([3.0, 6.0], dtype=torch.float16), "ids": ids})
    merged = load_file(merge_models([a, b], tmp_path / "soup") / "model.safetensors")
    assert merged["w"].dtype == torch.float16
    assert merged["w"].tolist() == [2.0, 4.0]
    assert torch.equal(merged["ids"], ids)


@pytest.mark.parametrize(
    "other, config, message",
    [
        ({"w": torch.ones(3)}, None, r"tensor 'w' is \(2,\) torch.float32 in .* but \(3,\)"),
        ({"w": torch.ones(2, dtype=torch.float16)}, None, "torch.float16"),
        ({"v": torch.ones(2)}, None, "tensor '(v|w)' is in one of"),
        ({"w": torch.ones(2)}, {"width": 8}, "config.json differs"),
    ],
)
def test_models_of_another_architecture_are_refused(tmp_path, other, config, message):
    a = fake_model(tmp_path / "a", {"w": torch.zeros(2)})
    b = fake_model(tmp_path / "b", other, config)
    with pytest.raises(UserError, match=message):
        merge_models([a, b], tmp_path / "soup")
    assert not (tmp_path / "soup").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no staging folder left


def test_differing_integer_buffers_and_missing_files_are_refused(tmp_path):
    a = fake_model(tmp_path / "a", {"w": torch.zeros(2), "ids": torch.arange(3)})
    b = fake_model(tmp_path / "b", {"w": torch.ones(2), "ids": torch.arange(1, 4)})
    with pytest.raises(UserError, match="integer tensor 'ids' differs"):
        merge_models([a, b], tmp_path / "soup")
    (b / "config.json").unlink()
    with pytest.raises(UserError, match="has config.json and .* has not"):
        merge_models([a, b], tmp_path / "soup")


def test_version_entries_model_cards_and_sampling_settings_do_not_block_a_merge(tmp_path):
    a = fake_model(tmp_path / "a", {"w": torch.zeros(2)}, {"width": 4, "_diffusers_version": "0.35.0"})
    # saved while the hub was offline, transformers writes how it was loaded into a tokenizer's config
    b = fake_model(tmp_path / "b", {"w": torch.ones(2)}, {"width": 4, "_diffusers_version": "0.36.0",
                                                         "local_files_only": True})
    (a / "README.md").write_text("# model a\n", encoding="utf-8")
    (a / "generation_config.json").write_text('{"guidance_scale": 3.5}', encoding="utf-8")
    out = merge_models([a, b], tmp_path / "soup")
    assert not (out / "README.md").exists()  # a's card describes a, not the average
    assert not (out / "generation_config.json").exists()  # nor was a's guidance measured on the average
    assert load_file(out / "model.safetensors")["w"].tolist() == [0.5, 0.5]


@pytest.mark.parametrize(
    "weights, message",
    [([1.0], "1 weights for 2 models"), ([1.0, -1.0], "not negative"), ([0.0, 0.0], "above 0"),
     ([float("nan"), 1.0], "finite")],
)
def test_bad_weights_are_refused(tmp_path, weights, message):
    a = fake_model(tmp_path / "a", {"w": torch.zeros(2)})
    b = fake_model(tmp_path / "b", {"w": torch.ones(2)})
    with pytest.raises(UserError, match=message):
        merge_models([a, b], tmp_path / "soup", weights=weights)


def test_an_existing_output_is_kept_unless_overwritten_and_survives_a_crash(tmp_path, monkeypatch):
    a = fake_model(tmp_path / "a", {"w": torch.zeros(2)})
    b = fake_model(tmp_path / "b", {"w": torch.ones(2)})
    out = merge_models([a, b], tmp_path / "soup")
    before = (out / "model.safetensors").read_bytes()
    with pytest.raises(UserError, match="exists"):
        merge_models([a, b], out, weights=[1, 3])
    with pytest.raises(UserError, match="one of the models"):
        merge_models([a, out], out, overwrite=True)

    import safetensors.torch

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        merge_models([a, b], out, weights=[1, 3], overwrite=True)
    assert (out / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "soup"]  # no staging folder left

    monkeypatch.undo()
    merge_models([a, b], out, weights=[1, 3], overwrite=True)
    assert load_file(out / "model.safetensors")["w"].tolist() == [0.75, 0.75]
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~mask  # not mkdtemp's private folder
    assert (out / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~mask


def test_cli_merges_and_gives_one_line_errors(tmp_path, capsys):
    a = fake_model(tmp_path / "a", {"w": torch.zeros(2)})
    b = fake_model(tmp_path / "b", {"w": torch.ones(2)})
    assert main(["merge", str(a), str(b), "-o", str(tmp_path / "soup"), "--weights", "3,1"]) == 0
    assert load_file(tmp_path / "soup" / "model.safetensors")["w"].tolist() == [0.25, 0.25]
    capsys.readouterr()

    for argv in (
        ["merge", str(a), str(b), "-o", str(tmp_path / "soup")],
        ["merge", str(a), "-o", str(tmp_path / "one")],
        ["merge", str(a), str(tmp_path / "missing"), "-o", str(tmp_path / "x")],
        ["merge", str(a), str(b), "-o", str(tmp_path / "y"), "--weights", "1,two"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("llmdiff merge: error: ") and err.count("\n") == 1, err
