"""Any diffusers SD/SDXL pipeline reads the LLM conditioning: img2img, inpainting, ControlNet, IP-Adapter, LoRA.

Each case compares our call with the same stock pipeline called by hand with the connector's conditioning,
computed here from the LLM states; the call's own keyword arguments (`image=`, `strength=`, ...) go to both.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from llmdiff.errors import UserError
from llmdiff.pipeline import LLMDiffusionPipeline

SIZE = 32
STEPS = 3


@pytest.fixture(scope="module")
def sd(tiny_models):
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline.from_pretrained(tiny_models["sd"], safety_checker=None, requires_safety_checker=False)


@pytest.fixture(scope="module")
def adapter_dir(tiny_models, tiny_adapter_config, tmp_path_factory):
    path = tmp_path_factory.mktemp("adapter")
    LLMDiffusionPipeline.from_pretrained(
        base=tiny_models["sd"], llm=tiny_models["llama"], adapter_config=tiny_adapter_config
    ).save_adapter(path, llm=str(tiny_models["llama"]))
    return path


@pytest.fixture(scope="module")
def encoder(tiny_models):
    from llmdiff.text_encoder import LLMTextEncoder

    return LLMTextEncoder.from_pretrained(tiny_models["llama"])


def picture(seed: int, mode: str = "RGB") -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    return Image.fromarray(pixels).convert(mode)


@torch.no_grad()
def conditioning(pipe: LLMDiffusionPipeline, prompt: str) -> dict:
    """The connector's embeddings for the prompt and the empty prompt, as stock pipelines take them."""
    encoded, empty = pipe.text_encoder.encode([prompt]), pipe.text_encoder.encode([""])
    cond = pipe.adapter(encoded.hidden_states, encoded.attention_mask)
    uncond = pipe.adapter(empty.hidden_states, empty.attention_mask)
    embeds = {"prompt_embeds": cond.prompt_embeds, "negative_prompt_embeds": uncond.prompt_embeds}
    if cond.pooled_prompt_embeds is not None:
        embeds.update(pooled_prompt_embeds=cond.pooled_prompt_embeds,
                      negative_pooled_prompt_embeds=uncond.pooled_prompt_embeds)
    return embeds


def compare(pipe: LLMDiffusionPipeline, prompt="a red cat", seed=4, **kwargs) -> np.ndarray:
    """Our images, checked equal to the stock pipeline's with the connector's conditioning given by hand."""
    ours = pipe(prompt, seed=seed, num_inference_steps=STEPS, output_type="np", progress=False, **kwargs).images
    generator = [torch.Generator("cpu").manual_seed(seed)]
    by_hand = pipe.base(**conditioning(pipe, prompt), generator=generator, num_inference_steps=STEPS,
                        guidance_scale=pipe.defaults.guidance_scale, output_type="np", **kwargs).images
    np.testing.assert_allclose(np.stack(ours), by_hand, atol=1e-5)
    return np.stack(ours)


def test_img2img_takes_image_and_strength(sd, adapter_dir, encoder):
    from diffusers import StableDiffusionImg2ImgPipeline

    pipe = LLMDiffusionPipeline.from_pipe(StableDiffusionImg2ImgPipeline.from_pipe(sd), adapter=adapter_dir,
                                          text_encoder=encoder)
    strong = compare(pipe, image=picture(0), strength=0.9)
    weak = compare(pipe, image=picture(0), strength=0.4)
    assert np.abs(strong - weak).max() > 1e-3
    steps = []
    pipe("a red cat", image=picture(0), strength=0.5, num_inference_steps=4, progress=False,
         callback_on_step_end=lambda base, i, t, tensors: steps.append(i) or tensors)
    assert len(steps) == 2  # strength 0.5 of 4 steps: the pipeline's own schedule


def test_inpainting_takes_image_and_mask(sd, adapter_dir, encoder):
    from diffusers import StableDiffusionInpaintPipeline, UNet2DConditionModel

    from llmdiff.testing import tiny_unet_config

    torch.manual_seed(0)
    unet = UNet2DConditionModel(**{**tiny_unet_config("sd"), "in_channels": 9})  # latents + mask + masked image
    inpaint = StableDiffusionInpaintPipeline(vae=sd.vae, text_encoder=sd.text_encoder, tokenizer=sd.tokenizer,
                                             unet=unet, scheduler=sd.scheduler, safety_checker=None,
                                             feature_extractor=None, requires_safety_checker=False)
    pipe = LLMDiffusionPipeline.from_pipe(inpaint, adapter=adapter_dir, text_encoder=encoder)
    mask = Image.new("L", (SIZE, SIZE), 0)
    mask.paste(255, (8, 8, 24, 24))
    compare(pipe, image=picture(1), mask_image=mask, strength=1.0)


