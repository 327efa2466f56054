import pytest
import torch

from llmdiff.text_encoder import LLMTextEncoder, TextEncoderConfig, TruncationWarning


@pytest.fixture
def counted(tiny_models):
    """A tiny Llama encoder that records the batch size of every LLM call."""
    encoder = LLMTextEncoder.from_pretrained(tiny_models["llama"])
    calls = []
    encoder.model.register_forward_pre_hook(lambda module, args, kwargs: calls.append(kwargs["input_ids"].shape[0]),
                                            with_kwargs=True)
    return encoder, calls


def uncached(encoder: LLMTextEncoder) -> LLMTextEncoder:
    fresh = LLMTextEncoder(encoder.model, encoder.tokenizer, encoder.config)
    fresh.cache.size = 0
    return fresh


def test_a_hit_returns_equal_tensors_and_skips_the_llm(counted):
    encoder, calls = counted
    first = encoder.encode(["a red cat", "a blue dog next to a red circle"])
    assert calls == [2]
    expected = uncached(encoder).encode(["a red cat", "a blue dog next to a red circle"])
    for name in ("hidden_states", "attention_mask"):
        assert torch.equal(getattr(first, name), getattr(expected, name))  # rows put together exactly
    assert calls == [2, 2]  # the uncached encoder ran the same model once
    again = encoder.encode("a red cat")
    assert calls == [2, 2]  # the hit did not run the LLM
    count = first.token_counts[0]
    assert torch.equal(again.hidden_states[0], first.hidden_states[0, :count])
    assert again.token_counts == [count] and again.attention_mask.tolist() == [[1] * count]
    swapped = encoder.encode(["a blue dog next to a red circle", "a red cat", "a red cat"])
    assert calls == [2, 2]
    assert torch.equal(swapped.hidden_states[1], first.hidden_states[0])
    assert torch.equal(swapped.hidden_states[2], first.hidden_states[0])
    encoder.encode(["a red cat", "a green square"])
    assert calls == [2, 2, 1]  # only the new prompt went to the LLM
    assert (encoder.cache.hits, encoder.cache.misses) == (4, 3)


def test_least_recently_used_rows_leave_first(counted):
    encoder, calls = counted
    encoder.cache.size = 2
    for prompt in ("one cat", "two cats", "one cat", "three cats"):
        encoder.encode(prompt)
    assert calls == [1, 1, 1]
    encoder.encode("one cat")  # used more recently than "two cats", so kept
    assert calls == [1, 1, 1]
    encoder.encode("two cats")
    assert calls == [1, 1, 1, 1]


def test_weights_changed_in_place_are_never_served_stale(counted):
    encoder, calls = counted
    before = encoder.encode("a red cat").hidden_states
    with torch.no_grad():
        encoder.model.layers[0].mlp.down_proj.weight.mul_(2)
    after = encoder.encode("a red cat").hidden_states
    assert calls == [1, 1]
    assert not torch.allclose(before, after)


def test_a_trainable_llm_is_never_cached(counted):
    encoder, calls = counted
    encoder.model.layers[0].self_attn.q_proj.weight.requires_grad_(True)
    encoder.encode("a red cat")
    encoder.encode("a red cat")
    assert calls == [1, 1] and len(encoder.cache) == 0


def test_moving_the_encoder_empties_the_cache(counted):
    encoder, _ = counted
    encoder.encode("a red cat")
    assert len(encoder.cache) == 1
    encoder.to("cpu")
    assert len(encoder.cache) == 0


def test_truncation_still_warns_on_a_hit(tiny_models):
    encoder = LLMTextEncoder.from_pretrained(tiny_models["llama"], TextEncoderConfig(max_length=4))
    prompt = "a red cat sits on the blue square"
    lost = encoder.count_tokens([prompt])[0] - 4
    assert lost > 0
    for _ in range(2):
        with pytest.warns(TruncationWarning, match=f"tokens dropped: {lost}$"):
            assert encoder.encode(prompt).dropped_tokens == [lost]
    assert encoder.cache.hits == 1


def test_padded_rows_and_pooled_vectors_round_trip(tiny_models):
    config = TextEncoderConfig(layers=(-2,), max_length=16, padding_side="left", pad_to_max_length=True,
                               pooled="last_token")
    encoder = LLMTextEncoder.from_pretrained(tiny_models["llama"], config)
    prompts = ["a red cat", "the blue dog is next to a red circle"]
    expected = uncached(encoder).encode(prompts)
    for _ in range(2):  # a miss, then hits
        got = encoder.encode(prompts)
        for name in ("hidden_states", "attention_mask", "pooled"):
            assert torch.equal(getattr(got, name), getattr(expected, name)), name
        assert got.token_counts == expected.token_counts
    assert encoder.cache.hits == 2
