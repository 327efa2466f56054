"""The shapes base model's template: a stock diffusers pipeline whose noise schedule ends at pure noise."""

import torch
from diffusers import StableDiffusionPipeline

from llmdiff.training.shapes_model import PRESETS, build_template


def test_cpu_template_samples_from_pure_noise_with_v_prediction(tmp_path):
    build_template(tmp_path / "template", PRESETS["cpu"])
    pipe = StableDiffusionPipeline.from_pretrained(tmp_path / "template", safety_checker=None)
    scheduler = pipe.scheduler
    assert scheduler.config.prediction_type == "v_prediction"
    # Zero terminal SNR: at the last training timestep nothing of the image is left (diffusers keeps 2^-24
    # there so that the solver never divides by zero).
    assert float(scheduler.alphas_cumprod[-1]) < 1e-6
    assert float(scheduler.alphas_cumprod[0]) > 0.99
    scheduler.set_timesteps(20)
    assert int(scheduler.timesteps[0]) == 999  # sampling starts where training's pure noise is
    image = pipe("a red circle", num_inference_steps=2, height=32, width=32,
                 generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (32, 32)
