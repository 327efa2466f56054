"""Stage 2 · end-to-end: adapter + UNet (full or LoRA), optionally LoRA on the LLM, on long captions.

Loss: `DiffusionLoss` (optionally min-SNR weighted) of the UNet conditioned on the adapter's output for
the example's caption (the empty caption with probability `train.caption_dropout`, for guidance).
Output: `<out>/adapter` and `<out>/base`, a complete diffusers pipeline holding the new UNet (LoRA merged),
so `LLMDiffusionPipeline.from_pretrained(base=<out>/base, adapter=<out>/adapter)` loads the result. With
LLM LoRA, `<out>/adapter/llm_lora` holds the LoRA (a few MB, not a copy of the LLM), merged into the LLM
whenever the adapter is loaded; a later stage that starts from this adapter trains the same LoRA on.
"""

from __future__ import annotations

from pathlib import Path

import torch

from llmdiff.errors import UserError
from llmdiff.llm_lora import LLM_LORA_DIR, write_llm_lora
from llmdiff.pipeline import LLMDiffusionPipeline, save_adapter
from llmdiff.training.cache import LLMFeatures
from llmdiff.training.checkpointing import checkpoint_blocks
from llmdiff.training.losses import DiffusionLoss
from llmdiff.training.models import (
    add_llm_lora,
    add_unet_lora,
    build_adapter,
    conditioned_denoiser,
    export_base,
    frozen_dtype,
    latent_features,
    llm_cache,
    llm_spec,
    load_base,
    load_text_encoder,
    start_llm_lora,
    trainable_parameters,
)
from llmdiff.training.recipe import Recipe


class EndToEndRecipe(Recipe):
    stage = "end_to_end"

    def build(self):
        config = self.config
        components = config.components
        dtype = frozen_dtype(config)
        if config.data.image_field is None:
            raise UserError(f"stage {self.stage} needs images: set data.image_field")
        self.train_llm = "llm" in components
        # A LoRA the starting adapter carries is merged when the LLM stays frozen, and trained on when it learns.
        self.encoder = load_text_encoder(config, torch.float32 if self.train_llm else dtype,
                                         merge_lora=not self.train_llm).to(self.device)
        self.pipeline, self.info = load_base(config, dtype, with_clip=False)
        self.pipeline.to(self.device)
        unet = self.pipeline.unet
        unet.requires_grad_(False)
        self.pipeline.vae.requires_grad_(False)
        use_cache = config.cache.dir is not None
        modules = {}
        if "adapter" in components:
            modules["adapter"] = build_adapter(config, self.encoder.hidden_size, self.info)
            if config.train.gradient_checkpointing:
                checkpoint_blocks(modules["adapter"])
        else:
            self.frozen_adapter = build_adapter(config, self.encoder.hidden_size, self.info).to(self.device)
            self.frozen_adapter.requires_grad_(False)
        if "unet" in components:
            if unet.dtype != torch.float32:
                unet.to(torch.float32)
            if config.train.unet_lora_rank:
                add_unet_lora(unet, config.train.unet_lora_rank)
            else:
                unet.requires_grad_(True)
            if config.train.gradient_checkpointing:
                unet.enable_gradient_checkpointing()
            modules["unet"] = unet
        if self.train_llm:
            add_llm_lora(self.encoder, config.train.llm_lora_rank, start=start_llm_lora(config))
            if config.train.gradient_checkpointing:
                self.encoder.model.gradient_checkpointing_enable()
            modules["llm"] = self.encoder.model
            self.llm_features = None
        else:
            self.llm_features = LLMFeatures(self.encoder, llm_cache(config).open() if use_cache and config.cache.llm else None)
        self.timestep_aware = (modules["adapter"] if "adapter" in modules else self.frozen_adapter).timestep_aware
        self.latents = latent_features(config, self.pipeline.vae, self.images)
        self.diffusion_loss = DiffusionLoss.from_scheduler(self.pipeline.scheduler, config.loss.min_snr_gamma)
        return modules

    def param_groups(self):
        optim = self.config.optim
        rates = {"adapter": optim.lr, "unet": optim.unet_lr or optim.lr, "llm": optim.llm_lr or optim.lr}
        return [{"params": trainable_parameters(module), "lr": rates[name]} for name, module in self.models.items()]

    def after_prepare(self):
        if self.train_llm:
            self.encoder.model = self.models["llm"]

    @property
    def unet(self):
        return self.models.get("unet", self.pipeline.unet)

    @property
    def adapter(self):
        return self.models.get("adapter", getattr(self, "frozen_adapter", None))

    def encode(self, texts: list[str]):
        if self.llm_features is not None:
            states, mask = self.llm_features(texts)
            return states.to(self.device), mask.to(self.device)
        encoded = self.encoder.encode(texts)
        return encoded.hidden_states, encoded.attention_mask

    def compute_loss(self, batch):
        latents, kept = self.latents.required(batch, self.generator)
        texts = self.drop_captions([batch[i].text for i in kept])
        states, mask = self.encode(texts)
        denoise = conditioned_denoiser(self.unet, self.info, self.adapter, states, mask, self.config.data.resolution,
                                       self.timestep_aware)
        return {"loss": self.diffusion_loss(denoise, latents.to(self.device), self.generator)}

    def export(self, directory: Path) -> None:
        adapter = self.exported("adapter") if "adapter" in self.models else self.frozen_adapter
        save_adapter(adapter, self.encoder, directory / "adapter", llm_spec(self.config))
        if self.train_llm:
            # Only the LoRA (EMA weights when EMA is on) goes beside the adapter, not a copy of the LLM.
            write_llm_lora(self.exported("llm"), directory / "adapter" / LLM_LORA_DIR, llm_spec(self.config))
        if "unet" in self.models:
            unet = self.exported("unet")
            if self.config.train.unet_lora_rank:
                unet.fuse_lora()
                unet.unload_lora()
            export_base(self.config.model.base, directory / "base", {"unet": unet})

    def sample_images(self, prompts):
        unet = self.pipeline.unet
        self.pipeline.unet = self.accelerator.unwrap_model(self.unet)
        try:
            pipe = LLMDiffusionPipeline(self.pipeline, self.encoder, self.accelerator.unwrap_model(self.adapter), self.info)
            log = self.config.log
            return pipe(prompts, num_inference_steps=log.sample_steps, guidance_scale=log.sample_guidance,
                        seed=log.sample_seed, height=self.config.data.resolution,
                        width=self.config.data.resolution, progress=False).images
        finally:
            self.pipeline.unet = unet
