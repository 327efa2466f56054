"""Stage 3 · quality tuning: stage 2's recipe on a small curated set, lower learning rate, few steps.

The method is the same as stage 2; what differs is the config (see configs/shapes/quality.yaml): the
stage-2 outputs as starting point (`model.base: <stage2>/base`, `model.adapter: <stage2>/adapter`),
the curated data, a learning rate about 10× lower and a few hundred steps. Its own stage name keeps its
checkpoints from being resumed as stage 2's.
"""

from __future__ import annotations

from llmdiff.training.recipes.end_to_end import EndToEndRecipe


class QualityRecipe(EndToEndRecipe):
    stage = "quality"
