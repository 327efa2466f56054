"""scripts/ema_to_model.py: a checkpoint's EMA weights become a model folder, in the start's layout and dtypes."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from llmdiff.defaults import default_model_dir

START = default_model_dir()
pytestmark = pytest.mark.skipif(START is None, reason="needs the shipped shapes model")


def ema_file(tmp_path, adapter_shift=1.0, lora_scale=2.0, extra=None):
    adapter = load_file(str(START / "adapter" / "diffusion_pytorch_model.safetensors"))
    lora = load_file(str(START / "adapter" / "llm_lora" / "adapter_model.safetensors"))
    ema = {"__updates__": torch.tensor(1140)}
    ema.update({f"adapter.{name}": tensor.float() + adapter_shift for name, tensor in adapter.items()})
    for name, tensor in lora.items():  # the trainer's names: peft's adapter name inside, under `llm.`
        ema["llm." + name.replace(".lora_A.", ".lora_A.default.").replace(".lora_B.", ".lora_B.default.")] = tensor * lora_scale
    ema.update(extra or {})
    path = tmp_path / "ema.safetensors"
    save_file(ema, str(path))
    return path, adapter, lora


def test_the_ema_weights_replace_the_starts(tmp_path, load_script):
    script = load_script("ema_to_model")
    path, adapter, lora = ema_file(tmp_path)
    assert script.main([str(path), str(tmp_path / "model"), "--start", str(START)]) == 0
    written = load_file(str(tmp_path / "model" / "adapter" / "diffusion_pytorch_model.safetensors"))
    assert {name: tensor.dtype for name, tensor in written.items()} == {n: t.dtype for n, t in adapter.items()}
    for name, tensor in adapter.items():
        assert torch.equal(written[name], (tensor.float() + 1.0).to(tensor.dtype)), name
    written_lora = load_file(str(tmp_path / "model" / "adapter" / "llm_lora" / "adapter_model.safetensors"))
    assert all(torch.equal(written_lora[name], tensor * 2.0) for name, tensor in lora.items())
    # everything else is the start's: base, text path, generation settings, world
    for part in ("base/unet/config.json", "adapter/text_encoder_config.json", "adapter/generation_config.json",
                 "world.json"):
        assert (tmp_path / "model" / part).read_bytes() == (START / part).read_bytes()


def test_a_frozen_connector_keeps_the_starts_weights(tmp_path, load_script):
    script = load_script("ema_to_model")
    path, adapter, _ = ema_file(tmp_path)
    ema = {name: tensor for name, tensor in load_file(str(path)).items() if not name.startswith("adapter.")}
    save_file(ema, str(path))
    assert script.main([str(path), str(tmp_path / "model"), "--start", str(START)]) == 0
    written = load_file(str(tmp_path / "model" / "adapter" / "diffusion_pytorch_model.safetensors"))
    assert all(torch.equal(written[name], tensor) for name, tensor in adapter.items())


def test_foreign_weights_and_an_existing_folder_write_nothing(tmp_path, load_script):
    script = load_script("ema_to_model")
    path, _, _ = ema_file(tmp_path, extra={"unet.conv_in.weight": torch.zeros(1)})
    with pytest.raises(SystemExit, match="unet.conv_in.weight"):
        script.main([str(path), str(tmp_path / "model"), "--start", str(START)])
    assert not (tmp_path / "model").exists() and not (tmp_path / "model.partial").exists()
    (tmp_path / "taken").mkdir()
    path, _, _ = ema_file(tmp_path)
    with pytest.raises(SystemExit, match="exists"):
        script.main([str(path), str(tmp_path / "taken"), "--start", str(START)])
    assert not any((tmp_path / "taken").iterdir())


def test_weights_of_another_shape_of_model_write_nothing(tmp_path, load_script):
    script = load_script("ema_to_model")
    path, _, _ = ema_file(tmp_path)
    ema = load_file(str(path))
    ema.pop(next(name for name in ema if name.startswith("llm.")))  # a LoRA of other target modules
    save_file(ema, str(path))
    with pytest.raises(SystemExit, match="1 differ"):
        script.main([str(path), str(tmp_path / "model"), "--start", str(START)])
    assert not (tmp_path / "model").exists() and not (tmp_path / "model.partial").exists()
