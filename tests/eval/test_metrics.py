"""Metrics on tiny random-weight models of the real classes.

Not testable offline: that a caption scores higher with its own image than with a shuffled one needs real
CLIP weights, which are never downloaded in tests; the score's formula, range and averaging are tested here.
"""

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from llmdiff.cli.main import main
from llmdiff.errors import UserError
from llmdiff.eval.metrics import MetricsConfig, compute_metrics
from llmdiff.eval.metrics.aesthetic import AestheticHead, aesthetic_scores
from llmdiff.eval.metrics.clip_model import ClipEmbedder
from llmdiff.eval.metrics.clip_score import clip_scores, pair_scores
from llmdiff.eval.metrics.fid import FeatureNetwork, extract, fid_kid, inception_network
from llmdiff.eval.prompts import read_prompts
from llmdiff.eval.run_dir import RunDir

PROMPTS = [("p0", "a red cat", "Animals"), ("p1", "a blue dog", "Animals"), ("p2", "a cat", None)]


def test_clip_score_formula():
    image = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    text = torch.tensor([[0.6, 0.8], [0.6, 0.8], [-1.0, 0.0]])
    assert pair_scores(image, text).tolist() == pytest.approx([60.0, 80.0, 0.0])  # 100·max(cos, 0)
    with pytest.raises(UserError, match="2 images against 3 prompts"):
        pair_scores(image[:2], text)


def test_clip_score_tiny_model(tiny_clip, solid):
    embedder = ClipEmbedder.from_pretrained(str(tiny_clip))
    images = [solid((255, 0, 0)), solid((0, 0, 255)), solid((0, 255, 0))]
    prompts = ["a red cat", "a blue dog", "a cat"]
    scores = clip_scores(embedder, images, prompts)
    # By hand: cosine of the projected embeddings, from the model's own towers.
    model, processor = embedder.model, embedder.processor
    with torch.no_grad():
        pixels = processor(images=images, return_tensors="pt")["pixel_values"]
        vision = model.visual_projection(model.vision_model(pixel_values=pixels).pooler_output)
        tokens = processor(text=prompts, return_tensors="pt", padding=True)
        text = model.text_projection(model.text_model(**tokens).pooler_output)
    expected = (100 * torch.cosine_similarity(vision, text).clamp(min=0)).tolist()
    assert scores == pytest.approx(expected, abs=1e-4)
    assert all(0 <= s <= 100 for s in scores)
    assert embedder.images(images).shape == (3, 16)


def test_clip_score_missing_model(tmp_path):
    with pytest.raises(UserError, match="CLIP model '.*nope' does not exist"):
        ClipEmbedder.from_pretrained(str(tmp_path / "nope"))


