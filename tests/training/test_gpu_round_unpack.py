"""scripts/gpu_round_unpack.sh: a variant's tar becomes a model folder stored as the shipped model is."""

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from llmdiff.defaults import default_model_dir

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = default_model_dir()
pytestmark = pytest.mark.skipif(SHIPPED is None or SHIPPED != ROOT / "src/llmdiff/models/shapes",
                                reason="needs the shipped shapes model in this checkout")


def unpack(tar, model):
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(["bash", "scripts/gpu_round_unpack.sh", str(tar), str(model)], cwd=ROOT, env=env,
                          capture_output=True, text=True)


def test_a_variants_fp32_weights_come_back_in_the_shipped_dtypes(tmp_path):
    shipped = load_file(str(SHIPPED / "adapter" / "diffusion_pytorch_model.safetensors"))
    exported = tmp_path / "export" / "adapter"
    exported.mkdir(parents=True)
    for name in ("config.json", "text_encoder_config.json"):
        (exported / name).write_bytes((SHIPPED / "adapter" / name).read_bytes())
    (exported / "text_encoder_config.json").write_text('{"layers": [6, 15]}')
    save_file({name: tensor.float() + 0.5 for name, tensor in shipped.items()},
              str(exported / "diffusion_pytorch_model.safetensors"))
    tar = tmp_path / "v.tar"
    with tarfile.open(tar, "w") as archive:
        archive.add(exported, arcname="adapter")

    result = unpack(tar, tmp_path / "model")
    assert result.returncode == 0, result.stderr
    written = load_file(str(tmp_path / "model" / "adapter" / "diffusion_pytorch_model.safetensors"))
    assert set(written) == set(shipped)
    for name, tensor in shipped.items():
        assert written[name].dtype == tensor.dtype
        assert torch.equal(written[name], (tensor.float() + 0.5).to(tensor.dtype))
    # the variant's text path wins; what it did not export (the LoRA, the base) is the shipped model's
    assert (tmp_path / "model" / "adapter" / "text_encoder_config.json").read_text() == '{"layers": [6, 15]}'
    assert (tmp_path / "model" / "adapter" / "llm_lora" / "adapter_model.safetensors").read_bytes() == \
        (SHIPPED / "adapter" / "llm_lora" / "adapter_model.safetensors").read_bytes()
    assert not (tmp_path / "model.partial").exists()


def test_a_tar_without_an_adapter_is_refused_and_writes_nothing(tmp_path):
    tar = tmp_path / "v.tar"
    (tmp_path / "train.log").write_text("failed\n")
    with tarfile.open(tar, "w") as archive:
        archive.add(tmp_path / "train.log", arcname="train.log")
    result = unpack(tar, tmp_path / "model")
    assert result.returncode == 2 and "holds no adapter/" in result.stderr
    assert not (tmp_path / "model").exists() and not (tmp_path / "model.partial").exists()
