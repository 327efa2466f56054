import numpy as np
import pytest
import torch

from llmdiff.errors import UserError
from llmdiff.pipeline import LLMDiffusionPipeline

FAST = {"num_inference_steps": 2, "height": 32, "width": 32, "output_type": "np", "progress": False}


@pytest.fixture(scope="module")
def sd_pipe(tiny_models, tiny_adapter_config):
    torch.manual_seed(0)
    return LLMDiffusionPipeline.from_pretrained(
        base=tiny_models["sd"], llm=tiny_models["llama"], adapter_config=tiny_adapter_config
    )


def test_clip_encoders_are_not_loaded(sd_pipe):
    assert sd_pipe.base.text_encoder is None
    assert sd_pipe.base.tokenizer is None
    assert sd_pipe.info.family == "sd" and sd_pipe.info.cond_dim == 768


@pytest.mark.parametrize("family", ["sd", "sdxl"])
def test_end_to_end_generation(tiny_models, tiny_adapter_config, family):
    pipe = LLMDiffusionPipeline.from_pretrained(
        base=tiny_models[family], llm=tiny_models["qwen2"], adapter_config=tiny_adapter_config
    )
    out = pipe(["a paragraph about a red cat " * 30, "一只红色的猫"], negative_prompt="blurry", seed=3, **FAST)
    assert len(out.images) == 2
    assert out.images[0].shape == (32, 32, 3)
    assert np.isfinite(out.images).all()
    assert out.seeds == [3, 4]
    assert out.token_counts[0] > 150
    if family == "sdxl":
        assert pipe.info.pooled_dim == 1280 and pipe.info.cond_dim == 2048
        assert pipe.base.text_encoder_2 is None


def test_seeds_make_each_image_reproducible_alone(sd_pipe):
    batch = sd_pipe(["a red cat", "a blue dog"], seed=10, num_images_per_prompt=2, **FAST)
    assert batch.seeds == [10, 11, 12, 13]
    assert batch.prompts == ["a red cat", "a red cat", "a blue dog", "a blue dog"]
    alone = sd_pipe("a blue dog", seed=13, **FAST)
    np.testing.assert_allclose(alone.images[0], batch.images[3], atol=1e-5)
    other = sd_pipe("a blue dog", seed=14, **FAST)
    assert np.abs(other.images[0] - batch.images[3]).max() > 1e-3


def test_empty_prompt_embedding_is_computed_once(sd_pipe, monkeypatch):
    sd_pipe.clear_cache()
    calls = []
    original = sd_pipe.text_encoder.encode
    monkeypatch.setattr(sd_pipe.text_encoder, "encode", lambda prompts: calls.append(list(prompts)) or original(prompts))
    sd_pipe("a red cat", **FAST)
    sd_pipe("a blue dog", **FAST)
    assert calls == [["a red cat"], [""], ["a blue dog"]]


def test_any_diffusers_scheduler_works(sd_pipe):
    from diffusers import DPMSolverMultistepScheduler, EulerDiscreteScheduler

    original = sd_pipe.scheduler
    try:
        for cls in (EulerDiscreteScheduler, DPMSolverMultistepScheduler):
            sd_pipe.scheduler = cls.from_config(original.config)
            out = sd_pipe("a red cat", seed=0, **FAST)
            assert np.isfinite(out.images).all()
    finally:
        sd_pipe.scheduler = original


def test_guidance_one_skips_the_negative(sd_pipe):
    out = sd_pipe("a red cat", guidance_scale=1.0, seed=0, **FAST)
    assert np.isfinite(out.images).all()


def test_clip_baseline_loads_on_request(tiny_models, tiny_adapter_config):
    pipe = LLMDiffusionPipeline.from_pretrained(
        base=tiny_models["sd"], llm=tiny_models["bert"], adapter_config=tiny_adapter_config, with_clip=True
    )
    assert pipe.base.text_encoder is not None
    baseline = pipe.base("a red cat", num_inference_steps=2, height=32, width=32, output_type="np")
    assert baseline.images.shape == (1, 32, 32, 3)


def test_adapter_saved_with_its_encoder_settings(sd_pipe, tiny_models, tmp_path):
    sd_pipe.save_adapter(tmp_path / "adapter", llm=str(tiny_models["llama"]))
    loaded = LLMDiffusionPipeline.from_pretrained(base=tiny_models["sd"], adapter=tmp_path / "adapter")
    assert loaded.text_encoder.config == sd_pipe.text_encoder.config
    a = sd_pipe("a red cat", seed=1, **FAST).images[0]
    b = loaded("a red cat", seed=1, **FAST).images[0]
    np.testing.assert_allclose(a, b, atol=1e-5)


