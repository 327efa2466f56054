"""Published models built on the meta device from the shipped configs: parameter totals."""

import pytest

from llmdiff.errors import UserError
from llmdiff.plan.meta_models import build_base, build_llm, count, llm_config


def test_unet_parameter_totals_match_the_published_models():
    assert count(build_base("stabilityai/stable-diffusion-xl-base-1.0", with_clip=False).unet) == 2_567_463_684
    assert count(build_base("runwayml/stable-diffusion-v1-5", with_clip=False).unet) == 859_520_964


def test_llama_2_7b_with_and_without_its_head():
    config = llm_config("meta-llama/Llama-2-7b-hf")
    assert count(build_llm(config, with_head=True)) == 6_738_415_616
    assert count(build_llm(config, layers=(-1,))) == 6_607_343_616  # what the encoder loads
    # Reading the penultimate state drops the last layer (4h² + 3h·i + 2h) and the final norm (h).
    assert count(build_llm(config, layers=(-2,))) == 6_607_343_616 - (4 * 4096**2 + 3 * 4096 * 11008 + 3 * 4096)


def test_baichuan2_is_planned_as_llama_at_its_widths_without_remote_code():
    h, i, layers, vocab = 4096, 11008, 32, 125696
    body = vocab * h + layers * (4 * h * h + 3 * h * i + 2 * h) + h
    config = llm_config("baichuan-inc/Baichuan2-7B-Chat")
    assert count(build_llm(config)) == body
    assert count(build_llm(config, with_head=True)) == body + vocab * h


def test_qwen2_5_7b_and_flan_t5_xl_encoder():
    assert count(build_llm(llm_config("Qwen/Qwen2.5-7B"), with_head=True)) == 7_615_616_512
    t5 = build_llm(llm_config("google/flan-t5-xl"))
    assert type(t5).__name__ == "T5Stack" and count(t5) == 1_223_527_424  # the encoder alone, embeddings included


def test_sdxl_clip_encoders_are_built_from_model_index():
    base = build_base("stabilityai/stable-diffusion-xl-base-1.0", with_clip=True)
    assert {name: type(m).__name__ for name, m in base.text_encoders.items()} == {
        "text_encoder": "CLIPTextModel", "text_encoder_2": "CLIPTextModelWithProjection"}
    assert count(base.text_encoders["text_encoder"]) == 123_060_480


def test_unknown_hub_id_is_one_line_error(tmp_path):
    with pytest.raises(UserError, match="not a local folder and no configs are shipped"):
        llm_config("someone/unknown-llm")
    (tmp_path / "config.json").write_text('{"model_type": "nonesuch", "architectures": ["NoneSuchForCausalLM"]}')
    with pytest.raises(UserError, match="no stand-in"):
        llm_config(str(tmp_path))
