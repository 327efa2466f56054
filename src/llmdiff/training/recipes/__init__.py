"""One recipe per stage; `RECIPES` maps a config's `stage` to its class."""

from __future__ import annotations

from llmdiff.training.recipes.align import AlignRecipe
from llmdiff.training.recipes.base import BaseRecipe
from llmdiff.training.recipes.cross_lingual import CrossLingualRecipe
from llmdiff.training.recipes.end_to_end import EndToEndRecipe
from llmdiff.training.recipes.quality import QualityRecipe

RECIPES = {
    "base": BaseRecipe,
    "align": AlignRecipe,
    "end_to_end": EndToEndRecipe,
    "quality": QualityRecipe,
    "cross_lingual": CrossLingualRecipe,
}

__all__ = ["RECIPES", "AlignRecipe", "BaseRecipe", "CrossLingualRecipe", "EndToEndRecipe", "QualityRecipe"]
