import warnings

import pytest
import torch

from llmdiff.errors import UserError
from llmdiff.text_encoder import LLMTextEncoder, TextEncoderConfig, TruncationWarning

MULTILINGUAL = {
    "zh": "一只红色的猫坐在蓝色的正方形旁边。",
    "ja": "赤い猫が青い四角形の横に座っています。",
    "ar": "قطة حمراء تجلس بجانب مربع أزرق.",
    "emoji": "a red 🐱 next to a blue 🟦 ✨",
}


@pytest.fixture(scope="module")
def smollm2():
    encoder = LLMTextEncoder.from_pretrained(None)
    encoder.cache.size = 0  # prompts are encoded again on purpose: alone and in batches
    return encoder


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    # Per token, relative to that token's scale: LLMs give a few tokens activations 100x the rest.
    return float(((a - b).abs().amax(-1) / a.abs().amax(-1).clamp(min=1e-6)).max())


def test_default_llm_is_smollm2(smollm2):
    assert smollm2.model.config.model_type == "llama"
    assert smollm2.hidden_size == 576
    assert smollm2.model.config.num_hidden_layers == 30
    assert not any(p.requires_grad for p in smollm2.parameters())


def test_long_english_prompt_keeps_every_token(smollm2):
    sentences = [
        "The large red circle rests in the upper left corner of the picture.",
        "Beside it, a small blue triangle points toward the calm grey background.",
        "Further down, two green squares sit quietly next to each other.",
        "A yellow star glows near the centre, brighter than everything around it.",
    ]
    words = " ".join(sentences[i % 4] for i in range(25))  # 300 words
    assert len(words.split()) >= 300
    encoded = smollm2.encode(words)
    count = smollm2.count_tokens([words])[0]
    assert count >= 300
    assert encoded.hidden_states.shape == (1, count, 576)
    assert encoded.token_counts == [count]
    assert encoded.dropped_tokens == [0]
    assert torch.isfinite(encoded.hidden_states).all()


@pytest.mark.parametrize("language", sorted(MULTILINGUAL))
def test_multilingual_prompts_encode(smollm2, language):
    text = MULTILINGUAL[language]
    encoded = smollm2.encode(text)
    count = smollm2.count_tokens([text])[0]
    assert count > 3
    assert encoded.hidden_states.shape == (1, count, 576)
    assert torch.isfinite(encoded.hidden_states).all()
    assert encoded.hidden_states.abs().sum() > 0


def test_batch_equals_alone(smollm2):
    prompts = ["a red cat", MULTILINGUAL["zh"], "a very long prompt about a blue square " * 20]
    batch = smollm2.encode(prompts)
    for row, prompt in enumerate(prompts):
        alone = smollm2.encode(prompt)
        length = alone.hidden_states.shape[1]
        assert batch.token_counts[row] == length
        assert relative_error(alone.hidden_states[0], batch.hidden_states[row, :length]) < 1e-5
        assert batch.hidden_states[row, length:].abs().max() == 0 if length < batch.hidden_states.shape[1] else True
        assert batch.attention_mask[row].sum() == length


def test_truncation_warns_with_dropped_count(smollm2):
    encoder = LLMTextEncoder(smollm2.model, smollm2.tokenizer, TextEncoderConfig(max_length=10))
    text = " ".join(["word"] * 25)
    total = encoder.count_tokens([text])[0]
    with pytest.warns(TruncationWarning, match=f"tokens dropped: {total - 10}"):
        encoded = encoder.encode(text)
    assert encoded.hidden_states.shape[1] == 10
    assert encoded.dropped_tokens == [total - 10]
    # The kept tokens are the untruncated prompt's first ten (a causal model never sees what follows);
    # sequences of different length take different kernel paths, hence 3e-4 rather than 1e-5 (1.2e-4 seen
    # with OMP_NUM_THREADS=1); another prompt's states differ by order 1.
    full = smollm2.encode(text)
    assert relative_error(full.hidden_states[0, :10], encoded.hidden_states[0]) < 3e-4


def test_strict_mode_refuses_long_prompt(smollm2):
    encoder = LLMTextEncoder(smollm2.model, smollm2.tokenizer, TextEncoderConfig(max_length=10, strict=True))
    with pytest.raises(UserError, match="over the limit"):
        encoder.encode(" ".join(["word"] * 25))


