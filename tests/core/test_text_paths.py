"""Published systems' text paths, each against a reference computed here with transformers alone.

The references follow each project's own encoding code (see docs/text_encoders.md): same tokenizer
calls, same model class, same hidden state. The tiny models are random instances of the real classes.
"""

import json

import pytest
import torch

from llmdiff.errors import UserError
from llmdiff.pipeline import TEXT_ENCODER_CONFIG_NAME, load_text_encoder_config, save_text_encoder_config
from llmdiff.text_encoder import LLMTextEncoder, TextEncoderConfig

PROMPTS = ["a red cat", "the blue dog is next to a red circle, and a small square sits below it", "一只红色的猫"]


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory):
    from llmdiff.testing import make_tiny_llm

    return make_tiny_llm(tmp_path_factory.mktemp("t5") / "t5", "t5")


@pytest.fixture(scope="module")
def llama_reference(tiny_models):
    """The tiny Llama as a user of transformers loads it, with its tokenizer."""
    from transformers import AutoTokenizer, LlamaModel

    return LlamaModel.from_pretrained(tiny_models["llama"]).eval(), AutoTokenizer.from_pretrained(tiny_models["llama"])


def close(ours: torch.Tensor, reference: torch.Tensor, tolerance: float = 1e-5) -> bool:
    """Equal up to kernel-order rounding, relative to the largest value (masked and unmasked attention
    take different kernels, so bit-equality is not expected)."""
    assert ours.shape == reference.shape, (ours.shape, reference.shape)
    scale = reference.abs().max().clamp(min=1e-6)
    return float((ours.float() - reference.float()).abs().max() / scale) < tolerance


# Which state is which: transformers' hidden_states[-1] is after the final norm, [-2] before it.


@pytest.mark.parametrize("architecture", ["llama", "qwen2"])
def test_last_hidden_state_is_after_the_final_norm(tiny_models, architecture):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(tiny_models[architecture]).eval()
    seen = {}
    model.norm.register_forward_hook(lambda module, inputs, output: seen.update(before=inputs[0]))
    model.layers[-2].register_forward_hook(lambda module, inputs, output: seen.update(second_last=output))
    with torch.no_grad():
        out = model(input_ids=torch.tensor([[5, 6, 7, 8]]), output_hidden_states=True)
    assert torch.equal(out.hidden_states[-1], out.last_hidden_state)
    assert torch.equal(out.hidden_states[-1], model.norm(seen["before"]))
    assert not torch.allclose(out.hidden_states[-1], seen["before"])
    second_last = seen["second_last"][0] if isinstance(seen["second_last"], tuple) else seen["second_last"]
    assert torch.equal(out.hidden_states[-2], second_last)  # the penultimate state never meets the norm


def test_t5_last_hidden_state_is_after_the_final_norm(tiny_t5):
    from transformers import T5EncoderModel

    model = T5EncoderModel.from_pretrained(tiny_t5).eval()
    seen = {}
    model.encoder.final_layer_norm.register_forward_hook(lambda module, inputs, output: seen.update(after=output))
    with torch.no_grad():
        out = model(input_ids=torch.tensor([[5, 6, 7, 1]]), output_hidden_states=True)
    assert torch.equal(out.hidden_states[-1], out.last_hidden_state)
    assert torch.equal(out.last_hidden_state, seen["after"])


# OmniDiffusion: final state, BOS + prompt (<= 227 tokens) + EOS by hand, positions before the first EOS.

OMNIDIFFUSION = dict(layers=(-1,), max_length=229, add_bos=True, add_eos=True, drop_eos=True)


def omnidiffusion_reference(model, tokenizer, prompt: str) -> torch.Tensor:
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"][:227]
    ids = [tokenizer.bos_token_id] + ids + [tokenizer.eos_token_id]
    with torch.no_grad():
        states = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[-1]
    return states[:, : ids.index(tokenizer.eos_token_id)]


