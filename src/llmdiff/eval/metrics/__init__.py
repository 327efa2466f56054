"""Image metrics for a run: CLIP score, aesthetic score, FID and KID, per system.

Every metric needs weights given by local path or hub id (nothing is downloaded behind the user's back); a
metric asked for without them fails naming the missing option.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from llmdiff.errors import UserError
from llmdiff.eval.prompts import PromptRecord
from llmdiff.eval.run_dir import SYSTEMS, RunDir

METRICS = ("clip_score", "aesthetic", "fid", "kid")
# What each metric needs, as (config field, CLI option) pairs.
REQUIREMENTS = {
    "clip_score": (("clip", "--clip"),),
    "aesthetic": (("clip", "--clip"), ("aesthetic_head", "--aesthetic-head")),
    "fid": (("inception", "--inception"), ("reference", "--reference")),
    "kid": (("inception", "--inception"), ("reference", "--reference")),
}


@dataclass
class MetricsConfig:
    metrics: tuple[str, ...] | None = None
    """metrics to compute (default: every metric whose weights are given)"""
    clip: str | None = None
    """CLIP model (transformers CLIPModel): local dir or hub id"""
    aesthetic_head: str | None = None
    """aesthetic head on CLIP image embeddings: .safetensors file"""
    inception: str | None = None
    """torch-fidelity Inception-v3 weights file for FID/KID"""
    reference: str | None = None
    """folder of reference images for FID/KID"""
    feature_network: object | None = field(default=None, repr=False)
    """instead of `inception`: a `fid.FeatureNetwork` (Python API only)"""
    systems: tuple[str, ...] = SYSTEMS
    batch_size: int = 16
    kid_subset_size: int = 1000
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.metrics is None:
            self.metrics = tuple(m for m in METRICS if not self.missing(m))
            if not self.metrics:
                needs = "; ".join(f"{m}: {' and '.join(o for _, o in REQUIREMENTS[m])}" for m in METRICS)
                raise UserError(f"no metric can be computed: no weights given ({needs})")
        self.metrics = tuple(self.metrics)
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown:
            raise UserError(f"unknown metrics {unknown}; choose from {', '.join(METRICS)}")
        for metric in self.metrics:
            missing = self.missing(metric)
            if missing:
                raise UserError(f"{metric} needs {' and '.join(missing)}, which were not given")

    def missing(self, metric: str) -> list[str]:
        absent = []
        for name, option in REQUIREMENTS[metric]:
            given = getattr(self, name) is not None
            if name == "inception" and self.feature_network is not None:
                given = True
            if not given:
                absent.append(option)
        return absent


def describe(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.pstdev(values), "per_prompt": values}


def compute_metrics(run: RunDir, records: list[PromptRecord], config: MetricsConfig) -> dict:
    """Every metric of `config` for every system; the result is what metrics.json holds."""
    from llmdiff.eval.metrics.images import folder_images, run_images

    paths = {system: run_images(run, system, records) for system in config.systems}  # fail before loading
    reference = folder_images(config.reference) if {"fid", "kid"} & set(config.metrics) else None
    results: dict = {system: {} for system in config.systems}
    if {"clip_score", "aesthetic"} & set(config.metrics):
        _clip_metrics(paths, records, config, results)
    if reference is not None:
        _distribution_metrics(paths, reference, config, results)
    return {"metrics": list(config.metrics), "prompts": [r.id for r in records], "systems": results,
            "settings": {"clip": config.clip, "aesthetic_head": config.aesthetic_head,
                         "inception": config.inception, "reference": config.reference}}


def _clip_metrics(paths, records, config: MetricsConfig, results: dict) -> None:
    from llmdiff.eval.metrics.aesthetic import AestheticHead, aesthetic_scores
    from llmdiff.eval.metrics.clip_model import ClipEmbedder
    from llmdiff.eval.metrics.clip_score import pair_scores
    from llmdiff.eval.metrics.images import open_rgb

    embedder = ClipEmbedder.from_pretrained(config.clip, config.device, config.batch_size)
    head = AestheticHead.load(config.aesthetic_head) if "aesthetic" in config.metrics else None
    texts = embedder.texts([r.prompt for r in records]) if "clip_score" in config.metrics else None
    for system, system_paths in paths.items():
        images = embedder.images([open_rgb(p) for p in system_paths])
        if texts is not None:
            results[system]["clip_score"] = describe(pair_scores(images, texts).tolist())
        if head is not None:
            results[system]["aesthetic"] = describe(aesthetic_scores(head, images))


def _distribution_metrics(paths, reference, config: MetricsConfig, results: dict) -> None:
    from llmdiff.eval.metrics.fid import extract, fid_kid, inception_network

    network = config.feature_network or inception_network(config.inception)
    network.module.to(config.device)
    reference_features = extract(network, reference, config.batch_size)
    for system, system_paths in paths.items():
        values = fid_kid(extract(network, system_paths, config.batch_size), reference_features, config.kid_subset_size)
        if "fid" in config.metrics:
            results[system]["fid"] = values["fid"]
        if "kid" in config.metrics:
            results[system]["kid"] = {"mean": values["kid_mean"], "std": values["kid_std"],
                                      "subset_size": values["kid_subset_size"]}
        results[system]["reference_images"] = values["reference"]
