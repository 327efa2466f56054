"""A frozen language model used as a text encoder: prompts in, hidden states and masks out."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from llmdiff.errors import UserError
from llmdiff.llm_lora import merge_llm_lora
from llmdiff.loading import LLMSource, load_llm_model, load_llm_tokenizer


class TruncationWarning(UserWarning):
    """A prompt was longer than the encoder's limit and lost tokens."""


@dataclass
class TextEncoderConfig:
    """How prompts become hidden states."""

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

    def __post_init__(self) -> None:
        self.layers = tuple(int(layer) for layer in self.layers)
        if not self.layers:
            raise UserError("text encoder config: `layers` must name at least one layer")
        if self.layer_reduction not in ("mean", "concat"):
            raise UserError(
                f"text encoder config: layer_reduction must be 'mean' or 'concat', not {self.layer_reduction!r}"
            )
        if self.max_length < 1:
            raise UserError(f"text encoder config: max_length must be at least 1, not {self.max_length}")

    def to_dict(self) -> dict:
        """Every field as plain JSON data (`layers` as a list)."""
        return {**vars(self), "layers": list(self.layers)}


@dataclass
class EncodedPrompts:
    """The encoder's output for a batch: padded to the longest prompt, padding zeroed and masked out."""

    hidden_states: torch.Tensor
    """(batch, tokens, width)"""
    attention_mask: torch.Tensor
    """(batch, tokens), 1 for real tokens"""
    token_counts: list[int]
    """tokens each prompt kept (the attention mask's row sums)"""
    dropped_tokens: list[int] = field(default_factory=list)
    """tokens each prompt lost to truncation"""


@dataclass
class TokenizedPrompts:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    output_mask: torch.Tensor
    """1 where the position belongs to the output (prompt and special tokens, not the instruction)"""
    dropped_tokens: list[int]


