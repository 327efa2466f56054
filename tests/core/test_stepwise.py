"""Timestep-aware connectors through stock pipelines: images equal a denoising loop written out here."""

import numpy as np
import pytest
import torch
from diffusers.configuration_utils import register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.utils.torch_utils import randn_tensor
from torch import nn

from llmdiff.connectors import Connector, ConnectorOutput
from llmdiff.connectors.ella import ELLAConnector
from llmdiff.errors import UserError
from llmdiff.pipeline import LLMDiffusionPipeline
from llmdiff.stepwise import Packing, denoisers

SIZE = 32


class TimedConnector(Connector):
    """Learned queries shifted by an embedding of the timestep, reading the prompt through masked attention."""

    family = "timed_test"
    timestep_aware = True
    gives_pooled = True

    @register_to_config
    def __init__(self, llm_dim: int, cond_dim: int, pooled_dim: int | None = None, num_queries: int = 4):
        super().__init__()
        self.time_proj = Timesteps(32, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(32, llm_dim)
        self.queries = nn.Parameter(torch.randn(num_queries, llm_dim))
        self.attn = nn.MultiheadAttention(llm_dim, 4, batch_first=True)
        self.proj = nn.Linear(llm_dim, cond_dim)
        self.pooled = nn.Linear(llm_dim, pooled_dim) if pooled_dim else None

    def forward(self, hidden_states, attention_mask, timestep=None):
        time = self.time_embedding(self.time_proj(timestep.reshape(-1)).to(hidden_states.dtype))
        queries = self.queries[None] + 3 * time[:, None]
        tokens, _ = self.attn(queries, hidden_states, hidden_states, key_padding_mask=~attention_mask.bool())
        tokens = tokens + time[:, None]
        embeds = self.proj(tokens)
        pooled = self.pooled(tokens.mean(1)) if self.pooled is not None else None
        ones = torch.ones(embeds.shape[:2], dtype=attention_mask.dtype, device=embeds.device)
        return ConnectorOutput(prompt_embeds=embeds, attention_mask=ones, pooled_prompt_embeds=pooled)


def timed_pipe(tiny_models, family, connector_class=TimedConnector, append_clip_tokens=False, **options):
    pipe = LLMDiffusionPipeline.from_pretrained(base=tiny_models[family], llm=tiny_models["llama"],
                                                adapter_config={"hidden_dim": 32, "num_heads": 4, "num_layers": 1},
                                                with_clip=append_clip_tokens)
    torch.manual_seed(1)
    connector = connector_class.for_dims(pipe.text_encoder.hidden_size, pipe.info.cond_dim, pipe.info.pooled_dim,
                                         **options)
    return LLMDiffusionPipeline(pipe.base, pipe.text_encoder, connector.eval(), pipe.info,
                                append_clip_tokens=append_clip_tokens)


@pytest.fixture(scope="module")
def sd_timed(tiny_models):
    """A tiny ELLA-family connector (timestep-aware Perceiver) on the tiny SD1.5-shaped base."""
    return timed_pipe(tiny_models, "sd", ELLAConnector, num_layers=1, num_heads=4, num_latents=8, time_channels=32)


def reference_images(pipe, prompts, seeds, per_prompt, steps, guidance, fixed_timestep=None, clip=None):
    """scheduler.set_timesteps; per step: connector(states, t) for the prompts and the empty prompt, UNet,
    guidance, scheduler.step; then the VAE. `fixed_timestep` asks the connector at one timestep throughout;
    `clip` (tokens, negative tokens) are put after the connector's tokens."""
    base, connector, scheduler = pipe.base, pipe.adapter, pipe.scheduler
    encoded = pipe.text_encoder.encode(prompts)
    empty = pipe.text_encoder.encode([""])
    rows = len(prompts) * per_prompt
    states = encoded.hidden_states.repeat_interleave(per_prompt, 0)
    mask = encoded.attention_mask.repeat_interleave(per_prompt, 0)
    scheduler.set_timesteps(steps, device=base.device)
    generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
    latent = SIZE // base.vae_scale_factor
    latents = randn_tensor((rows, 4, latent, latent), generator=generators).to(base.device, base.unet.dtype)
    latents = latents * scheduler.init_noise_sigma
    with torch.no_grad():
        for t in scheduler.timesteps:
            asked = torch.full((rows,), float(t if fixed_timestep is None else fixed_timestep), device=base.device)
            cond = connector(states, mask, timestep=asked)
            uncond = connector(empty.hidden_states.expand(rows, -1, -1), empty.attention_mask.expand(rows, -1),
                               timestep=asked)
            if clip is not None:
                cond.prompt_embeds = torch.cat([cond.prompt_embeds, clip[0].repeat_interleave(per_prompt, 0)], 1)
                uncond.prompt_embeds = torch.cat([uncond.prompt_embeds, clip[1].repeat_interleave(per_prompt, 0)], 1)
            model_input = scheduler.scale_model_input(torch.cat([latents] * 2), t)
            extra = {}
            if pipe.info.pooled_dim:
                time_ids = torch.tensor([[SIZE, SIZE, 0, 0, SIZE, SIZE]], dtype=base.unet.dtype, device=base.device)
                time_ids = time_ids.repeat(2 * rows, 1)
                pooled = torch.cat([uncond.pooled_prompt_embeds, cond.pooled_prompt_embeds])
                extra["added_cond_kwargs"] = {"text_embeds": pooled, "time_ids": time_ids}
            both = torch.cat([uncond.prompt_embeds, cond.prompt_embeds])
            noise = base.unet(model_input, t, encoder_hidden_states=both, **extra).sample
            unguided, guided = noise.chunk(2)
            latents = scheduler.step(unguided + guidance * (guided - unguided), t, latents).prev_sample
        image = base.vae.decode(latents / base.vae.config.scaling_factor).sample
    return (image / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float().cpu().numpy()


@pytest.mark.parametrize("scheduler, per_prompt", [("DDIMScheduler", 2), ("EulerDiscreteScheduler", 1),
                                                   ("DPMSolverMultistepScheduler", 1), ("HeunDiscreteScheduler", 1)])
def test_images_equal_a_loop_asking_the_connector_at_each_step(sd_timed, scheduler, per_prompt):
    import diffusers

    original = sd_timed.scheduler
    sd_timed.scheduler = getattr(diffusers, scheduler).from_config(original.config)
    prompts = ["a red cat", "a blue dog on a long red circle"]
    seeds = list(range(5, 5 + 2 * per_prompt))
    try:
        out = sd_timed(prompts, seed=5, num_images_per_prompt=per_prompt, num_inference_steps=3, guidance_scale=4.0,
                       height=SIZE, width=SIZE, output_type="np", progress=False)
        expected = reference_images(sd_timed, prompts, seeds, per_prompt, 3, 4.0)
        if per_prompt > 1:
            frozen = reference_images(sd_timed, prompts, seeds, per_prompt, 3, 4.0, fixed_timestep=999)
    finally:
        sd_timed.scheduler = original
    images = np.stack(out.images)
    np.testing.assert_allclose(images, expected, atol=2e-5)
    if per_prompt > 1:
        # The comparison can tell: asking the connector at one timestep throughout gives other images.
        assert np.abs(images - frozen).max() > 1e-3
    assert not denoisers(sd_timed.base)[0]._forward_pre_hooks  # the hooks are gone after the call


def test_sdxl_pooled_embedding_is_recomputed_at_each_step(tiny_models):
    pipe = timed_pipe(tiny_models, "sdxl")
    out = pipe(["a red cat"], seed=2, num_inference_steps=3, guidance_scale=3.0, height=SIZE, width=SIZE,
               output_type="np", progress=False)
    np.testing.assert_allclose(np.stack(out.images), reference_images(pipe, ["a red cat"], [2], 1, 3, 3.0), atol=2e-5)


def test_base_clip_tokens_follow_the_connectors_at_each_step(tiny_models):
    pipe = timed_pipe(tiny_models, "sd", ELLAConnector, append_clip_tokens=True, num_layers=1, num_heads=4,
                      num_latents=8, time_channels=32)
    prompts = ["a red cat", "a blue dog"]
    out = pipe(prompts, seed=1, num_inference_steps=2, guidance_scale=3.0, height=SIZE, width=SIZE, output_type="np",
               progress=False)
    with torch.no_grad():
        clip = pipe.base.encode_prompt(prompt=prompts, device="cpu", num_images_per_prompt=1,
                                       do_classifier_free_guidance=True)
    expected = reference_images(pipe, prompts, [1, 2], 1, 2, 3.0, clip=clip)
    np.testing.assert_allclose(np.stack(out.images), expected, atol=2e-5)
    assert np.abs(np.stack(out.images) - reference_images(pipe, prompts, [1, 2], 1, 2, 3.0)).max() > 1e-3


def test_hooks_are_removed_when_the_call_fails(sd_timed):
    def fail(pipeline, step, timestep, tensors):
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError, match="stopped"):
        sd_timed("a red cat", num_inference_steps=2, height=SIZE, width=SIZE, output_type="np", progress=False,
                 callback_on_step_end=fail)
    assert not sd_timed.base.unet._forward_pre_hooks
    # the stock pipeline is untouched: given prompt embeddings of its own width, it runs as ever
    embeds = torch.zeros(1, 4, sd_timed.info.cond_dim)
    sd_timed.base(prompt_embeds=embeds, negative_prompt_embeds=embeds, num_inference_steps=1, height=SIZE,
                  width=SIZE, output_type="np")


def test_encode_prompt_needs_the_timestep(sd_timed):
    with pytest.raises(UserError, match="depends on the denoising timestep"):
        sd_timed.encode_prompt(["a red cat"])
    early, _, _ = sd_timed.encode_prompt(["a red cat"], timestep=999)
    late, _, _ = sd_timed.encode_prompt(["a red cat"], timestep=0)
    assert early.prompt_embeds.shape == (1, 8, 768)
    assert (early.prompt_embeds - late.prompt_embeds).abs().max() > 1e-3


def test_packing_carries_states_mask_and_suffix():
    states, mask = torch.randn(2, 3, 5), torch.tensor([[1, 1, 1], [1, 1, 0]])
    suffix = torch.randn(2, 4, 7)
    packing = Packing(llm_dim=5, llm_tokens=6, suffix_dim=7)
    packed = packing.pack(states, mask, suffix)
    assert packed.shape == (2, 10, 8)
    got_states, got_mask, got_suffix = packing.unpack(packed)
    torch.testing.assert_close(got_states[:, :3], states)
    assert got_mask.tolist() == [[1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0]]
    torch.testing.assert_close(got_suffix, suffix)
    with pytest.raises(UserError, match="width 9"):
        packing.unpack(torch.zeros(1, 10, 9))