def test_omnidiffusion_path(tiny_models, llama_reference):
    model, tokenizer = llama_reference
    encoder = LLMTextEncoder.from_pretrained(tiny_models["llama"], TextEncoderConfig(**OMNIDIFFUSION))
    encoder.cache.size = 0  # the batch below must be computed, not put together from rows seen alone
    long_prompt = "a red circle above a blue square " * 40  # well over 227 tokens
    for prompt in [*PROMPTS, long_prompt]:
        reference = omnidiffusion_reference(model, tokenizer, prompt)
        with pytest.warns(UserWarning) if prompt is long_prompt else _no_warning():
            ours = encoder.encode(prompt)
        assert close(ours.hidden_states, reference), prompt
        assert ours.token_counts == [reference.shape[1]]
    assert ours.hidden_states.shape[1] == 228  # BOS + 227 tokens; the EOS is cut
    # In a batch, rows are padded on the right, zeroed and masked, and equal to the prompt alone.
    batch = encoder.encode(PROMPTS)
    for row, prompt in enumerate(PROMPTS):
        reference = omnidiffusion_reference(model, tokenizer, prompt)
        length = reference.shape[1]
        assert close(batch.hidden_states[row : row + 1, :length], reference)
        assert batch.attention_mask[row].tolist() == [1] * length + [0] * (batch.attention_mask.shape[1] - length)
        assert batch.hidden_states[row, length:].abs().sum() == 0


def _no_warning():
    import contextlib
    import warnings

    @contextlib.contextmanager
    def context():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield

    return context()


def test_eos_inside_the_prompt_cuts_there(tiny_models, llama_reference):
    _, tokenizer = llama_reference
    encoder = LLMTextEncoder.from_pretrained(tiny_models["llama"], TextEncoderConfig(**OMNIDIFFUSION))
    cut = encoder.encode(f"a red cat{tokenizer.eos_token} and a blue dog")
    assert cut.token_counts == [1 + len(tokenizer("a red cat", add_special_tokens=False)["input_ids"])]
    assert encoder.encode("").token_counts == [1]  # BOS alone


# ParaDiffusion: LlamaModel last_hidden_state with the mask; 256 tokens, right padding, pad = EOS.


def test_paradiffusion_path(tiny_models, llama_reference):
    model, tokenizer = llama_reference
    tokenizer.pad_token = tokenizer.eos_token
    tokens = tokenizer(PROMPTS, padding="max_length", max_length=256, truncation=True, return_tensors="pt")
    with torch.no_grad():
        reference = model(**tokens).last_hidden_state
    config = TextEncoderConfig(layers=(-1,), max_length=256, pad_to_max_length=True)
    ours = LLMTextEncoder.from_pretrained(tiny_models["llama"], config).encode(PROMPTS)
    assert close(ours.hidden_states, reference)  # padding positions too: the UNet reads them
    assert torch.equal(ours.attention_mask, tokens.attention_mask)
    assert ours.token_counts == tokens.attention_mask.sum(1).tolist()
    assert ours.hidden_states[0, -1].abs().sum() > 0


# ELLA: FLAN-T5 encoder last_hidden_state in float16, 128 tokens padded (or unpadded).


def test_ella_path(tiny_t5):
    from transformers import AutoTokenizer, T5EncoderModel

    tokenizer = AutoTokenizer.from_pretrained(tiny_t5)
    model = T5EncoderModel.from_pretrained(tiny_t5).to(torch.float16).eval()
    prompts = ["a red cat", "the blue dog is next to a red circle"]
    tokens = tokenizer(prompts, padding="max_length", max_length=128, truncation=True, return_tensors="pt")
    with torch.no_grad():
        reference = model(**tokens).last_hidden_state
    config = TextEncoderConfig(layers=(-1,), max_length=128, pad_to_max_length=True, dtype="float16")
    encoder = LLMTextEncoder.from_pretrained(tiny_t5, config, dtype=torch.float32)
    assert {parameter.dtype for parameter in encoder.parameters()} == {torch.float16}
    ours = encoder.encode(prompts)
    assert ours.hidden_states.dtype == torch.float32  # cast for the connector, which runs in the pipeline's dtype
    assert torch.equal(ours.hidden_states, reference.float())
    assert torch.equal(ours.attention_mask, tokens.attention_mask)
    # Unpadded, one prompt at a time, as ELLA's inference script does.
    unpadded = LLMTextEncoder(encoder.model, encoder.tokenizer, TextEncoderConfig(layers=(-1,), dtype="float16"))
    for prompt in prompts:
        with torch.no_grad():
            alone = model(**tokenizer(prompt, return_tensors="pt")).last_hidden_state
        assert torch.equal(unpadded.encode(prompt).hidden_states, alone)