def steps_and_negatives(pipe, **kwargs):
    """Denoising steps a call ran, and whether it encoded the empty prompt for guidance."""
    steps = []
    pipe.clear_cache()
    pipe("a red cat", seed=0, height=32, width=32, output_type="np", progress=False,
         callback_on_step_end=lambda base, i, t, tensors: steps.append(i) or tensors, **kwargs)
    return len(steps), pipe._empty_embedding is not None


def test_adapter_folder_gives_the_steps_and_guidance_a_call_leaves_out(sd_pipe, tiny_models, tmp_path):
    from llmdiff.pipeline import GENERATION_CONFIG_NAME, GenerationDefaults

    assert steps_and_negatives(sd_pipe, num_inference_steps=2) == (2, True)  # the library's 7.5 guides
    sd_pipe.save_adapter(tmp_path / "adapter", llm=str(tiny_models["llama"]))
    GenerationDefaults(num_inference_steps=3, guidance_scale=1.0).save(tmp_path / "adapter")
    loaded = LLMDiffusionPipeline.from_pretrained(base=tiny_models["sd"], adapter=tmp_path / "adapter")
    assert loaded.defaults == GenerationDefaults(3, 1.0)
    assert steps_and_negatives(loaded) == (3, False)  # guidance 1: no negative branch
    assert steps_and_negatives(loaded, num_inference_steps=2, guidance_scale=4.0) == (2, True)
    (tmp_path / "adapter" / GENERATION_CONFIG_NAME).write_text('{"guidance": 3}')
    with pytest.raises(UserError, match="cannot read .*generation_config.json.*guidance"):
        LLMDiffusionPipeline.from_pretrained(base=tiny_models["sd"], adapter=tmp_path / "adapter")
    (tmp_path / "adapter" / GENERATION_CONFIG_NAME).write_text('{"num_inference_steps": null}')
    with pytest.raises(UserError, match="generation_config.json: generation defaults name a number of steps"):
        LLMDiffusionPipeline.from_pretrained(base=tiny_models["sd"], adapter=tmp_path / "adapter")
    (tmp_path / "adapter" / GENERATION_CONFIG_NAME).write_text('{"guidance_scale": -2}')
    with pytest.raises(UserError, match="generation_config.json: guidance scale must be a finite number"):
        LLMDiffusionPipeline.from_pretrained(base=tiny_models["sd"], adapter=tmp_path / "adapter")


def test_mismatched_adapter_names_both_widths(tiny_models, tmp_path, tiny_adapter_config):
    from llmdiff.adapter import LLMAdapter

    LLMAdapter(llm_dim=64, cond_dim=2048, pooled_dim=1280, **tiny_adapter_config).save_pretrained(tmp_path / "xl")
    with pytest.raises(UserError, match="outputs width 2048.*expects width 768"):
        LLMDiffusionPipeline.from_pretrained(base=tiny_models["sd"], llm=tiny_models["llama"], adapter=tmp_path / "xl")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_inference_steps": 0}, "steps must be a positive integer"),
        ({"guidance_scale": float("nan")}, "guidance scale"),
        ({"guidance_scale": -1.0}, "guidance scale"),
        ({"height": 30}, "multiple of 8"),
        ({"num_images_per_prompt": 0}, "images per prompt"),
        ({"prompt": "  "}, "only whitespace"),
        ({"prompt": []}, "no prompt"),
        ({"prompt": ["a", "b"], "negative_prompt": ["x", "y", "z"]}, "3 negative prompts for 2"),
    ],
)
def test_bad_arguments(sd_pipe, kwargs, message):
    args = {"prompt": "a red cat", **FAST, **kwargs}
    with pytest.raises(UserError, match=message):
        sd_pipe(**args)


def test_base_is_required_without_a_default_model_and_must_exist(tiny_models, monkeypatch):
    monkeypatch.setattr("llmdiff.defaults.default_model_dir", lambda: None)
    with pytest.raises(UserError, match="no base model given"):
        LLMDiffusionPipeline.from_pretrained(base=None, llm=tiny_models["llama"])
    with pytest.raises(UserError, match="HF_HUB_OFFLINE"):
        LLMDiffusionPipeline.from_pretrained(base="org/no-such-model", llm=tiny_models["llama"])
