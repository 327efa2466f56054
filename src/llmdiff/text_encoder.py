"""A frozen language model used as a text encoder: prompts in, hidden states and masks out."""

from __future__ import annotations

import inspect
import json
import os
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from torch import nn

from llmdiff.checks import validate_prompt
from llmdiff.encoding_cache import EncodedRow, EncodingCache
from llmdiff.errors import UserError
from llmdiff.llm_lora import merge_llm_lora
from llmdiff.loading import LLMSource, load_llm_model, load_llm_tokenizer
from llmdiff.quantization import QUANTIZATIONS


class TruncationWarning(UserWarning):
    """A prompt was longer than the encoder's limit and lost tokens."""


DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
"""Dtypes an encoder may be asked to run in, by the names configs use."""
POOLINGS = ("last_token", "mean")


@dataclass
class TextEncoderConfig:
    """How prompts become hidden states.

    The defaults are llmdiff's own path; the other fields reproduce published systems' text paths
    (docs/text_encoders.md has a table per system).
    """

    layers: tuple[int, ...] = (-2,)
    """Hidden-state indices to read (0 = embeddings, -1 = last layer). Late layers carry the most
    context; the penultimate one avoids features specialised for next-token prediction."""
    layer_reduction: str = "mean"
    """How several layers combine: "mean" keeps the LLM's width, "concat" multiplies it."""
    max_length: int = 512
    """Most tokens a prompt keeps (special tokens included, instruction excluded)."""
    strict: bool = False
    """Raise instead of truncating a prompt over `max_length`."""
    instruction: str = ""
    """Fixed text read before every prompt (as Sana does); its positions are removed from the output."""
    padding_side: str = "right"
    """Where a batch's padding goes in the LLM's input: "right", or "left" (Kolors). Left-padded prompts
    get position ids counted from their first real token, so a prompt's states do not depend on its batch."""
    pad_to_max_length: bool = False
    """Pad every prompt to `max_length` and hand every position on, padding included, with the states
    the LLM gives it (LaVi-Bridge, ParaDiffusion and Kolors feed those to the denoiser). False: the
    output is as long as the batch's longest prompt, padding on the right, zeroed and masked."""
    pad_token_id: int | None = None
    """The token id padding positions hold; None: the tokenizer's pad token, else its EOS. Matters only where
    the padding's states reach the denoiser (`pad_to_max_length`): LaVi-Bridge's scripts pad Llama-2 with
    a '[PAD]' string its vocabulary lacks, which is id 0 (`<unk>`)."""
    add_bos: bool | None = None
    """None: the tokenizer's own special tokens; True/False: a BOS token put first, or taken away."""
    add_eos: bool | None = None
    """None: the tokenizer's own special tokens; True/False: an EOS token put last, or taken away."""
    drop_eos: bool = False
    """Keep only the positions before the first EOS token (OmniDiffusion); at least one is kept."""
    use_attention_mask: bool = True
    """False: the LLM reads the padding unmasked and the connector gets a mask of all ones
    (LaVi-Bridge). Needs `pad_to_max_length`, so that a prompt's states do not depend on its batch."""
    dtype: str | None = None
    """The dtype the LLM runs in ("float32", "float16", "bfloat16"), whatever the pipeline's: ELLA's T5
    runs in float16. Outputs are cast to the dtype the encoder was loaded for. None: that dtype."""
    pooled: str | None = None
    """A pooled vector beside the sequence: "last_token" (hidden state `pooled_layer` at the last real
    token, as Kolors reads it) or "mean" (over the output's real tokens); None: none."""
    pooled_layer: int = -1
    """The hidden state `pooled` reads (same numbering as `layers`)."""
    trust_remote_code: bool = False
    """Allow an LLM whose modelling code ships with its weights (`auto_map` in its config) to run that
    code. A saved config cannot grant this by itself: see `load_text_encoder_config`."""
    quantize: str | None = None
    """Load the LLM's linear layers in "int8" or "int4" (NF4) through bitsandbytes, on CUDA or CPU, to fit
    large LLMs in less memory (docs/text_encoders.md gives the measured cost). None: full precision."""

    def __post_init__(self) -> None:
        self.layers = tuple(int(layer) for layer in self.layers)
        if not self.layers:
            raise UserError("text encoder config: `layers` must name at least one layer")
        if self.layer_reduction not in ("mean", "concat"):
            raise UserError(
                f"text encoder config: layer_reduction must be 'mean' or 'concat', not {self.layer_reduction!r}"
            )
        if not isinstance(self.max_length, int) or isinstance(self.max_length, bool) or self.max_length < 1:
            raise UserError(f"text encoder config: max_length must be a whole number of at least 1, not {self.max_length!r}")
        if self.padding_side not in ("right", "left"):
            raise UserError(f"text encoder config: padding_side must be 'right' or 'left', not {self.padding_side!r}")
        for name in ("strict", "pad_to_max_length", "drop_eos", "use_attention_mask", "trust_remote_code"):
            if not isinstance(getattr(self, name), bool):
                raise UserError(f"text encoder config: {name} must be true or false, not {getattr(self, name)!r}")
        if self.pad_token_id is not None and (not isinstance(self.pad_token_id, int) or isinstance(self.pad_token_id, bool)
                                              or self.pad_token_id < 0):
            raise UserError(f"text encoder config: pad_token_id must be a token id (a whole number ≥ 0) or null, "
                            f"not {self.pad_token_id!r}")
        for name in ("add_bos", "add_eos"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), bool):
                raise UserError(f"text encoder config: {name} must be true, false or null, not {getattr(self, name)!r}")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise UserError(
                f"text encoder config: dtype must be one of {', '.join(DTYPES)} or null, not {self.dtype!r}"
            )
        if self.pooled is not None and self.pooled not in POOLINGS:
            raise UserError(
                f"text encoder config: pooled must be 'last_token', 'mean' or null, not {self.pooled!r}"
            )
        if not isinstance(self.pooled_layer, int) or isinstance(self.pooled_layer, bool):
            raise UserError(f"text encoder config: pooled_layer must be a whole number, not {self.pooled_layer!r}")
        if self.drop_eos and self.pad_to_max_length:
            raise UserError(
                "text encoder config: drop_eos keeps a different number of positions per prompt; "
                "it cannot be combined with pad_to_max_length"
            )
        if self.quantize is not None and self.quantize not in QUANTIZATIONS:
            raise UserError(
                f"text encoder config: quantize must be one of {', '.join(QUANTIZATIONS)} or null, not {self.quantize!r}"
            )
        if not self.use_attention_mask and not self.pad_to_max_length:
            raise UserError(
                "text encoder config: use_attention_mask=false needs pad_to_max_length=true: unmasked "
                "padding to a batch's longest prompt would change each prompt's states"
            )

    def to_dict(self) -> dict:
        """Every field as plain JSON data (`layers` as a list)."""
        return {**vars(self), "layers": list(self.layers)}

    @classmethod
    def from_dict(cls, settings: dict, where: str = "text encoder config") -> "TextEncoderConfig":
        """The config of saved settings; a key that is no field is refused by name."""
        known = {item.name for item in fields(cls)}
        unknown = [key for key in settings if key not in known]
        if unknown:
            raise UserError(
                f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(known))}"
            )
        return cls(**settings)


