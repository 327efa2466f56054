"""`python -m llmdiff.training.shapes_model OUT`: the untrained template of the shapes world's base model.

The shapes recipe trains an "existing" CLIP-conditioned model from scratch (configs/shapes/): this
writes the architecture it starts from, as a stock `StableDiffusionPipeline` directory with random
weights and the world's own 77-token CLIP tokenizer. Sizes are chosen so the whole trained model (VAE,
UNet, CLIP encoder and adapter) stays within 40 MB and trains on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ShapesModelConfig:
    """Architecture of the shapes base model."""

    resolution: int = 64
    vae_channels: tuple[int, ...] = (32, 64, 64)
    """One down-sampling per block after the first: 64x64 images become 16x16 latents."""
    latent_channels: int = 4
    unet_channels: tuple[int, ...] = (64, 128, 128)
    unet_layers_per_block: int = 1
    cross_attention_dim: int = 256
    """Width of the conditioning the UNet reads (SD1.5-family layout, narrower than SD1.5's 768)."""
    attention_head_dim: int = 32
    text_width: int = 256
    text_layers: int = 4
    text_heads: int = 4

    @property
    def latent_size(self) -> int:
        return self.resolution // 2 ** (len(self.vae_channels) - 1)


PRESETS = {
    "default": ShapesModelConfig(),
    # For the CPU world (32x32, 2x2 grid): 8x8 latents and a two-level UNet, a few hundred ms a step.
    "cpu": ShapesModelConfig(
        resolution=32, vae_channels=(32, 64, 64), unet_channels=(64, 128), cross_attention_dim=256, text_layers=2
    ),
}


def build_template(out: str | Path, config: ShapesModelConfig = ShapesModelConfig(), seed: int = 0) -> Path:
    import torch
    from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from llmdiff.worlds.shapes import clip_tokenizer

    out = Path(out)
    torch.manual_seed(seed)
    tokenizer = clip_tokenizer()
    blocks = len(config.vae_channels)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks,
        block_out_channels=config.vae_channels,
        layers_per_block=1,
        latent_channels=config.latent_channels,
        norm_num_groups=16,
        sample_size=config.resolution,
    )
    levels = len(config.unet_channels)
    unet = UNet2DConditionModel(
        sample_size=config.latent_size,
        in_channels=config.latent_channels,
        out_channels=config.latent_channels,
        block_out_channels=config.unet_channels,
        layers_per_block=config.unet_layers_per_block,
        # Cross-attention at every level: where an object is and what it is must both follow the text.
        down_block_types=("CrossAttnDownBlock2D",) * (levels - 1) + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (levels - 1),
        cross_attention_dim=config.cross_attention_dim,
        attention_head_dim=config.attention_head_dim,
        norm_num_groups=32,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=config.text_width,
            intermediate_size=4 * config.text_width,
            num_hidden_layers=config.text_layers,
            num_attention_heads=config.text_heads,
            max_position_embeddings=77,
            projection_dim=config.text_width,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    # SD1.5's noise schedule rescaled to zero terminal SNR, with v-prediction and trailing timesteps (Lin et al.
    # 2024): training's last step then sees pure noise, as sampling's first step does, so the layout the first
    # steps commit to has to come from the caption. Sampled with DPM-Solver++, good in 20 steps.
    scheduler = DPMSolverMultistepScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000, steps_offset=1,
        prediction_type="v_prediction", rescale_betas_zero_snr=True, timestep_spacing="trailing",
    )
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(out, safe_serialization=True)
    return out


def parameter_counts(path: str | Path) -> dict[str, int]:
    """Parameters of each trainable component of a saved pipeline."""
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(path, safety_checker=None, requires_safety_checker=False)
    return {
        name: sum(p.numel() for p in getattr(pipeline, name).parameters())
        for name in ("vae", "unet", "text_encoder")
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default="outputs/shapes/template")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default")
    args = parser.parse_args()
    target = build_template(args.out, PRESETS[args.preset])
    for name, count in parameter_counts(target).items():
        print(f"{name}: {count / 1e6:.2f}M parameters")
    print(f"wrote {target}")