def test_instruction_tokens_are_removed(smollm2):
    encoder = LLMTextEncoder(
        smollm2.model, smollm2.tokenizer, TextEncoderConfig(instruction="Describe the image in detail: ")
    )
    with_instruction = encoder.encode("a red cat")
    without = smollm2.encode("a red cat")
    assert with_instruction.hidden_states.shape == without.hidden_states.shape
    # Same positions, but the prompt tokens have read the instruction first.
    assert relative_error(without.hidden_states[0], with_instruction.hidden_states[0]) > 1e-2


def test_layer_selection_and_reduction():
    # Loaded whole (layer -1 is read), so the encoders below can share it.
    smollm2 = LLMTextEncoder.from_pretrained(None, TextEncoderConfig(layers=(-1,)))
    concat = LLMTextEncoder(
        smollm2.model, smollm2.tokenizer, TextEncoderConfig(layers=(-1, -2, 10), layer_reduction="concat")
    )
    assert concat.hidden_size == 3 * 576
    states = concat.encode("a cat").hidden_states
    assert states.shape[-1] == 3 * 576
    mean = LLMTextEncoder(smollm2.model, smollm2.tokenizer, TextEncoderConfig(layers=(-1, -2, 10)))
    expected = states.reshape(*states.shape[:2], 3, 576).mean(2)
    assert torch.allclose(mean.encode("a cat").hidden_states, expected, rtol=1e-5, atol=1e-4)
    with pytest.raises(UserError, match="layer 31 does not exist"):
        LLMTextEncoder(smollm2.model, smollm2.tokenizer, TextEncoderConfig(layers=(31,)))


def test_empty_prompt_is_unconditional(smollm2):
    encoded = smollm2.encode("")
    assert encoded.hidden_states.shape == (1, 1, 576)
    assert encoded.token_counts == [1]


@pytest.mark.parametrize("bad, message", [
    ("   \n", "only whitespace"), ("a\x00b", "NUL"), ("a\ud800b", "unpaired surrogate \\(U\\+D800\\) at character 1"),
    ("\udfff", "unpaired surrogate"), (3, "must be a string"),
])
def test_bad_prompts(smollm2, bad, message):
    with pytest.raises(UserError, match=message):
        smollm2.encode([bad])


@pytest.mark.parametrize("architecture", ["llama", "qwen2", "bert"])
def test_tiny_models_of_each_architecture(tiny_models, architecture):
    encoder = LLMTextEncoder.from_pretrained(str(tiny_models[architecture]))
    encoder.cache.size = 0
    assert encoder.hidden_size == 64
    batch = encoder.encode(["a red cat", "the blue dog is next to a red circle"])
    alone = encoder.encode("a red cat")
    length = alone.hidden_states.shape[1]
    assert relative_error(alone.hidden_states[0], batch.hidden_states[0, :length]) < 1e-5
    if architecture == "bert":
        # [CLS] and [SEP] stay in the output: they carry the encoder's sentence-level summary.
        assert length == encoder.count_tokens(["a red cat"])[0] + 2


def test_missing_model_fails_fast():
    with pytest.raises(UserError, match="HF_HUB_OFFLINE"):
        LLMTextEncoder.from_pretrained("some-org/no-such-model")
    with pytest.raises(UserError, match="does not exist"):
        LLMTextEncoder.from_pretrained("./no/such/dir")


@pytest.mark.parametrize("layers", [(1,), (-2,), (0, 2)])
def test_unread_layers_are_dropped_exactly(tiny_models, layers):
    config = TextEncoderConfig(layers=layers, layer_reduction="concat")
    full = LLMTextEncoder.from_pretrained(str(tiny_models["llama"]), TextEncoderConfig(layers=(-1,)))
    whole = LLMTextEncoder(full.model, full.tokenizer, config)  # a model handed in is never cut
    dropped = LLMTextEncoder.from_pretrained(str(tiny_models["llama"]), config)
    num_layers = whole.model.config.num_hidden_layers
    assert whole.layers_run == num_layers
    assert dropped.layers_run == max(layer % (num_layers + 1) for layer in layers) < num_layers
    assert len(dropped.model.layers) == dropped.layers_run
    prompts = ["a red cat", "the blue dog is next to a red circle"]
    assert torch.equal(whole.encode(prompts).hidden_states, dropped.encode(prompts).hidden_states)
    with pytest.raises(UserError, match="load it again"):
        LLMTextEncoder(dropped.model, dropped.tokenizer, TextEncoderConfig(layers=(-1,)))


def test_last_layer_keeps_the_whole_model(tiny_models):
    encoder = LLMTextEncoder.from_pretrained(str(tiny_models["llama"]), TextEncoderConfig(layers=(-1,)))
    assert encoder.layers_run == encoder.model.config.num_hidden_layers == len(encoder.model.layers)
