"""A converted release is a model folder: `llmdiff generate --model OUT` draws with it, each family through the
stock diffusers pipeline (the pipeline asks the connector, never the family's name)."""

import pytest
from PIL import Image

from llmdiff.cli.main import main
from llmdiff.convert import ConvertOptions, convert
from llmdiff.images import read_metadata


def release_and_options(name, tiny_models, releases):
    llama = str(tiny_models["llama"])
    return {
        "omnidiffusion": (releases["omni"]["root"], ConvertOptions(llm=llama, base=str(tiny_models["sdxl"]))),
        "paradiffusion": (releases["para"]["root"], ConvertOptions()),
        "ella": (releases["ella"]["file"], ConvertOptions(llm=llama, base=str(tiny_models["sd"]))),
        "lavi-bridge": (releases["lavi"]["root"], ConvertOptions(llm=llama, base=str(tiny_models["sd"]))),
    }[name]


@pytest.mark.parametrize("name", ["omnidiffusion", "paradiffusion", "ella", "lavi-bridge"])
def test_generate_draws_with_a_converted_release(name, tiny_models, omni_release, para_release, ella_release,
                                                  lavi_release, tmp_path, capsys):
    releases = {"omni": omni_release, "para": para_release, "ella": ella_release, "lavi": lavi_release}
    source, options = release_and_options(name, tiny_models, releases)
    out = tmp_path / "model"
    convert(name, source, out, options)
    png = tmp_path / "a.png"
    status = main(["generate", "a red circle above a blue square", "--model", str(out), "-o", str(png),
                   "--steps", "2", "--width", "32", "--height", "32", "--seed", "3"])
    assert status == 0, capsys.readouterr().err
    with Image.open(png) as image:
        assert image.size == (32, 32)
        assert len(set(image.convert("RGB").getdata())) > 1  # a picture, not a blank
    assert read_metadata(png)["seed"] in (3, "3")


def test_a_lavi_bridge_unet_lora_is_applied_when_the_model_folder_loads(lavi_release, tiny_models, tmp_path):
    """The folder's adapter/unet_lora/ is loaded and fused: the same images as a conversion that fused the LoRA
    into base/unet itself (--fuse-unet-lora), and not those of the base UNet alone."""
    import shutil

    import numpy as np

    from llmdiff import LLMDiffusionPipeline

    options = dict(llm=str(tiny_models["llama"]), base=str(tiny_models["sd"]))
    convert("lavi-bridge", lavi_release["root"], tmp_path / "kept", ConvertOptions(**options))
    convert("lavi-bridge", lavi_release["root"], tmp_path / "fused", ConvertOptions(**options, fuse_unet_lora=True))
    assert (tmp_path / "kept" / "adapter" / "unet_lora").is_dir()
    assert not (tmp_path / "fused" / "adapter" / "unet_lora").exists()
    shutil.copytree(tmp_path / "kept", tmp_path / "without")
    shutil.rmtree(tmp_path / "without" / "adapter" / "unet_lora")

    def draw(folder):
        pipe = LLMDiffusionPipeline.from_pretrained(model=folder)
        image = pipe("a red circle", seed=1, num_inference_steps=2, height=32, width=32, output_type="np",
                     progress=False).images[0]
        return np.asarray(image)

    kept, fused, without = draw(tmp_path / "kept"), draw(tmp_path / "fused"), draw(tmp_path / "without")
    assert np.abs(kept - fused).max() < 1e-4
    assert np.abs(kept - without).max() > 1e-3