def validate_prompt(prompt: object) -> str:
    """Reject what cannot be a prompt; the empty string is allowed and means 'unconditional'."""
    if not isinstance(prompt, str):
        raise UserError(f"a prompt must be a string, not {type(prompt).__name__}")
    if "\x00" in prompt:
        raise UserError("the prompt contains a NUL byte")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as error:
        # A lone UTF-16 surrogate (JSON allows "\ud800") is no character: tokenizers fail on it.
        raise UserError(
            f"the prompt contains an unpaired surrogate (U+{ord(prompt[error.start]):04X}) at character {error.start}"
        ) from None
    if prompt and not prompt.strip():
        raise UserError("the prompt is only whitespace; pass an empty prompt for an unconditional image")
    return prompt


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

    Prompts are right-padded: causal models never see the padding, and encoders mask it, so a prompt's
    states do not depend on which other prompts share its batch.
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
        for layer in self.config.layers:
            if not -num_states <= layer < num_states:
                raise UserError(
                    f"layer {layer} does not exist: the model has {num_states} hidden states (0..{num_states - 1})"
                )
        self._state_indices = [layer % num_states for layer in self.config.layers]
        kept = getattr(model, "layers", None)
        if isinstance(kept, nn.ModuleList) and len(kept) < num_states - 1 and max(self._state_indices) > len(kept):
            raise UserError(
                f"this model was loaded to read hidden states up to {len(kept)} only; load it again to read "
                f"layer(s) {', '.join(map(str, self.config.layers))}"
            )
        self.layers_run = num_states - 1
        """Transformer layers that run (fewer than the model has once unread ones are dropped)."""
        self.lora: str | None = None
        """The LLM LoRA folder merged into the model's weights at load, if any."""
        if tokenizer.pad_token_id is None:
            # Decoder-only models often have no pad token; any id works since padding is masked out.
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        self._instruction_ids = (
            tokenizer(self.config.instruction, add_special_tokens=False)["input_ids"] if self.config.instruction else []
        )
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_pretrained(
        cls,
        llm: str | os.PathLike | None = None,
        config: TextEncoderConfig | None = None,
        dtype: torch.dtype = torch.float32,
        lora: str | os.PathLike | None = None,
    ) -> "LLMTextEncoder":
        """Load a model by hub id, local directory or `.gguf` file (None: the default LLM).

        `lora`: a folder holding a LoRA of this LLM (an adapter's `llm_lora/`), merged into its weights.
        """
        tokenizer = load_llm_tokenizer(llm)
        model = load_llm_model(llm, dtype=dtype)
        encoder = cls(model, tokenizer, config, name=LLMSource.parse(llm).describe())
        # The model is ours alone here (a model passed to __init__ may be shared, so it is left whole).
        encoder.layers_run = _drop_unread_layers(encoder.model, max(encoder._state_indices), encoder.layers_run)
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
        model_config = self.model.config
        text_config = model_config.get_text_config() if hasattr(model_config, "get_text_config") else model_config
        width = int(getattr(text_config, "hidden_size", None) or getattr(text_config, "d_model"))
        return width * len(self.config.layers) if self.config.layer_reduction == "concat" else width

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def count_tokens(self, prompts: list[str]) -> list[int]:
        """Tokens each prompt has before truncation (special tokens and instruction excluded)."""
        return [len(ids) for ids in self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]]

    def tokenize(self, prompts: list[str]) -> TokenizedPrompts:
        prompts = [validate_prompt(prompt) for prompt in prompts]
        tokenizer = self.tokenizer
        special_ids = set(tokenizer.all_special_ids)
        sequences, output_masks, dropped = [], [], []
        for prompt, ids in zip(prompts, tokenizer(prompts, add_special_tokens=True)["input_ids"]):
            lead = 0
            while lead < len(ids) and ids[lead] in special_ids:
                lead += 1
            trail = 0
            while trail < len(ids) - lead and ids[len(ids) - 1 - trail] in special_ids:
                trail += 1
            head, content, tail = ids[:lead], ids[lead : len(ids) - trail], ids[len(ids) - trail :]
            room = max(self.config.max_length - lead - trail, 0)
            excess = max(len(content) - room, 0)
            if excess:
                if self.config.strict:
                    raise UserError(
                        f"the prompt has {len(content)} tokens, over the limit of {room} "
                        f"(max_length {self.config.max_length}); shorten it or raise max_length"
                    )
                content = content[:room]
            if not head and not content and not tail:
                # An empty prompt still needs one position to attend to.
                tail = [tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.pad_token_id]
            instruction = self._instruction_ids
            sequences.append(head + instruction + content + tail)
            output_masks.append([1] * len(head) + [0] * len(instruction) + [1] * (len(content) + len(tail)))
            dropped.append(excess)
        if any(dropped):
            total = sum(1 for count in dropped if count)
            warnings.warn(
                f"{total} prompt(s) over the {self.config.max_length}-token limit were truncated; "
                f"tokens dropped: {', '.join(str(count) for count in dropped if count)}",
                TruncationWarning,
                stacklevel=3,
            )
        length = max(len(ids) for ids in sequences)
        pad = tokenizer.pad_token_id
        input_ids = torch.tensor([ids + [pad] * (length - len(ids)) for ids in sequences])
        attention_mask = torch.tensor([[1] * len(ids) + [0] * (length - len(ids)) for ids in sequences])
        output_mask = torch.tensor([mask + [0] * (length - len(mask)) for mask in output_masks])
        return TokenizedPrompts(input_ids, attention_mask, output_mask, dropped)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, output_mask: torch.Tensor) -> EncodedPrompts:
        """Hidden states of tokenized prompts; instruction positions removed, padding zeroed."""
        device = self.device
        outputs = self.model(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            output_hidden_states=True,
            return_dict=True,
        )
        states = [outputs.hidden_states[index] for index in self._state_indices]
        if self.config.layer_reduction == "concat":
            hidden = torch.cat(states, dim=-1)
        else:
            hidden = torch.stack(states).mean(0) if len(states) > 1 else states[0]
        # Move each row's output positions to the front so the batch is padded on the right.
        output_mask = output_mask.to(device)
        counts = output_mask.sum(1)
        width = int(counts.max())
        order = torch.argsort(output_mask.to(torch.int8), dim=1, descending=True, stable=True)[:, :width]
        hidden = torch.gather(hidden, 1, order.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
        mask = (torch.arange(width, device=device)[None, :] < counts[:, None]).long()
        hidden = hidden * mask.unsqueeze(-1).to(hidden.dtype)
        return EncodedPrompts(hidden, mask, counts.tolist())

    def encode(self, prompts: str | list[str]) -> EncodedPrompts:
        """Encode one prompt or a batch; grad flows only if some LLM parameters were made trainable."""
        if isinstance(prompts, str):
            prompts = [prompts]
        if not prompts:
            raise UserError("no prompts to encode")
        tokens = self.tokenize(list(prompts))
        with torch.set_grad_enabled(torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters())):
            encoded = self(tokens.input_ids, tokens.attention_mask, tokens.output_mask)
        encoded.dropped_tokens = tokens.dropped_tokens
        return encoded