def randomised_controlnet(unet):
    from diffusers import ControlNetModel

    torch.manual_seed(2)
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32))
    with torch.no_grad():
        for parameter in controlnet.parameters():
            if not parameter.any():  # the zero convolutions: a trained ControlNet's are not zero
                parameter.normal_(std=0.3)
    return controlnet


def test_controlnet_reads_the_connector_too(sd, adapter_dir, encoder):
    from diffusers import StableDiffusionControlNetPipeline

    controlled = StableDiffusionControlNetPipeline(
        vae=sd.vae, text_encoder=sd.text_encoder, tokenizer=sd.tokenizer, unet=sd.unet,
        controlnet=randomised_controlnet(sd.unet), scheduler=sd.scheduler, safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )
    pipe = LLMDiffusionPipeline.from_pipe(controlled, adapter=adapter_dir, text_encoder=encoder)
    one = compare(pipe, image=picture(3))
    other = compare(pipe, image=picture(4))
    assert np.abs(one - other).max() > 1e-3  # the control image steers the result


def test_timestep_aware_connector_reaches_the_controlnet_at_its_step(sd, encoder):
    """Every ControlNet and UNet call reads the connector's output at that call's own timestep."""
    from diffusers import StableDiffusionControlNetPipeline, StableDiffusionImg2ImgPipeline

    from llmdiff.connectors.ella import ELLAConnector

    controlnet = randomised_controlnet(sd.unet)
    controlled = StableDiffusionControlNetPipeline(
        vae=sd.vae, text_encoder=None, tokenizer=None, unet=sd.unet, controlnet=controlnet, scheduler=sd.scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    torch.manual_seed(3)
    ella = ELLAConnector.for_dims(encoder.hidden_size, 768, num_layers=1, num_heads=4, num_latents=8,
                                  time_channels=32).eval()
    pipe = LLMDiffusionPipeline(controlled, encoder, ella, LLMDiffusionPipeline.from_pipe(
        controlled, text_encoder=encoder).info)
    seen = {"unet": [], "controlnet": []}

    def record(name):
        def hook(module, args, kwargs, output):
            seen[name].append((kwargs["timestep"], kwargs["encoder_hidden_states"]))
        return hook

    handles = [sd.unet.register_forward_hook(record("unet"), with_kwargs=True),
               controlnet.register_forward_hook(record("controlnet"), with_kwargs=True)]
    try:
        pipe(["a red cat", "a blue dog"], image=picture(5), seed=0, num_inference_steps=STEPS, output_type="np",
             progress=False)
    finally:
        for handle in handles:
            handle.remove()
    encoded = encoder.encode(["a red cat", "a blue dog"])
    empty = encoder.encode([""])
    assert [float(t) for t, _ in seen["controlnet"]] == [float(t) for t in controlled.scheduler.timesteps]
    for name in ("unet", "controlnet"):
        assert len(seen[name]) == STEPS
        for timestep, embeds in seen[name]:
            with torch.no_grad():
                cond = ella(encoded.hidden_states, encoded.attention_mask, timestep=timestep).prompt_embeds
                uncond = ella(empty.hidden_states, empty.attention_mask, timestep=timestep).prompt_embeds
            torch.testing.assert_close(embeds, torch.cat([uncond.expand(2, -1, -1), cond]), atol=1e-5, rtol=1e-5)
    # img2img starts late in the schedule: the connector is asked at those later timesteps only
    img2img = StableDiffusionImg2ImgPipeline(vae=sd.vae, text_encoder=None, tokenizer=None, unet=sd.unet,
                                             scheduler=sd.scheduler, safety_checker=None, feature_extractor=None,
                                             requires_safety_checker=False)
    asked = []
    original = ella.forward
    ella.forward = lambda *args, timestep=None: asked.append(float(timestep[0])) or original(*args, timestep=timestep)
    try:
        LLMDiffusionPipeline(img2img, encoder, ella, pipe.info)(
            "a red cat", image=picture(6), strength=0.5, num_inference_steps=4, guidance_scale=1.0, progress=False)
    finally:
        del ella.forward
    assert asked == [float(t) for t in img2img.scheduler.timesteps[2:]]


def tiny_ip_adapter(unet, folder, image_dim=32):
    """An IP-Adapter weights file in the published layout (image_proj.*, ip_adapter.{1,3,..}.to_k_ip/to_v_ip)."""
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(7)
    width = unet.config.cross_attention_dim
    weights = {
        "image_proj.proj.weight": torch.randn(4 * width, image_dim, generator=generator) * 0.05,
        "image_proj.proj.bias": torch.zeros(4 * width),
        "image_proj.norm.weight": torch.ones(width),
        "image_proj.norm.bias": torch.zeros(width),
    }
    key_id = 1
    for name, processor in unet.attn_processors.items():
        if name.endswith("attn1.processor"):
            continue
        attention = unet.get_submodule(name.rsplit(".processor", 1)[0])
        for part in ("to_k_ip", "to_v_ip"):
            weights[f"ip_adapter.{key_id}.{part}.weight"] = torch.randn(
                attention.to_k.out_features, width, generator=generator) * 0.05
        key_id += 2
    folder.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(folder / "ip-adapter.safetensors"))
    return folder


