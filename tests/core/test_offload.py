"""CPU offload for consumer memory: diffusers' hooks for the base, the LLM on the accelerator only to encode.

There is no accelerator here, so the offload runs with the CPU as its "accelerator": what can be checked is
that the hooks are installed where they should be, that the LLM is sent back after every encoding, and that
the images are the same as without offload.
"""

import numpy as np
import pytest

from llmdiff import LLMDiffusionPipeline


def load(tiny_models, tiny_adapter_config, family="sd"):
    import torch

    torch.manual_seed(0)
    return LLMDiffusionPipeline.from_pretrained(
        base=tiny_models[family], llm=tiny_models["llama"], adapter_config=tiny_adapter_config
    )


def draw(pipe):
    return pipe(["a red circle", "a blue square above a green star"], negative_prompt="blurry", seed=3,
                num_inference_steps=3, guidance_scale=4.0, height=32, width=32, output_type="np",
                progress=False).images


@pytest.mark.parametrize("family", ["sd", "sdxl"])
def test_offloaded_pipeline_draws_the_same_images(tiny_models, tiny_adapter_config, family):
    reference = load(tiny_models, tiny_adapter_config, family)
    expected = draw(reference)
    pipe = load(tiny_models, tiny_adapter_config, family)
    pipe.enable_model_cpu_offload(device="cpu")
    offloads = []
    hook = pipe.text_encoder._offload
    original = hook.offload
    hook.offload = lambda: (offloads.append(1), original())[1]

    images = draw(pipe)
    np.testing.assert_allclose(np.stack(images), np.stack(expected), atol=1e-5)
    # diffusers' hooks on the base's models, accelerate's on the LLM
    assert hasattr(pipe.base.unet, "_hf_hook") and hasattr(pipe.base.vae, "_hf_hook")
    assert hasattr(pipe.text_encoder.model, "_hf_hook")
    assert offloads, "the LLM was not sent back after encoding"
    assert pipe.device.type == "cpu" and pipe.text_encoder.device.type == "cpu"
