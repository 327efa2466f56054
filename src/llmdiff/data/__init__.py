"""Data tooling: JSONL manifests of image-caption samples, and the steps that prepare them for training.

One module per step: `ingest` (sources → manifest), `validate` (drop bad samples, list why), `stats`
(lengths and sizes, with a figure), `filter` (curated subsets), `shard` (webdataset tars + index) and
`recaption` (long captions from a `Captioner`). The manifest format is described in `manifest` and in
docs/data.md.
"""

from llmdiff.data.captioners import (Captioner, ShapesCaptioner, ShapesCaptionerConfig, VLMCaptioner,
                                     VLMCaptionerConfig)
from llmdiff.data.filter import FilterConfig, ScoreRule, filter_manifest
from llmdiff.data.ingest import IngestConfig, ingest_sources
from llmdiff.data.manifest import ManifestWriter, iter_records, read_manifest
from llmdiff.data.recaption import RecaptionConfig, recaption_manifest
from llmdiff.data.shard import ShardConfig, shard_paths, write_shards
from llmdiff.data.stats import StatsConfig, manifest_stats, plot_stats, write_stats
from llmdiff.data.validate import ValidateConfig, validate_manifest

__all__ = [
    "Captioner", "ShapesCaptioner", "ShapesCaptionerConfig", "VLMCaptioner", "VLMCaptionerConfig",
    "FilterConfig", "ScoreRule", "filter_manifest",
    "IngestConfig", "ingest_sources",
    "ManifestWriter", "iter_records", "read_manifest",
    "RecaptionConfig", "recaption_manifest",
    "ShardConfig", "write_shards", "shard_paths",
    "StatsConfig", "manifest_stats", "plot_stats", "write_stats",
    "ValidateConfig", "validate_manifest",
]
