"""Fixtures for the evaluation tests: small prompt files, a tiny CLIP model, run directories."""

import json
from pathlib import Path

import pytest
from PIL import Image

SHARED_PROMPTS = Path(__file__).resolve().parents[2].parent / "shared" / "prompts"


@pytest.fixture(scope="session")
def shared_prompts():
    if not (SHARED_PROMPTS / "ParaPrompts_400.csv").is_file():
        pytest.skip(f"published prompt sets not found at {SHARED_PROMPTS}")
    return SHARED_PROMPTS


@pytest.fixture
def prompt_files(tmp_path):
    """Small copies in each published format, plus user formats."""
    para = tmp_path / "para.csv"
    para.write_text(
        "Image,Prompt,Category,Prompt_Chinese\n"
        'aa11.JPEG,"A red cat, sitting.",Animals,一只红色的猫。\n'
        "bb22.JPEG,A blue dog.,Animals,一只蓝色的狗。\n"
        "cc33.JPEG,A kitchen at dawn.,Indoor Scenes,黎明时的厨房。\n",
        encoding="utf-8",
    )
    dpg = tmp_path / "dpg.jsonl"
    dpg.write_text("".join(json.dumps({"id": str(i), "prompt": f"dense prompt {i}"}) + "\n" for i in (0, 1, 10)))
    parti = tmp_path / "parti.tsv"
    parti.write_text("Prompt\tCategory\tChallenge\tNote\nbond\tAbstract\tBasic\tx\na red circle\tIllustrations\tColor\t\n")
    text = tmp_path / "prompts.txt"
    text.write_text("first prompt\n\nsecond prompt\n", encoding="utf-8")
    user = tmp_path / "user.csv"
    user.write_text("text,style\nan owl,ink\na fox,oil\n", encoding="utf-8")
    return {"para": para, "dpg": dpg, "parti": parti, "txt": text, "user": user}


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    """A random-weight transformers CLIPModel with its processor, saved like a hub checkpoint."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    from llmdiff.testing import make_clip_tokenizer

    path = tmp_path_factory.mktemp("tiny_clip")
    tokenizer = CLIPTokenizer.from_pretrained(make_clip_tokenizer(path / "_tokenizer", words=("a", "red", "cat")))
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                         num_attention_heads=4, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=4,
                           image_size=32, patch_size=8),
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(path, safe_serialization=True)
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
    )
    processor.save_pretrained(path)
    return path


def _solid(color, size=32) -> Image.Image:
    return Image.new("RGB", (size, size), color)


def _make_run(root: Path, prompts: list[tuple[str, str, str | None]], colors=None) -> Path:
    """A run directory with prompts.jsonl and images for both systems, written as `eval generate` would."""
    from llmdiff.eval.prompts import PromptRecord, write_prompts
    from llmdiff.eval.run_dir import SYSTEMS, RunDir
    from llmdiff.images import save_png

    run = RunDir(root)
    root.mkdir(parents=True, exist_ok=True)
    records = [PromptRecord(i, p, c, n) for n, (i, p, c) in enumerate(prompts)]
    write_prompts(run.prompts, records)
    for s, system in enumerate(SYSTEMS):
        run.images(system).mkdir(parents=True)
        for n, record in enumerate(records):
            color = colors[s][n] if colors else (40 * n % 256, 100 + 50 * s, 200)
            save_png(_solid(color), run.image(system, record.id),
                     {"prompt": record.prompt, "seed": n, "category": record.category or "", "system": system})
    return root


@pytest.fixture(scope="session")
def solid():
    """solid(color, size=32): a one-colour RGB image."""
    return _solid


@pytest.fixture(scope="session")
def make_run():
    """make_run(root, [(id, prompt, category)], colors=None): a run directory with images for both systems."""
    return _make_run