def test_aesthetic_linear_and_mlp_heads(tmp_path):
    save_file({"weight": torch.full((1, 4), 0.25), "bias": torch.tensor([0.5])}, tmp_path / "linear.safetensors")
    head = AestheticHead.load(tmp_path / "linear.safetensors")
    embeds = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.5, 0.5]])
    assert aesthetic_scores(head, embeds) == pytest.approx([0.75, 1.0])  # 0.25·Σx + 0.5
    # LAION v2 layout: linear layers 0, 2, 4, 6, 7 (dropouts between), no activations.
    widths = [4, 8, 6, 5, 3, 1]
    state = {}
    for n, (i, o) in zip((0, 2, 4, 6, 7), zip(widths, widths[1:])):
        state[f"layers.{n}.weight"], state[f"layers.{n}.bias"] = torch.randn(o, i), torch.randn(o)
    save_file(state, tmp_path / "mlp.safetensors")
    mlp = AestheticHead.load(tmp_path / "mlp.safetensors")
    x = embeds
    for n in (0, 2, 4, 6, 7):
        x = x @ state[f"layers.{n}.weight"].T + state[f"layers.{n}.bias"]
    assert aesthetic_scores(mlp, embeds) == pytest.approx(x.squeeze(-1).tolist(), abs=1e-5)
    with pytest.raises(UserError, match="reads 4-wide CLIP embeddings, but this CLIP model gives 16"):
        aesthetic_scores(head, torch.zeros(1, 16))
    with pytest.raises(UserError, match="do not exist"):
        AestheticHead.load(tmp_path / "absent.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(UserError, match="cannot read aesthetic head"):
        AestheticHead.load(tmp_path / "bad.safetensors")


def test_fid_kid_known_cases():
    rng = np.random.default_rng(0)
    features = torch.from_numpy(rng.normal(size=(50, 8)))
    assert abs(fid_kid(features, features.clone())["fid"]) < 1e-6  # identical sets
    # KID with one subset holding every sample is the unbiased MMD² with kernel (x·y/d + 1)³.
    x, y = features[:6], torch.from_numpy(rng.normal(size=(6, 8))) + 0.5
    kernel = lambda p, q: (p @ q.T / 8 + 1) ** 3  # noqa: E731
    m = 6
    off_diagonal = lambda k: (k.sum() - k.diagonal().sum()) / (m * (m - 1))  # noqa: E731
    mmd = off_diagonal(kernel(x, x)) + off_diagonal(kernel(y, y)) - 2 * kernel(x, y).mean()
    kid = fid_kid(x, y, kid_subset_size=6)
    assert kid["kid_mean"] == pytest.approx(mmd.item(), rel=1e-9) and kid["kid_std"] == pytest.approx(0, abs=1e-9)
    # Independent samples of one distribution: KID near 0; shifted: far from it.
    a, b = torch.from_numpy(rng.normal(size=(200, 8))), torch.from_numpy(rng.normal(size=(200, 8)))
    near, far = fid_kid(a, b, kid_subset_size=100), fid_kid(a + 1, b, kid_subset_size=100)
    assert abs(near["kid_mean"]) < 3 * near["kid_std"] and far["kid_mean"] > 100 * abs(near["kid_mean"])
    # 1-D features: FID = (μ1 − μ2)² + σ1² + σ2² − 2σ1σ2, sample variances.
    a = torch.tensor([[0.0], [2.0], [4.0]], dtype=torch.float64)
    b = torch.tensor([[1.0], [2.0], [3.0], [6.0]], dtype=torch.float64)
    var_a, var_b = a.var().item(), b.var().item()
    expected = (a.mean() - b.mean()).item() ** 2 + var_a + var_b - 2 * math.sqrt(var_a * var_b)
    assert fid_kid(a, b)["fid"] == pytest.approx(expected, rel=1e-6)
    assert fid_kid(features + 3.0, features)["fid"] == pytest.approx(9.0 * 8, rel=1e-6)  # only the means move
    with pytest.raises(UserError, match="at least 2 generated images"):
        fid_kid(features[:1], features)


class TinyFeatures(nn.Module):
    """Any nn.Module from uint8 (N, 3, S, S) to (N, d) can stand in for Inception."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 6, 3)

    def forward(self, images):
        return self.conv(images.float() / 255).mean(dim=(2, 3))


def test_feature_network_on_images(tmp_path, solid):
    paths = []
    for i in range(4):
        paths.append(tmp_path / f"{i}.png")
        solid((60 * i, 20, 200 - 40 * i), size=40).save(paths[-1])
    features = extract(FeatureNetwork(TinyFeatures(), 16), paths, batch_size=3)
    assert features.shape == (4, 6) and features.dtype == torch.float64
    assert fid_kid(features, extract(FeatureNetwork(TinyFeatures(), 16), paths))["fid"] == pytest.approx(0, abs=1e-8)


def test_inception_weights_must_exist(tmp_path):
    with pytest.raises(UserError, match="Inception weights '.*missing.pth' do not exist"):
        inception_network(tmp_path / "missing.pth")


def head_file(path, width=16):
    save_file({"weight": torch.full((1, width), 0.1), "bias": torch.tensor([5.0])}, path)
    return str(path)


def test_compute_metrics_run(tmp_path, tiny_clip, solid, make_run):
    run = RunDir(make_run(tmp_path / "run", PROMPTS))
    reference = tmp_path / "reference"
    reference.mkdir()
    for i in range(3):
        solid((80 * i, 30, 90)).save(reference / f"r{i}.jpg")
    config = MetricsConfig(clip=str(tiny_clip), aesthetic_head=head_file(tmp_path / "head.safetensors"),
                           reference=str(reference), feature_network=FeatureNetwork(TinyFeatures(), 16))
    assert config.metrics == ("clip_score", "aesthetic", "fid", "kid")
    results = compute_metrics(run, read_prompts(run.prompts), config)
    for system in ("ours", "baseline"):
        values = results["systems"][system]
        clip = values["clip_score"]
        assert len(clip["per_prompt"]) == 3 and clip["mean"] == pytest.approx(np.mean(clip["per_prompt"]))
        assert all(0 <= s <= 100 for s in clip["per_prompt"])
        # unit-length embeddings and weights 0.1: score within 5 ± 0.1·sqrt(16)
        assert all(4.6 <= s <= 5.4 for s in values["aesthetic"]["per_prompt"])
        assert values["fid"] >= 0 and values["kid"]["subset_size"] == 3 and values["reference_images"] == 3


def test_metrics_without_weights_name_what_is_missing(tmp_path):
    with pytest.raises(UserError, match="no metric can be computed.*clip_score: --clip.*fid: --inception and --reference"):
        MetricsConfig()
    with pytest.raises(UserError, match="aesthetic needs --aesthetic-head"):
        MetricsConfig(metrics=("aesthetic",), clip="x")
    with pytest.raises(UserError, match="fid needs --reference"):
        MetricsConfig(metrics=("fid",), inception="w.pth")
    with pytest.raises(UserError, match="unknown metrics \\['IS'\\]"):
        MetricsConfig(metrics=("IS",), clip="x")


def test_metrics_bad_images(tmp_path, tiny_clip, solid, make_run):
    config = MetricsConfig(clip=str(tiny_clip))
    run = RunDir(make_run(tmp_path / "run", PROMPTS))
    records = read_prompts(run.prompts)
    run.image("baseline", "p1").unlink()
    with pytest.raises(UserError, match="1 of 3 images missing in '.*baseline': p1.png"):
        compute_metrics(run, records, config)
    from llmdiff.images import save_png

    save_png(solid((0, 0, 0)), run.image("baseline", "p1"), {"prompt": "another prompt"})
    with pytest.raises(UserError, match="p1.png' was made for another prompt"):
        compute_metrics(run, records, config)
    run.image("baseline", "p1").write_bytes(b"\x89PNG broken")
    with pytest.raises(UserError, match="p1.png' cannot be read"):
        compute_metrics(run, records, config)
    with pytest.raises(UserError, match="reference folder '.*absent' does not exist"):
        compute_metrics(RunDir(make_run(tmp_path / "ok", PROMPTS)), records,
                        MetricsConfig(metrics=("fid",), reference=str(tmp_path / "absent"),
                                      feature_network=FeatureNetwork(TinyFeatures(), 16)))


def test_cli_metrics(tmp_path, tiny_clip, capsys, make_run):
    run = make_run(tmp_path / "run", PROMPTS)
    assert main(["eval", "metrics", str(run), "--clip", str(tiny_clip), "--device", "cpu"]) == 0
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["metrics"] == ["clip_score"] and set(saved["systems"]) == {"ours", "baseline"}
    assert "Loading weights" not in capsys.readouterr().err
    assert main(["eval", "metrics", str(run), "--metrics", "fid"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fid needs --inception and --reference" in err
