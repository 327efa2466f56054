"""FID and KID of generated images against a reference folder, with torchmetrics.

Features are extracted once per image set by a feature network (Inception-v3 from locally supplied weights,
or any `nn.Module` mapping uint8 images (N, 3, S, S) to (N, d) features) and handed to torchmetrics' FID
(Heusel et al. 2017) and KID (Bińkowski et al. 2018) through an identity extractor, so the costly network
runs once for both metrics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from llmdiff.errors import UserError
from llmdiff.eval.metrics.images import open_rgb

INCEPTION_SIZE = 299
KID_SUBSET_SIZE = 1000  # torchmetrics' default; lowered to the smaller set's size when needed


@dataclass
class FeatureNetwork:
    module: nn.Module
    image_size: int
    """images are resized to this square size before extraction"""


def inception_network(weights: str | os.PathLike) -> FeatureNetwork:
    """Inception-v3 as FID defines it, with the torch-fidelity weights file given by path (never downloaded)."""
    weights = Path(weights)
    if not weights.is_file():
        raise UserError(
            f"Inception weights '{weights}' do not exist; pass --inception with the local file "
            "pt_inception-2015-12-05-6726825d.pth that torch-fidelity uses"
        )
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3
        import torch_fidelity  # noqa: F401  (NoTrainInceptionV3 needs it and says so only at construction)
    except ImportError:
        raise UserError(
            "FID/KID with Inception weights need torchmetrics and torch-fidelity: pip install 'llmdiff[eval]' "
            "torch-fidelity (with the torchvision that matches your torch)"
        ) from None
    try:
        module = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                    feature_extractor_weights_path=str(weights))
    except Exception as error:  # torch-fidelity raises plain assertion and runtime errors on a bad file
        raise UserError(f"cannot load Inception weights '{weights}': {error}") from None
    return FeatureNetwork(module.eval(), INCEPTION_SIZE)


def image_batch(paths: list[Path], size: int) -> torch.Tensor:
    """uint8 (N, 3, size, size), resized with bicubic filtering."""
    from PIL import Image

    arrays = [np.asarray(open_rgb(p).resize((size, size), Image.Resampling.BICUBIC)) for p in paths]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def extract(network: FeatureNetwork, paths: list[Path], batch_size: int = 32) -> torch.Tensor:
    device = next(network.module.parameters(), torch.empty(0)).device
    rows = []
    for start in range(0, len(paths), batch_size):
        batch = image_batch(paths[start : start + batch_size], network.image_size).to(device)
        features = network.module(batch)
        rows.append((features[0] if isinstance(features, (tuple, list)) else features).reshape(len(batch), -1))
    return torch.cat(rows).double().cpu()


class _Precomputed(nn.Module):
    """Feature 'extractor' for features already extracted."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def fid_kid(generated: torch.Tensor, reference: torch.Tensor, kid_subset_size: int = KID_SUBSET_SIZE) -> dict:
    """FID and KID (mean, std over subsets) between two feature sets (N, d)."""
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.kid import KernelInceptionDistance
    except ImportError:
        raise UserError("FID/KID need torchmetrics: pip install 'llmdiff[eval]'") from None
    for name, features in (("generated", generated), ("reference", reference)):
        if len(features) < 2:
            raise UserError(f"FID needs at least 2 {name} images, got {len(features)}")
    width = generated.shape[1]
    fid = FrechetInceptionDistance(feature=_Precomputed(width))
    fid.set_dtype(torch.float64)
    fid.update(reference, real=True)
    fid.update(generated, real=False)
    subset = min(kid_subset_size, len(generated), len(reference))
    kid = KernelInceptionDistance(feature=_Precomputed(width), subset_size=subset)
    kid.update(reference, real=True)
    kid.update(generated, real=False)
    kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid_mean": float(kid_mean), "kid_std": float(kid_std),
            "kid_subset_size": subset, "generated": len(generated), "reference": len(reference)}