def test_ip_adapter_and_lora_loaded_pipelines(tiny_models, adapter_dir, encoder, tmp_path):
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    base = StableDiffusionPipeline.from_pretrained(tiny_models["sd"], safety_checker=None,
                                                   requires_safety_checker=False)
    pipe = LLMDiffusionPipeline.from_pipe(base, adapter=adapter_dir, text_encoder=encoder)
    plain = compare(pipe)

    # LoRA: a tiny peft LoRA on the UNet, saved as diffusers saves one and loaded as users load one
    torch.manual_seed(8)
    lora_unet = UNet2DConditionModel.from_pretrained(tiny_models["sd"], subfolder="unet")
    lora_unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                     target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    StableDiffusionPipeline.save_lora_weights(tmp_path / "lora", unet_lora_layers=get_peft_model_state_dict(lora_unet),
                                              safe_serialization=True)
    base.load_lora_weights(tmp_path / "lora")
    with_lora = compare(pipe)
    assert np.abs(with_lora - plain).max() > 1e-3

    # IP-Adapter: image embeddings given directly (no image encoder needed), negative and positive stacked
    base.load_ip_adapter(str(tiny_ip_adapter(base.unet, tmp_path / "ip")), subfolder="",
                         weight_name="ip-adapter.safetensors", image_encoder_folder=None)
    image_embeds = [torch.randn(2, 1, 32, generator=torch.Generator().manual_seed(9))]
    with_image = compare(pipe, ip_adapter_image_embeds=image_embeds)
    assert np.abs(with_image - with_lora).max() > 1e-3


@pytest.fixture(scope="module")
def sdxl(tiny_models):
    from diffusers import StableDiffusionXLPipeline

    return StableDiffusionXLPipeline.from_pretrained(tiny_models["sdxl"])


def test_sdxl_and_sdxl_img2img(sdxl, encoder, tiny_adapter_config):
    from diffusers import StableDiffusionXLImg2ImgPipeline

    pipe = LLMDiffusionPipeline.from_pipe(sdxl, text_encoder=encoder, adapter_config=tiny_adapter_config)
    assert pipe.info.pooled_dim == 1280
    compare(pipe, height=SIZE, width=SIZE)
    img2img = LLMDiffusionPipeline.from_pipe(StableDiffusionXLImg2ImgPipeline.from_pipe(sdxl), text_encoder=encoder,
                                             adapter_config=tiny_adapter_config)
    compare(img2img, image=picture(10), strength=0.7)


