"""The training losses, each a small callable with the equation it implements."""

from __future__ import annotations

import torch
import torch.nn.functional as F


class AlignLoss:
    """Stage 1: make the adapter's output a ≈ the CLIP teacher's states c for the same caption.

        L = w_mse · mean_{b,t,d} (a_btd − c_btd)²
          + w_cos · mean_{b,t} (1 − cos(a_bt, c_bt))
          + w_pool · mean_{b,d} (p_bd − p*_bd)²          (SDXL pooled vector)

    All positions count, padding included: the base UNet was trained with CLIP's padded 77-token
    sequences, so the pad states are part of what it expects to read. MSE keeps scale (the UNet's
    cross-attention is not scale-invariant); the cosine term, optional, weighs every token's direction
    equally whatever its norm.
    """

    def __init__(self, mse_weight: float = 1.0, cosine_weight: float = 0.0, pooled_weight: float = 1.0):
        self.mse_weight = mse_weight
        self.cosine_weight = cosine_weight
        self.pooled_weight = pooled_weight

    def __call__(self, embeds, target, pooled=None, target_pooled=None) -> dict[str, torch.Tensor]:
        embeds, target = embeds.float(), target.float()
        terms = {"mse": F.mse_loss(embeds, target)}
        loss = self.mse_weight * terms["mse"]
        if self.cosine_weight:
            terms["cosine"] = (1 - F.cosine_similarity(embeds, target, dim=-1)).mean()
            loss = loss + self.cosine_weight * terms["cosine"]
        if pooled is not None and target_pooled is not None and self.pooled_weight:
            terms["pooled"] = F.mse_loss(pooled.float(), target_pooled.float())
            loss = loss + self.pooled_weight * terms["pooled"]
        terms["loss"] = loss
        return terms


class DiffusionLoss:
    """Denoising loss of DDPM (Ho et al. 2020, eq. 14) in the base scheduler's parametrisation.

        x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε,   t ~ U{0, …, T − 1}
        L = E_t [ w(t) · ‖f(x_t, t) − y‖² ],   y = ε (epsilon) or √ᾱ_t ε − √(1 − ᾱ_t) x_0 (v, Salimans & Ho 2022)

    w(t) = 1, or with min-SNR-γ (Hang et al. 2023, eq. 9 and its v form), SNR(t) = ᾱ_t / (1 − ᾱ_t):
        w(t) = min(SNR, γ) / SNR for ε-prediction,  min(SNR, γ) / (SNR + 1) for v-prediction.
    """

    def __init__(self, alphas_cumprod: torch.Tensor, prediction_type: str = "epsilon", min_snr_gamma: float = 0.0):
        if prediction_type not in ("epsilon", "v_prediction"):
            raise ValueError(f"unsupported prediction type {prediction_type!r}")
        self.alphas_cumprod = alphas_cumprod.double()
        self.prediction_type = prediction_type
        self.min_snr_gamma = min_snr_gamma

    @classmethod
    def from_scheduler(cls, scheduler, min_snr_gamma: float = 0.0) -> "DiffusionLoss":
        return cls(scheduler.alphas_cumprod, scheduler.config.prediction_type, min_snr_gamma)

    def noised(self, x0: torch.Tensor, generator: torch.Generator):
        """(x_t, t, y, ᾱ_t) for a random step per example."""
        batch = x0.shape[0]
        t = torch.randint(0, len(self.alphas_cumprod), (batch,), generator=generator)
        noise = torch.randn(x0.shape, generator=generator, dtype=torch.float32).to(x0.device, x0.dtype)
        alpha_bar = self.alphas_cumprod[t].to(x0.device)
        a = alpha_bar.sqrt().float().view(-1, 1, 1, 1)
        s = (1 - alpha_bar).sqrt().float().view(-1, 1, 1, 1)
        x_t = a * x0 + s * noise
        target = noise if self.prediction_type == "epsilon" else a * noise - s * x0
        return x_t, t.to(x0.device), target, alpha_bar

    def __call__(self, denoise, x0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x_t, t, target, alpha_bar = self.noised(x0, generator)
        prediction = denoise(x_t, t)
        per_example = ((prediction.float() - target.float()) ** 2).mean(dim=(1, 2, 3))
        if self.min_snr_gamma:
            snr = (alpha_bar / (1 - alpha_bar)).float()
            clipped = snr.clamp(max=self.min_snr_gamma)
            weight = clipped / snr if self.prediction_type == "epsilon" else clipped / (snr + 1)
            per_example = per_example * weight
        return per_example.mean()


class DenoiserDistillLoss:
    """Distillation through a frozen denoiser: the student conditioning s should make the UNet predict
    what the teacher conditioning c makes it predict, on the same noisy latents and steps:

        x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε,   t ~ U{0, …, T − 1}
        L = E_t ‖f(x_t, t; s) − sg[f(x_t, t; c)]‖²

    Only what the UNet reads of the conditioning counts, unlike a per-position MSE on the conditioning
    itself, which also pulls on directions the UNet ignores (or never saw).
    """

    def __init__(self, diffusion: DiffusionLoss):
        self.diffusion = diffusion

    def __call__(self, student, teacher, x0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x_t, t, _, _ = self.diffusion.noised(x0, generator)
        with torch.no_grad():
            target = teacher(x_t, t)
        return ((student(x_t, t).float() - target.float()) ** 2).mean()


class VAELoss:
    """Autoencoder loss (Kingma & Welling 2014, eq. 10), Gaussian decoder as a pixel MSE:

        L = mean (x̂ − x)² + β · mean_b KL(q(z|x) ‖ N(0, I)),  KL = ½ Σ (μ² + σ² − 1 − log σ²)

    with a small β as in latent diffusion (Rombach et al. 2022, §3), so latents stay near-deterministic.
    """

    def __init__(self, kl_weight: float = 1e-6):
        self.kl_weight = kl_weight

    def __call__(self, reconstruction, images, posterior) -> dict[str, torch.Tensor]:
        mse = F.mse_loss(reconstruction.float(), images.float())
        mean, logvar = posterior.mean.float(), posterior.logvar.float()
        kl = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).flatten(1).sum(1).mean()
        return {"loss": mse + self.kl_weight * kl, "mse": mse, "kl": kl}
