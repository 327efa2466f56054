"""The cross_lingual stage: only the adapter learns, toward its own frozen English outputs; the LLM states
of both sides of every pair are cached; the result loads through the public pipeline."""

import pytest
import torch
from conftest import tiny_config

from llmdiff.adapter import LLMAdapter
from llmdiff.pipeline import LLMDiffusionPipeline
from llmdiff.training.cache import LLMFeatures
from llmdiff.training.config import load_config
from llmdiff.training.models import llm_cache
from llmdiff.training.precompute import build_caches, needed_caches
from llmdiff.training.recipes import RECIPES

PAIRS = {"text_fields": ["caption", "translation"], "clip_text_field": "caption", "image_field": None}


def trained_adapter(models, dataset, tmp_path):
    """A stage-1 adapter (a few steps), the starting point and teacher of the stage."""
    config = load_config(data=tiny_config(models, dataset, tmp_path / "align", "align"))
    recipe = RECIPES["align"](config)
    recipe.setup()
    recipe.train()
    recipe.cleanup()
    return tmp_path / "align" / "adapter"


def cross_lingual_config(models, dataset, tmp_path, adapter, **groups):
    groups = {"data": PAIRS, "train": {"max_steps": 80, "batch_size": 8, "caption_dropout": 0.0},
              "optim": {"lr": 3e-3, "warmup_steps": 5}, "loss": {"mse_weight": 1.0, "cosine_weight": 0.1}, **groups}
    return load_config(data=tiny_config(models, dataset, tmp_path / "run", "cross_lingual", model={
        "base": str(models["sd"]), "llm": str(models["llm"]), "adapter": str(adapter)}, **groups))


def distances(adapter, teacher, features, english, others):
    """Mean squared distance of the adapter's outputs from the teacher's English ones: (English, others)."""
    with torch.no_grad():
        target = teacher(*features(english)).prompt_embeds
        own = adapter(*features(english)).prompt_embeds
        translated = adapter(*features(others)).prompt_embeds
    return (own - target).pow(2).mean().item(), (translated - target).pow(2).mean().item()


def test_cross_lingual_pulls_other_languages_to_the_english_outputs(models, dataset, tmp_path):
    import json

    records = [json.loads(line) for line in dataset.read_text(encoding="utf-8").splitlines()]
    english, others = [r["caption"] for r in records], [r["translation"] for r in records]
    adapter = trained_adapter(models, dataset, tmp_path)
    recipe = RECIPES["cross_lingual"](cross_lingual_config(models, dataset, tmp_path, adapter))
    recipe.setup()
    features = LLMFeatures(recipe.encoder)
    teacher_before = {name: value.clone() for name, value in recipe.teacher.state_dict().items()}
    llm_before = {name: value.clone() for name, value in recipe.encoder.model.state_dict().items()}
    unet_before = {name: value.clone() for name, value in recipe.pipeline.unet.state_dict().items()}
    own_before, other_before = distances(recipe.models["adapter"], recipe.teacher, features, english, others)
    assert own_before == 0.0 and other_before > 0  # the student starts as the teacher
    recipe.train()
    recipe.cleanup()

    for before, module in ((teacher_before, recipe.teacher), (llm_before, recipe.encoder.model),
                           (unet_before, recipe.pipeline.unet)):
        assert all(torch.equal(value, module.state_dict()[name]) for name, value in before.items())
    exported = LLMAdapter.load(tmp_path / "run" / "adapter")
    own_after, other_after = distances(exported, recipe.teacher, features, english, others)
    assert other_after < 0.5 * other_before, (other_before, other_after)
    assert own_after < other_after  # English stays nearer its old outputs than the other language gets
    pipe = LLMDiffusionPipeline.from_pretrained(base=tmp_path / "run" / "base", adapter=tmp_path / "run" / "adapter")
    out = pipe(others[0], num_inference_steps=2, height=16, width=16, seed=0, progress=False)
    assert out.images[0].size == (16, 16)


def test_cache_holds_the_english_pair_of_every_caption(models, dataset, tmp_path):
    adapter = trained_adapter(models, dataset, tmp_path)
    config = cross_lingual_config(models, dataset, tmp_path, adapter, cache={"dir": str(tmp_path / "cache")},
                                  data={**PAIRS, "text_fields": ["translation"]})
    assert needed_caches(config) == ["llm"]
    report = build_caches(config, batch_size=4, progress=False)
    assert report.items == {"llm": 17}  # 8 translations, their 8 English captions, the empty prompt
    cache = llm_cache(config).open()
    import json

    first = json.loads(dataset.read_text(encoding="utf-8").splitlines()[0])
    assert cache.get(cache.key(first["caption"])) is not None and cache.get(cache.key(first["translation"])) is not None