def test_eos_taken_away_by_hand(tiny_t5):
    encoder = LLMTextEncoder.from_pretrained(tiny_t5, TextEncoderConfig(layers=(-1,), add_eos=False))
    assert encoder.encode("a red cat").token_counts == encoder.count_tokens(["a red cat"]) == [3]
    kept = LLMTextEncoder(encoder.model, encoder.tokenizer, TextEncoderConfig(layers=(-1,)))
    assert kept.encode("a red cat").token_counts == [4]  # T5's own </s>
    with pytest.raises(UserError, match="adds a BOS token, but the tokenizer has none"):
        LLMTextEncoder(encoder.model, encoder.tokenizer, TextEncoderConfig(add_bos=True)).encode("a cat")


# LaVi-Bridge: Llama final state, 77 tokens padded to max length, no mask to the LLM or the adapter.


def test_lavi_bridge_path(tiny_models, llama_reference):
    model, tokenizer = llama_reference
    tokens = tokenizer(PROMPTS, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
    with torch.no_grad():
        reference = model(input_ids=tokens.input_ids).last_hidden_state
    config = TextEncoderConfig(layers=(-1,), max_length=77, pad_to_max_length=True, use_attention_mask=False)
    ours = LLMTextEncoder.from_pretrained(tiny_models["llama"], config).encode(PROMPTS)
    assert close(ours.hidden_states, reference)
    assert torch.equal(ours.attention_mask, torch.ones(3, 77, dtype=torch.long))
    assert ours.token_counts == tokens.attention_mask.sum(1).tolist()


def test_lavi_bridge_llama_pads_with_the_id_its_scripts_pad_with(tiny_models, llama_reference):
    """Its scripts set pad_token = '[PAD]', which Llama-2's vocabulary lacks: the padding is id 0."""
    model, tokenizer = llama_reference
    tokens = tokenizer(PROMPTS, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
    input_ids = tokens.input_ids.masked_fill(tokens.attention_mask == 0, 0)
    with torch.no_grad():
        reference = model(input_ids=input_ids).last_hidden_state
    config = TextEncoderConfig(layers=(-1,), max_length=77, pad_to_max_length=True, use_attention_mask=False,
                               pad_token_id=0)
    ours = LLMTextEncoder.from_pretrained(tiny_models["llama"], config).encode(PROMPTS)
    assert close(ours.hidden_states, reference)
    eos_padded = LLMTextEncoder.from_pretrained(
        tiny_models["llama"], TextEncoderConfig(layers=(-1,), max_length=77, pad_to_max_length=True,
                                                use_attention_mask=False)).encode(PROMPTS)
    assert not close(eos_padded.hidden_states, reference)  # the padding id reaches the states the UNet reads
    with pytest.raises(UserError, match="pad_token_id"):
        TextEncoderConfig(pad_token_id=-1)


# Kolors: penultimate state (before the final norm), left padding to 256, pooled = last state at the
# last position. ChatGLM3's tokenizer gives left-padded prompts position ids from 0 at the first token.

KOLORS = dict(layers=(-2,), max_length=256, padding_side="left", pad_to_max_length=True, pooled="last_token")


def test_kolors_path(tiny_models, llama_reference):
    model, tokenizer = llama_reference
    tokenizer.padding_side = "left"
    try:
        tokens = tokenizer(PROMPTS, padding="max_length", max_length=256, truncation=True, return_tensors="pt")
    finally:
        tokenizer.padding_side = "right"
    positions = (tokens.attention_mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        out = model(**tokens, position_ids=positions, output_hidden_states=True)
    encoder = LLMTextEncoder.from_pretrained(tiny_models["llama"], TextEncoderConfig(**KOLORS))
    encoder.cache.size = 0
    assert encoder.layers_run == model.config.num_hidden_layers  # the pooled vector reads the last layer
    ours = encoder.encode(PROMPTS)
    assert close(ours.hidden_states, out.hidden_states[-2])
    assert close(ours.pooled, out.hidden_states[-1][:, -1])
    assert torch.equal(ours.attention_mask, tokens.attention_mask)
    assert ours.attention_mask[0, 0] == 0 and ours.attention_mask[0, -1] == 1  # padding on the left
    # Alone or in a batch, a prompt's states are the same.
    alone = encoder.encode(PROMPTS[0])
    real = slice(256 - alone.token_counts[0], 256)
    assert close(alone.hidden_states[:, real], ours.hidden_states[:1, real])
    assert close(alone.pooled, ours.pooled[:1])


def test_left_padding_counts_positions_from_the_first_real_token(tiny_models):
    """Rotary models hardly notice shifted positions; BERT's absolute position embeddings do."""
    encoder = LLMTextEncoder.from_pretrained(tiny_models["bert"], TextEncoderConfig(padding_side="left"))
    encoder.cache.size = 0
    batch = encoder.encode(["a red cat", "the blue dog is next to a red circle"])
    alone = encoder.encode("a red cat")
    length = alone.token_counts[0]
    assert close(batch.hidden_states[:1, :length], alone.hidden_states)
    assert batch.hidden_states[0, length:].abs().sum() == 0  # handed on with the padding on the right


def test_mean_pooling_and_the_layers_it_keeps(tiny_models):
    config = TextEncoderConfig(layers=(1,), pooled="mean", pooled_layer=2)
    encoder = LLMTextEncoder.from_pretrained(tiny_models["llama"], config)
    assert encoder.layers_run == 2  # layer 3 is read by nothing and dropped; layer 2 stays for the pooled vector
    whole = LLMTextEncoder.from_pretrained(tiny_models["llama"], TextEncoderConfig(layers=(2,)))
    encoded, states = encoder.encode(PROMPTS), whole.encode(PROMPTS)
    expected = states.hidden_states.sum(1) / states.attention_mask.sum(1, keepdim=True)
    assert encoded.pooled.shape == (3, encoder.state_size)
    assert close(encoded.pooled, expected)
    assert encoder.encode(PROMPTS[0]).pooled is not None
    assert whole.encode(PROMPTS[0]).pooled is None
    with pytest.raises(UserError, match="layer 9 does not exist"):
        LLMTextEncoder(whole.model, whole.tokenizer, TextEncoderConfig(pooled="mean", pooled_layer=9))


def test_run_dtype_differs_from_the_pipelines(tiny_models, llama_reference):
    model, tokenizer = llama_reference
    encoder = LLMTextEncoder.from_pretrained(tiny_models["llama"], TextEncoderConfig(layers=(-1,), dtype="bfloat16"))
    assert encoder.dtype == torch.bfloat16
    ours = encoder.encode("a red cat")
    assert ours.hidden_states.dtype == torch.float32
    with torch.no_grad():
        reference = model.to(torch.bfloat16)(**tokenizer(["a red cat"], return_tensors="pt")).last_hidden_state
    model.to(torch.float32)
    assert torch.equal(ours.hidden_states, reference.float())
    with pytest.raises(UserError, match="asks for float16 but the model given runs in bfloat16"):
        LLMTextEncoder(encoder.model, tokenizer, TextEncoderConfig(dtype="float16"))


def test_default_path_is_unchanged(tiny_models):
    """Every new field at its default reads exactly what the encoder read before they existed."""
    encoder = LLMTextEncoder.from_pretrained(tiny_models["llama"], TextEncoderConfig(layers=(-1,)))
    tokens = encoder.tokenizer(PROMPTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        reference = encoder.model(**tokens).last_hidden_state * tokens.attention_mask[..., None]
    ours = encoder.encode(PROMPTS)
    assert torch.equal(ours.hidden_states, reference)
    assert ours.pooled is None


# Settings: validation and text_encoder_config.json.

ALL_FIELDS = dict(
    layers=(-2,), layer_reduction="mean", max_length=256, strict=True, instruction="Describe: ",
    padding_side="left", pad_to_max_length=True, add_bos=False, add_eos=True, drop_eos=False,
    use_attention_mask=True, dtype="float16", pooled="last_token", pooled_layer=-1, trust_remote_code=True,
)


def test_settings_round_trip(tmp_path):
    config = TextEncoderConfig(**ALL_FIELDS)
    save_text_encoder_config(tmp_path, config, llm="some/llm")
    assert load_text_encoder_config(tmp_path, trust_remote_code=True) == ("some/llm", config)
    # A folder cannot grant itself remote code.
    assert load_text_encoder_config(tmp_path)[1].trust_remote_code is False


def test_old_settings_files_load_with_defaults(tmp_path):
    (tmp_path / TEXT_ENCODER_CONFIG_NAME).write_text(json.dumps(
        {"layers": [15], "layer_reduction": "mean", "max_length": 512, "strict": False, "instruction": ""}
    ))
    assert load_text_encoder_config(tmp_path) == (None, TextEncoderConfig(layers=(15,)))


def test_unknown_settings_key_is_named(tmp_path):
    (tmp_path / TEXT_ENCODER_CONFIG_NAME).write_text(json.dumps({"layers": [15], "paddingside": "left"}))
    with pytest.raises(UserError, match="unknown key 'paddingside'") as error:
        load_text_encoder_config(tmp_path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("field, value, message", [
    ("padding_side", "top", "padding_side must be 'right' or 'left'"),
    ("pad_to_max_length", "yes", "pad_to_max_length must be true or false"),
    ("add_bos", 1, "add_bos must be true, false or null"),
    ("add_eos", "no", "add_eos must be true, false or null"),
    ("drop_eos", None, "drop_eos must be true or false"),
    ("use_attention_mask", 0, "use_attention_mask must be true or false"),
    ("dtype", "float8", "dtype must be one of float32, float16, bfloat16 or null"),
    ("pooled", "max", "pooled must be 'last_token', 'mean' or null"),
    ("pooled_layer", "last", "pooled_layer must be a whole number"),
    ("trust_remote_code", "true", "trust_remote_code must be true or false"),
    ("max_length", 0, "max_length must be a whole number of at least 1"),
])
def test_bad_settings_give_one_line(field, value, message):
    with pytest.raises(UserError, match=message) as error:
        TextEncoderConfig(**{field: value})
    assert "\n" not in str(error.value)


def test_settings_that_cannot_go_together():
    with pytest.raises(UserError, match="drop_eos .* cannot be combined with pad_to_max_length"):
        TextEncoderConfig(drop_eos=True, pad_to_max_length=True)
    with pytest.raises(UserError, match="use_attention_mask=false needs pad_to_max_length=true"):
        TextEncoderConfig(use_attention_mask=False)


# Remote code: a model folder whose config names its own code loads only on opt-in.

REMOTE_MODULE = '''
from transformers import LlamaConfig, LlamaModel


class TinyRemoteConfig(LlamaConfig):
    model_type = "tiny_remote"


class TinyRemoteModel(LlamaModel):
    config_class = TinyRemoteConfig

    def __init__(self, config):
        super().__init__(config)
        self.ran_folder_code = True
'''


@pytest.fixture(scope="module")
def remote_llm(tiny_models, tmp_path_factory):
    import shutil

    folder = tmp_path_factory.mktemp("remote") / "llm"
    shutil.copytree(tiny_models["llama"], folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="tiny_remote", architectures=["TinyRemoteModel"], auto_map={
        "AutoConfig": "modeling_tiny_remote.TinyRemoteConfig",
        "AutoModel": "modeling_tiny_remote.TinyRemoteModel",
    })
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_tiny_remote.py").write_text(REMOTE_MODULE)
    return folder


@pytest.fixture
def modules_cache(tmp_path, monkeypatch):
    """transformers copies remote code into a modules cache; keep this test's copy in its own folder."""
    import sys

    import transformers.dynamic_module_utils as dynamic

    monkeypatch.setattr(dynamic, "HF_MODULES_CACHE", str(tmp_path / "modules"))
    monkeypatch.setattr(sys, "path", list(sys.path))


def test_remote_code_needs_opt_in(remote_llm, modules_cache):
    with pytest.raises(UserError, match=r"runs its own code \(auto_map in its config.json\).*--trust-remote-code"):
        LLMTextEncoder.from_pretrained(remote_llm)
    with pytest.raises(UserError, match="trust_remote_code=True"):
        LLMTextEncoder.from_pretrained(remote_llm, TextEncoderConfig(layers=(-1,)))
    for encoder in (LLMTextEncoder.from_pretrained(remote_llm, TextEncoderConfig(layers=(-1,)), trust_remote_code=True),
                    LLMTextEncoder.from_pretrained(remote_llm, TextEncoderConfig(layers=(-1,), trust_remote_code=True))):
        assert type(encoder.model).__name__ == "TinyRemoteModel"
        assert encoder.model.ran_folder_code is True
        assert encoder.encode("a red cat").hidden_states.shape == (1, 3, 64)


def test_cli_refuses_remote_code_without_the_flag(remote_llm, tiny_models, tmp_path, capsys, modules_cache):
    from llmdiff.cli.main import main

    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    assert "--trust-remote-code" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "--trust-remote-code" in capsys.readouterr().out
    args = ["a red cat", "-o", str(tmp_path / "cat.png"), "--base", str(tiny_models["sd"]), "--llm", str(remote_llm),
            "--steps", "1", "--width", "32", "--height", "32"]
    assert main(["generate", *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    # the "loading …" line, then the refusal in one line naming the flag
    assert len(lines) == 2 and lines[0].startswith("loading ") and "--trust-remote-code" in lines[1]
    assert main(["generate", *args, "--trust-remote-code"]) == 0, capsys.readouterr().err
    assert (tmp_path / "cat.png").is_file()
