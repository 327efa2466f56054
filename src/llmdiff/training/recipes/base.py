"""Stage `base`: train the "existing" text-to-image model itself, in stock diffusers layout.

Two modes, chosen by `train.components`:
- `[vae]`: the autoencoder alone on images (`VAELoss`); at export its `scaling_factor` is set to
  1 / std of the latents it produces on training images, as latent diffusion prescribes.
- `[unet]` or `[unet, text_encoder]`: the CLIP-conditioned UNet (and optionally CLIP itself) on short
  English captions through the standard 77-token encoding, with `DiffusionLoss` and caption dropout.

`model.base` is the template pipeline (architecture, scheduler, tokenizer); `model.reinit` starts named
components from random weights (with `model.unet_config` / `model.vae_config` overrides). The result is
`<out>/base`, loadable by `StableDiffusionPipeline.from_pretrained`.
"""

from __future__ import annotations

import torch
from torch import nn

from llmdiff.errors import UserError
from llmdiff.training.cache import LatentFeatures, latent_cache_enabled
from llmdiff.training.losses import DiffusionLoss, VAELoss
from llmdiff.training.models import denoiser, export_base, latent_cache, load_base
from llmdiff.training.recipe import Recipe, trainable_parameters
from llmdiff.training.teacher import CLIPTeacher

SCALE_BATCHES = 4
"""Batches of training images whose latents set the trained VAE's scaling factor."""