@torch.no_grad()
def test_base_clip_tokens_after_the_connectors(sd, sdxl, adapter_dir, encoder, tiny_adapter_config):
    for base, options in ((sd, {"adapter": adapter_dir}), (sdxl, {"adapter_config": tiny_adapter_config})):
        pipe = LLMDiffusionPipeline.from_pipe(base, text_encoder=encoder, append_clip_tokens=True, **options)
        embeds = conditioning(pipe, "a red cat")
        clip = base.encode_prompt(prompt="a red cat", device="cpu", num_images_per_prompt=1,
                                  do_classifier_free_guidance=True)
        assert clip[0].shape == (1, 77, pipe.info.cond_dim)
        embeds["prompt_embeds"] = torch.cat([embeds["prompt_embeds"], clip[0]], 1)
        embeds["negative_prompt_embeds"] = torch.cat([embeds["negative_prompt_embeds"], clip[1]], 1)
        size = {"height": SIZE, "width": SIZE}
        ours = pipe("a red cat", seed=1, num_inference_steps=STEPS, output_type="np", progress=False, **size).images
        by_hand = base(**embeds, generator=[torch.Generator().manual_seed(1)], num_inference_steps=STEPS,
                       guidance_scale=pipe.defaults.guidance_scale, output_type="np", **size).images
        np.testing.assert_allclose(np.stack(ours), by_hand, atol=1e-5)
        without = LLMDiffusionPipeline(base, encoder, pipe.adapter, pipe.info)
        alone = without("a red cat", seed=1, num_inference_steps=STEPS, output_type="np", progress=False, **size)
        assert np.abs(np.stack(alone.images) - by_hand).max() > 1e-4  # off by default, and it matters


def test_base_clip_tokens_need_clip_and_equal_widths(sd, tiny_models, encoder):
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    from llmdiff.testing import tiny_unet_config

    no_clip = StableDiffusionPipeline.from_pretrained(tiny_models["sd"], text_encoder=None, tokenizer=None,
                                                      safety_checker=None, requires_safety_checker=False)
    pipe = LLMDiffusionPipeline.from_pipe(no_clip, text_encoder=encoder, append_clip_tokens=True,
                                          adapter_config={"hidden_dim": 32, "num_heads": 4, "num_layers": 1})
    with pytest.raises(UserError, match="needs its CLIP text encoder loaded"):
        pipe("a red cat", num_inference_steps=1, progress=False)
    # A UNet that projects the text itself (Kolors' text_proj): the connector gives the projection's input width
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**tiny_unet_config("sd"), encoder_hid_dim_type="text_proj",
                                encoder_hid_dim=encoder.hidden_size)
    projecting = StableDiffusionPipeline(vae=sd.vae, text_encoder=sd.text_encoder, tokenizer=sd.tokenizer, unet=unet,
                                         scheduler=sd.scheduler, safety_checker=None, feature_extractor=None,
                                         requires_safety_checker=False)
    pipe = LLMDiffusionPipeline.from_pipe(projecting, text_encoder=encoder, append_clip_tokens=True,
                                          adapter_family="identity")
    assert pipe.info.cond_dim == encoder.hidden_size == 64
    with pytest.raises(UserError, match="CLIP tokens have width 768, but the connector's have width 64"):
        pipe("a red cat", num_inference_steps=1, progress=False)


def test_identity_family_feeds_llm_states_to_a_projecting_unet(sd, encoder):
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    from llmdiff.testing import tiny_unet_config

    torch.manual_seed(0)
    unet = UNet2DConditionModel(**tiny_unet_config("sd"), encoder_hid_dim_type="text_proj",
                                encoder_hid_dim=encoder.hidden_size)
    projecting = StableDiffusionPipeline(vae=sd.vae, text_encoder=None, tokenizer=None, unet=unet,
                                         scheduler=sd.scheduler, safety_checker=None, feature_extractor=None,
                                         requires_safety_checker=False)
    pipe = LLMDiffusionPipeline.from_pipe(projecting, text_encoder=encoder, adapter_family="identity")
    prompts = ["a red cat", "a blue dog on a red circle"]
    out = pipe(prompts, seed=2, num_inference_steps=STEPS, output_type="np", progress=False, guidance_scale=1.0)
    for index, prompt in enumerate(prompts):  # padding would reach the UNet: one prompt at a time
        states = encoder.encode([prompt]).hidden_states
        by_hand = projecting(prompt_embeds=states, generator=[torch.Generator().manual_seed(2 + index)],
                             num_inference_steps=STEPS, output_type="np", guidance_scale=1.0).images
        np.testing.assert_allclose(out.images[index], by_hand[0], atol=1e-5)


def test_from_pipe_refuses_what_it_cannot_wrap(encoder):
    class NotDiffusion:
        pass

    with pytest.raises(UserError, match="NotDiffusion has no UNet"):
        LLMDiffusionPipeline.from_pipe(NotDiffusion(), text_encoder=encoder)