@dataclass
class EncodedPrompts:
    """The encoder's output for a batch.

    By default padded on the right to the longest prompt, padding zeroed and masked out. With
    `pad_to_max_length` every prompt has `max_length` positions, padding where the config puts it,
    with the states the LLM gave it, masked out unless `use_attention_mask` is off.
    """

    hidden_states: torch.Tensor
    """(batch, tokens, width)"""
    attention_mask: torch.Tensor
    """(batch, tokens), 1 for real tokens (all ones when `use_attention_mask` is off)"""
    token_counts: list[int]
    """real tokens each prompt kept (without padding)"""
    dropped_tokens: list[int] = field(default_factory=list)
    """tokens each prompt lost to truncation"""
    pooled: torch.Tensor | None = None
    """(batch, width of one hidden state) when the config asks for a pooled vector"""


@dataclass
class TokenizedPrompts:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    """1 for real tokens, 0 for padding"""
    output_mask: torch.Tensor
    """1 where the position belongs to the output (prompt and special tokens, not the instruction;
    with `pad_to_max_length` the padding too)"""
    dropped_tokens: list[int]


def _drop_unread_layers(model: nn.Module, deepest: int, num_layers: int) -> int:
    """Remove the layers after hidden state `deepest` when nothing reads them; returns the layers kept.

    Exact, not an approximation: state k is layer k's output, and only the last state passes through
    the final norm, which is replaced by the identity once the last layer is gone. Done for the
    decoder-only families' layout (`layers` + `norm`: Llama, Qwen, Gemma, Mistral...), where it saves
    up to most of the forward pass; other models run whole.
    """
    layers, norm = getattr(model, "layers", None), getattr(model, "norm", None)
    if deepest >= num_layers or not isinstance(norm, nn.Module) or not (
        isinstance(layers, nn.ModuleList) and len(layers) == num_layers
    ):
        return num_layers
    model.layers = layers[:deepest]
    model.norm = nn.Identity()
    return deepest