class VAEWithLoss(nn.Module):
    """The VAE behind one `forward`, so distributed wrappers see every parameter used."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, images: torch.Tensor, generator: torch.Generator):
        posterior = self.vae.encode(images).latent_dist
        latents = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=generator).to(images)
        return self.vae.decode(latents).sample, posterior


def reinitialised(module, overrides: dict):
    """A fresh, randomly initialised module of the same class and config (plus overrides)."""
    try:
        return type(module).from_config({**dict(module.config), **overrides})
    except TypeError as error:
        raise UserError(f"config: cannot build {type(module).__name__} with {overrides}: {error}") from None


def reinit_text_encoder(encoder):
    return type(encoder)(encoder.config)


class BaseRecipe(Recipe):
    stage = "base"

    def build(self):
        config = self.config
        if config.data.image_field is None:
            raise UserError("the base stage needs images: set data.image_field")
        self.pipeline, self.info = load_base(config, torch.float32, with_clip=True)
        pipe = self.pipeline
        if "unet" in config.model.reinit:
            pipe.unet = reinitialised(pipe.unet, config.model.unet_config)
        if "vae" in config.model.reinit:
            pipe.vae = reinitialised(pipe.vae, config.model.vae_config)
        if "text_encoder" in config.model.reinit:
            pipe.text_encoder = reinit_text_encoder(pipe.text_encoder)
            if self.info.family == "sdxl":
                pipe.text_encoder_2 = reinit_text_encoder(pipe.text_encoder_2)
        pipe.to(self.device)
        for part in (pipe.unet, pipe.vae, pipe.text_encoder, getattr(pipe, "text_encoder_2", None)):
            if part is not None:
                part.requires_grad_(False)
        components = config.components
        self.train_vae = components == ("vae",)
        if self.train_vae:
            pipe.vae.requires_grad_(True)
            self.vae_loss = VAELoss(config.loss.kl_weight)
            return {"vae": VAEWithLoss(pipe.vae)}
        self.teacher = CLIPTeacher.from_pipeline(pipe, self.info.family, chunks=1)
        modules = {"unet": pipe.unet.requires_grad_(True)}
        if config.train.gradient_checkpointing:
            pipe.unet.enable_gradient_checkpointing()
        if "text_encoder" in components:
            modules["text_encoder"] = self.teacher.requires_grad_(True)
        cache = latent_cache(config).open() if latent_cache_enabled(config) and "vae" not in config.model.reinit else None
        self.latents = LatentFeatures(pipe.vae, self.images, cache)
        self.diffusion_loss = DiffusionLoss.from_scheduler(pipe.scheduler, config.loss.min_snr_gamma)
        return modules

    def param_groups(self):
        optim = self.config.optim
        rates = {"unet": optim.unet_lr or optim.lr, "text_encoder": optim.text_encoder_lr or optim.lr}
        holds = {"text_encoder": optim.text_encoder_hold_steps}
        return [
            {"params": trainable_parameters(module), "lr": rates.get(name, optim.lr), "hold_steps": holds.get(name, 0)}
            for name, module in self.models.items()
        ]

    def compute_loss(self, batch):
        if self.train_vae:
            pixels = [self.images.load(example, self.generator) for example in batch]
            pixels = torch.stack([image for image in pixels if image is not None]).to(self.device)
            reconstruction, posterior = self.models["vae"](pixels, self.generator)
            return self.vae_loss(reconstruction, pixels, posterior)
        latents, kept = self.latents.required(batch, self.generator)
        texts = self.drop_captions([batch[i].clip_text for i in kept])
        conditioner = self.models.get("text_encoder", self.teacher)
        with torch.set_grad_enabled("text_encoder" in self.models):
            cond = conditioner(texts)
        denoise = denoiser(self.models["unet"], self.info, cond.states, cond.pooled, self.config.data.resolution)
        return {"loss": self.diffusion_loss(denoise, latents.to(self.device), self.generator)}

    @torch.no_grad()
    def latent_std(self) -> float:
        vae = self.unwrapped()["vae"].vae
        generator = torch.Generator().manual_seed(self.config.train.seed)
        samples = []
        for _ in range(SCALE_BATCHES):
            pixels = [self.images.load(example, None) for example in self.stream.next_batch(self.config.train.batch_size)]
            pixels = [image for image in pixels if image is not None]
            if pixels:
                posterior = vae.encode(torch.stack(pixels).to(self.device)).latent_dist
                samples.append(posterior.sample(generator=generator).float().cpu())
        return float(torch.cat(samples).std()) if samples else 1.0

    def export(self, directory):
        if self.train_vae:
            vae = self.exported("vae").vae
            vae.register_to_config(scaling_factor=1.0 / max(self.latent_std(), 1e-6))
            export_base(self.config.model.base, directory / "base", {"vae": vae})
            return
        replace = {"unet": self.exported("unet")}
        if "text_encoder" in self.models:
            teacher = self.exported("text_encoder")
            replace["text_encoder"] = teacher.encoders[0]
            if self.info.family == "sdxl":
                replace["text_encoder_2"] = teacher.encoders[1]
        elif "text_encoder" in self.config.model.reinit:
            replace["text_encoder"] = self.pipeline.text_encoder
        if "vae" in self.config.model.reinit:
            replace["vae"] = self.pipeline.vae
        export_base(self.config.model.base, directory / "base", replace)

    def sample_images(self, prompts):
        pipe = self.pipeline
        log = self.config.log
        size = self.config.data.resolution
        if self.train_vae:
            vae = self.unwrapped()["vae"].vae
            examples = [e for e in self.stream.examples[: len(prompts) * 2] if e.image is not None]
            pixels = [self.images.load(e) for e in examples]
            pixels = torch.stack([p for p in pixels if p is not None]).to(self.device)
            decoded = vae.decode(vae.encode(pixels).latent_dist.mode()).sample
            both = torch.cat([pixels, decoded]).clamp(-1, 1)
            return pipe.image_processor.postprocess(both, output_type="pil")
        unet = pipe.unet
        pipe.unet = self.unwrapped()["unet"]
        try:
            generator = [torch.Generator().manual_seed(log.sample_seed + i) for i in range(len(prompts))]
            pipe.set_progress_bar_config(disable=True)
            return pipe(prompts, num_inference_steps=log.sample_steps, guidance_scale=log.sample_guidance,
                        generator=generator, height=size, width=size).images
        finally:
            pipe.unet = unet