def predictions_gap(recipe, adapter, features, english, others):
    """Mean squared distance of the frozen UNet's predictions, on fixed noisy latents, from those it makes
    under the teacher's English outputs: (English, others)."""
    from llmdiff.training.models import denoiser

    unet, info, resolution = recipe.pipeline.unet, recipe.info, recipe.config.data.resolution
    generator = torch.Generator().manual_seed(0)
    channels, size = unet.config.in_channels, unet.config.sample_size
    x_t = torch.randn(len(english), channels, size, size, generator=generator)
    t = torch.randint(0, 1000, (len(english),), generator=generator)

    def predict(model, texts):
        return denoiser(unet, info, model(*features(texts)).prompt_embeds, None, resolution)(x_t, t)

    with torch.no_grad():
        target = predict(recipe.teacher, english)
        own, translated = predict(adapter, english), predict(adapter, others)
    return (own - target).pow(2).mean().item(), (translated - target).pow(2).mean().item()


def test_denoiser_space_pulls_the_unet_predictions_to_the_english_ones(models, dataset, tmp_path):
    import json

    records = [json.loads(line) for line in dataset.read_text(encoding="utf-8").splitlines()]
    english, others = [r["caption"] for r in records], [r["translation"] for r in records]
    adapter = trained_adapter(models, dataset, tmp_path)
    config = cross_lingual_config(models, dataset, tmp_path, adapter, data={**PAIRS, "image_field": "image"},
                                  loss={"distill_space": "denoiser"})
    recipe = RECIPES["cross_lingual"](config)
    recipe.setup()
    features = LLMFeatures(recipe.encoder)
    unet_before = {name: value.clone() for name, value in recipe.pipeline.unet.state_dict().items()}
    own_before, other_before = predictions_gap(recipe, recipe.models["adapter"], features, english, others)
    assert own_before == 0.0 and other_before > 0
    recipe.train()
    recipe.cleanup()

    assert all(torch.equal(value, recipe.pipeline.unet.state_dict()[name]) for name, value in unet_before.items())
    own_after, other_after = predictions_gap(recipe, LLMAdapter.load(tmp_path / "run" / "adapter"), features,
                                             english, others)
    assert other_after < 0.5 * other_before, (other_before, other_after)
    assert own_after < other_after


def test_denoiser_space_reads_images(models, dataset, tmp_path):
    from llmdiff.errors import UserError

    adapter = tmp_path / "adapter"
    with pytest.raises(UserError, match="set data.image_field"):
        cross_lingual_config(models, dataset, tmp_path, adapter, loss={"distill_space": "denoiser"})
    config = cross_lingual_config(models, dataset, tmp_path, adapter, data={**PAIRS, "image_field": "image"},
                                  loss={"distill_space": "denoiser"}, cache={"dir": str(tmp_path / "cache")})
    assert needed_caches(config) == ["llm", "latents"]
    with pytest.raises(UserError, match="distill_space must be conditioning or denoiser"):
        cross_lingual_config(models, dataset, tmp_path, adapter, loss={"distill_space": "pixels"})


def test_denoiser_distill_loss_matches_its_equation_and_trains_the_student_only():
    from llmdiff.training.losses import DenoiserDistillLoss, DiffusionLoss

    diffusion = DiffusionLoss(torch.linspace(0.99, 0.01, 10))
    loss = DenoiserDistillLoss(diffusion)
    x0 = torch.randn(4, 1, 2, 2, generator=torch.Generator().manual_seed(1))

    def scaled(factor):  # a "UNet" whose prediction is x_t times its conditioning
        return lambda x_t, t: x_t * factor

    student, teacher = torch.tensor(1.0, requires_grad=True), torch.tensor(3.0, requires_grad=True)
    value = loss(scaled(student), scaled(teacher), x0, torch.Generator().manual_seed(0))
    x_t, _, _, _ = diffusion.noised(x0, torch.Generator().manual_seed(0))  # the same draws
    assert torch.allclose(value, (4 * x_t**2).mean())
    value.backward()
    assert student.grad < 0 and teacher.grad is None
    same = loss(scaled(torch.tensor(3.0)), scaled(torch.tensor(3.0)), x0, torch.Generator().manual_seed(0))
    assert same.item() == 0.0