class LLMTextEncoder(nn.Module):
    """Any transformers language model (decoder-only or encoder) as a frozen text encoder.

    Prompts are right-padded by default: causal models never see the padding, and encoders mask it, so
    a prompt's states do not depend on which other prompts share its batch.
    """

    def __init__(self, model: nn.Module, tokenizer, config: TextEncoderConfig | None = None, name: str = ""):
        super().__init__()
        self.config = config or TextEncoderConfig()
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        if getattr(model.config, "is_encoder_decoder", False):
            self.model = model.get_encoder()  # only the encoder reads the prompt
        num_states = self._num_layers() + 1
        read = list(self.config.layers) + ([self.config.pooled_layer] if self.config.pooled else [])
        for layer in read:
            if not -num_states <= layer < num_states:
                raise UserError(
                    f"layer {layer} does not exist: the model has {num_states} hidden states (0..{num_states - 1})"
                )
        self._state_indices = [layer % num_states for layer in self.config.layers]
        self._pooled_index = self.config.pooled_layer % num_states
        self._deepest = max(layer % num_states for layer in read)
        kept = getattr(model, "layers", None)
        if isinstance(kept, nn.ModuleList) and len(kept) < num_states - 1 and self._deepest > len(kept):
            raise UserError(
                f"this model was loaded to read hidden states up to {len(kept)} only; load it again to read "
                f"layer(s) {', '.join(map(str, read))}"
            )
        if self.config.dtype is not None and self.dtype != DTYPES[self.config.dtype]:
            raise UserError(
                f"the text encoder config asks for {self.config.dtype} but the model given runs in "
                f"{str(self.dtype).removeprefix('torch.')}; load it with LLMTextEncoder.from_pretrained"
            )
        self.layers_run = num_states - 1
        """Transformer layers that run (fewer than the model has once unread ones are dropped)."""
        self.lora: str | None = None
        """The LLM LoRA folder merged into the model's weights at load, if any."""
        self.output_dtype: torch.dtype | None = None
        """The dtype outputs are cast to (the one the encoder was loaded for when `config.dtype` differs)."""
        if tokenizer.pad_token_id is None:
            # Decoder-only models often have no pad token; the EOS token is what published paths use.
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        self._instruction_ids = (
            tokenizer(self.config.instruction, add_special_tokens=False)["input_ids"] if self.config.instruction else []
        )
        self._takes_position_ids = "position_ids" in inspect.signature(self.model.forward).parameters
        self.cache = EncodingCache()
        """Rows of recently encoded prompts (`cache.size` of them; 0 turns it off)."""
        self._offload = None
        """accelerate's hook when the LLM waits on the CPU between encodings (`enable_cpu_offload`)"""
        self._offload_device: torch.device | None = None
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_pretrained(
        cls,
        llm: str | os.PathLike | None = None,
        config: TextEncoderConfig | None = None,
        dtype: torch.dtype = torch.float32,
        lora: str | os.PathLike | None = None,
        trust_remote_code: bool = False,
    ) -> "LLMTextEncoder":
        """Load a model by hub id, local directory or `.gguf` file (None: the default LLM).

        `dtype`: the dtype outputs come in; the LLM runs in it too unless `config.dtype` names another.
        `lora`: a folder holding a LoRA of this LLM (an adapter's `llm_lora/`), merged into its weights.
        `trust_remote_code` (or `config.trust_remote_code`): allow a model that ships its own code to run it.
        """
        config = config or TextEncoderConfig()
        trust = trust_remote_code or config.trust_remote_code
        run_dtype = DTYPES[config.dtype] if config.dtype is not None else dtype
        tokenizer = load_llm_tokenizer(llm, trust_remote_code=trust)
        model = load_llm_model(llm, dtype=run_dtype, trust_remote_code=trust, quantize=config.quantize)
        if config.dtype is not None and config.quantize is None:
            # Every weight in the dtype asked for, as the published paths cast their encoders (transformers
            # would keep some in float32, e.g. T5's feed-forward output).
            model = model.to(run_dtype)
        encoder = cls(model, tokenizer, config, name=LLMSource.parse(llm).describe())
        if run_dtype != dtype:
            encoder.output_dtype = dtype
        # The model is ours alone here (a model passed to __init__ may be shared, so it is left whole).
        encoder.layers_run = _drop_unread_layers(encoder.model, encoder._deepest, encoder.layers_run)
        if lora is not None:
            encoder.model = merge_llm_lora(encoder.model, lora).eval()
            encoder.model.requires_grad_(False)
            encoder.lora = str(Path(lora).resolve())
            encoder.name = f"{encoder.name} + LoRA {lora}"
        return encoder

    def _num_layers(self) -> int:
        model_config = getattr(self.model, "config", None)
        text_config = model_config.get_text_config() if hasattr(model_config, "get_text_config") else model_config
        return int(getattr(text_config, "num_hidden_layers", None) or getattr(text_config, "num_layers"))

    @property
    def hidden_size(self) -> int:
        width = self.state_size
        return width * len(self.config.layers) if self.config.layer_reduction == "concat" else width

    @property
    def state_size(self) -> int:
        """Width of one hidden state (the pooled vector's width)."""
        model_config = self.model.config
        text_config = model_config.get_text_config() if hasattr(model_config, "get_text_config") else model_config
        return int(getattr(text_config, "hidden_size", None) or getattr(text_config, "d_model"))

    @property
    def device(self) -> torch.device:
        """Where the LLM computes (with CPU offload, the accelerator it moves to for each encoding)."""
        if self._offload_device is not None:
            return self._offload_device
        return next(self.model.parameters()).device

    def enable_cpu_offload(self, device: str | torch.device) -> None:
        """Keep the LLM on the CPU and run it on `device` only while it encodes: accelerate's hook moves it
        there for the forward pass, and it goes back to the CPU as soon as a batch is encoded, so a large
        LLM and the base model need not share the accelerator's memory."""
        from accelerate import cpu_offload_with_hook

        device = torch.device(device)
        self.model.to("cpu")
        _, self._offload = cpu_offload_with_hook(self.model, device)
        self._offload_device = device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def count_tokens(self, prompts: list[str]) -> list[int]:
        """Tokens each prompt has before truncation (special tokens and instruction excluded)."""
        return [len(ids) for ids in self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]]

    def _set_bos_eos(self, head: list[int], tail: list[int]) -> tuple[list[int], list[int]]:
        """Put BOS first and EOS last, or take them away, where the config says so by hand."""
        for wanted, token, name in ((self.config.add_bos, self.tokenizer.bos_token_id, "BOS"),
                                    (self.config.add_eos, self.tokenizer.eos_token_id, "EOS")):
            if wanted is None:
                continue
            if wanted and token is None:
                raise UserError(f"the text encoder config adds a {name} token, but the tokenizer has none")
            if name == "BOS":
                present = bool(head) and head[0] == token
                head = ([token] + head if wanted and not present else head[1:] if present and not wanted else head)
            else:
                present = bool(tail) and tail[-1] == token
                tail = (tail + [token] if wanted and not present else tail[:-1] if present and not wanted else tail)
        return head, tail

    def _before_first_eos(self, ids: list[int], output: list[int]) -> list[int]:
        """The output mask cut at the first EOS among the output positions (at least one position kept)."""
        eos = self.tokenizer.eos_token_id
        first = next((i for i, (token, out) in enumerate(zip(ids, output)) if out and token == eos), None)
        if first is None:
            return output
        cut = output[:first] + [0] * (len(output) - first)
        if not any(cut):
            cut[first] = 1
        return cut

    def tokenize(self, prompts: list[str]) -> TokenizedPrompts:
        prompts = [validate_prompt(prompt) for prompt in prompts]
        config, tokenizer = self.config, self.tokenizer
        special_ids = set(tokenizer.all_special_ids)
        instruction = self._instruction_ids
        sequences, output_masks, dropped = [], [], []
        for prompt, ids in zip(prompts, tokenizer(prompts, add_special_tokens=True)["input_ids"]):
            lead = 0
            while lead < len(ids) and ids[lead] in special_ids:
                lead += 1
            trail = 0
            while trail < len(ids) - lead and ids[len(ids) - 1 - trail] in special_ids:
                trail += 1
            head, content, tail = ids[:lead], ids[lead : len(ids) - trail], ids[len(ids) - trail :]
            head, tail = self._set_bos_eos(head, tail)
            room = max(config.max_length - len(head) - len(tail), 0)
            excess = max(len(content) - room, 0)
            if excess:
                if config.strict:
                    raise UserError(
                        f"the prompt has {len(content)} tokens, over the limit of {room} "
                        f"(max_length {config.max_length}); shorten it or raise max_length"
                    )
                content = content[:room]
            if not head and not content and not tail:
                # An empty prompt still needs one position to attend to.
                tail = [tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.pad_token_id]
            sequence = head + instruction + content + tail
            output = [1] * len(head) + [0] * len(instruction) + [1] * (len(content) + len(tail))
            if config.drop_eos:
                output = self._before_first_eos(sequence, output)
            sequences.append(sequence)
            output_masks.append(output)
            dropped.append(excess)
        if config.pad_to_max_length:
            length = config.max_length + len(instruction)
        else:
            length = max(len(ids) for ids in sequences)
        pad = tokenizer.pad_token_id if config.pad_token_id is None else config.pad_token_id
        # Padding is output only when every prompt is padded to max_length (the published paths read it).
        filler = 1 if config.pad_to_max_length else 0
        rows = []
        for ids, output in zip(sequences, output_masks):
            padding = length - len(ids)
            if config.padding_side == "left":
                rows.append(([pad] * padding + ids, [0] * padding + [1] * len(ids), [filler] * padding + output))
            else:
                rows.append((ids + [pad] * padding, [1] * len(ids) + [0] * padding, output + [filler] * padding))
        input_ids, attention_mask, output_mask = (torch.tensor(list(column)) for column in zip(*rows))
        return TokenizedPrompts(input_ids, attention_mask, output_mask, dropped)

    def _pool(self, states: torch.Tensor, attention_mask: torch.Tensor, output_mask: torch.Tensor) -> torch.Tensor:
        if self.config.pooled == "last_token":
            positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
            last = (attention_mask * positions).argmax(1)  # the last real token, whichever side the padding is
            return states[torch.arange(states.shape[0], device=states.device), last]
        weights = (attention_mask * output_mask).unsqueeze(-1).to(states.dtype)
        return (states * weights).sum(1) / weights.sum(1).clamp(min=1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, output_mask: torch.Tensor) -> EncodedPrompts:
        """Hidden states of tokenized prompts; instruction positions removed, padding as the config says."""
        config = self.config
        device = self.device
        attention_mask = attention_mask.to(device)
        inputs = {"input_ids": input_ids.to(device)}
        if config.use_attention_mask:
            inputs["attention_mask"] = attention_mask
            if config.padding_side == "left" and self._takes_position_ids:
                # Positions count from each prompt's first real token, as if it were alone.
                inputs["position_ids"] = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        outputs = self.model(**inputs, output_hidden_states=True, return_dict=True)
        states = [outputs.hidden_states[index] for index in self._state_indices]
        if config.layer_reduction == "concat":
            hidden = torch.cat(states, dim=-1)
        else:
            hidden = torch.stack(states).mean(0) if len(states) > 1 else states[0]
        output_mask = output_mask.to(device)
        pooled = None
        if config.pooled is not None:
            pooled = self._pool(outputs.hidden_states[self._pooled_index], attention_mask, output_mask)
        # Move each row's output positions to the front (in their order) so the batch is padded on the right.
        counts = output_mask.sum(1)
        width = int(counts.max())
        order = torch.argsort(output_mask.to(torch.int8), dim=1, descending=True, stable=True)[:, :width]
        hidden = torch.gather(hidden, 1, order.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
        if config.pad_to_max_length:
            real = torch.gather(attention_mask, 1, order).long()
            mask = real if config.use_attention_mask else torch.ones_like(real)
            counts = real.sum(1)
        else:
            mask = (torch.arange(width, device=device)[None, :] < counts[:, None]).long()
            hidden = hidden * mask.unsqueeze(-1).to(hidden.dtype)
        if self.output_dtype is not None:
            hidden = hidden.to(self.output_dtype)
            pooled = pooled.to(self.output_dtype) if pooled is not None else None
        return EncodedPrompts(hidden, mask, counts.tolist(), pooled=pooled)

    def _encode_batch(self, prompts: list[str]) -> EncodedPrompts:
        tokens = self.tokenize(prompts)
        with torch.set_grad_enabled(torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters())):
            encoded = self(tokens.input_ids, tokens.attention_mask, tokens.output_mask)
        if self._offload is not None:
            self._offload.offload()  # the states are computed: the LLM leaves the accelerator at once
        encoded.dropped_tokens = tokens.dropped_tokens
        return encoded

    def _cache_settings(self) -> tuple:
        """Everything besides the prompt that shapes a row: settings, model object, in-place weight updates."""
        # A tensor's `_version` counts in-place changes (load_state_dict, optimiser steps), so weights
        # changed under the encoder never serve stale rows.
        weights_version = sum(parameter._version for parameter in self.model.parameters())
        settings = json.dumps(self.config.to_dict(), sort_keys=True)
        return settings, id(self.model), weights_version, str(self.output_dtype)

    def _split(self, encoded: EncodedPrompts) -> list[EncodedRow]:
        rows = []
        for index, count in enumerate(encoded.token_counts):
            width = encoded.hidden_states.shape[1] if self.config.pad_to_max_length else count
            rows.append(EncodedRow(
                encoded.hidden_states[index, :width].clone(),
                encoded.attention_mask[index, :width].clone(),
                count,
                encoded.dropped_tokens[index],
                None if encoded.pooled is None else encoded.pooled[index].clone(),
            ))
        return rows

    @staticmethod
    def _join(rows: list[EncodedRow]) -> EncodedPrompts:
        width = max(row.hidden_states.shape[0] for row in rows)
        first = rows[0].hidden_states
        hidden = first.new_zeros((len(rows), width, first.shape[-1]))
        mask = rows[0].attention_mask.new_zeros((len(rows), width))
        for index, row in enumerate(rows):
            hidden[index, : row.hidden_states.shape[0]] = row.hidden_states
            mask[index, : row.attention_mask.shape[0]] = row.attention_mask
        pooled = None if rows[0].pooled is None else torch.stack([row.pooled for row in rows])
        return EncodedPrompts(hidden, mask, [row.token_count for row in rows], [row.dropped_tokens for row in rows],
                              pooled)

    def encode(self, prompts: str | list[str]) -> EncodedPrompts:
        """Encode one prompt or a batch; grad flows only if some LLM parameters were made trainable.

        A frozen encoder keeps the last `cache.size` prompts' rows, so a repeated prompt (the negative
        prompt above all) skips the LLM.
        """
        if isinstance(prompts, str):
            prompts = [prompts]
        if not prompts:
            raise UserError("no prompts to encode")
        prompts = [validate_prompt(prompt) for prompt in prompts]
        if self.cache.size == 0 or any(parameter.requires_grad for parameter in self.parameters()):
            encoded = self._encode_batch(prompts)
        else:
            settings = self._cache_settings()
            found = {prompt: self.cache.get((prompt, settings)) for prompt in dict.fromkeys(prompts)}
            missing = [prompt for prompt, row in found.items() if row is None]
            if missing:
                for prompt, row in zip(missing, self._split(self._encode_batch(missing))):
                    self.cache.put((prompt, settings), row)
                    found[prompt] = row
            encoded = self._join([found[prompt] for prompt in prompts])
        dropped = [count for count in encoded.dropped_tokens if count]
        if dropped:
            warnings.warn(
                f"{len(dropped)} prompt(s) over the {self.config.max_length}-token limit were truncated; "
                f"tokens dropped: {', '.join(map(str, dropped))}",
                TruncationWarning,
                stacklevel=2,
            )
        return encoded

    def _apply(self, fn, *args, **kwargs):
        # Moving or casting the model (`.to`, `.half`) leaves cached rows on the old device or dtype.
        self.cache.clear()
        return super()._apply(fn, *args, **kwargs)
