"""The base model's own CLIP text encoder(s), reading long captions in 75-token chunks.

Stage 1 teaches the adapter to reproduce these features; the `base` stage trains the UNet on them.

Chunking (as the seed code): the caption's tokens, without special tokens, are cut into `chunks`
consecutive pieces of 75; each piece is encoded on its own as `[BOS] piece [EOS] pad…` (77 positions).
The sequence kept is the first chunk's BOS state, positions 1-75 of every chunk, then the last position of
the last chunk: 75 × chunks + 2 positions (227 for 3 chunks). With one chunk this is exactly the stock
77-token encoding, so a caption of up to 75 tokens gets the features the base model was trained on.
Missing chunks encode the empty caption (`[BOS] [EOS] pad…`); longer captions are truncated and counted.

SD1.5-family: the encoder's final (layer-normed) states. SDXL-family: the penultimate states of both
encoders concatenated along the width (768 + 1280), and the second encoder's projected pooled vector of
the first chunk. The family is read from the UNet config, never from a name.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

CHUNK = 75
CLIP_LENGTH = CHUNK + 2


def teacher_length(chunks: int) -> int:
    return CHUNK * chunks + 2


@dataclass
class TeacherOutput:
    states: torch.Tensor
    """(batch, 75 × chunks + 2, width)"""
    pooled: torch.Tensor | None
    """(batch, pooled width) for SDXL, else None"""
    truncated: int = 0
    """captions longer than the chunks could hold"""


class CLIPTeacher(nn.Module):
    """One or two CLIP text encoders with their tokenizers; frozen unless `requires_grad_` says otherwise."""

    def __init__(self, tokenizers: list, encoders: list[nn.Module], family: str, chunks: int = 3):
        super().__init__()
        self.tokenizers = tokenizers
        self.encoders = nn.ModuleList(encoders)
        self.family = family
        self.chunks = chunks

    @classmethod
    def from_pipeline(cls, pipeline, family: str, chunks: int = 3) -> "CLIPTeacher":
        if family == "sdxl":
            return cls([pipeline.tokenizer, pipeline.tokenizer_2], [pipeline.text_encoder, pipeline.text_encoder_2],
                       family, chunks)
        return cls([pipeline.tokenizer], [pipeline.text_encoder], family, chunks)

    @property
    def length(self) -> int:
        return teacher_length(self.chunks)

    @property
    def width(self) -> int:
        return sum(encoder.config.hidden_size for encoder in self.encoders)

    @property
    def pooled_width(self) -> int | None:
        return self.encoders[-1].config.projection_dim if self.family == "sdxl" else None

    def chunk_ids(self, tokenizer, texts: list[str]) -> tuple[torch.Tensor, int]:
        """(batch, chunks, 77) token ids, and how many texts lost tokens."""
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        rows, truncated = [], 0
        for ids in tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]:
            truncated += len(ids) > CHUNK * self.chunks
            chunks = []
            for index in range(self.chunks):
                piece = ids[index * CHUNK : (index + 1) * CHUNK]
                sequence = [tokenizer.bos_token_id] + piece + [tokenizer.eos_token_id]
                chunks.append(sequence + [pad] * (CLIP_LENGTH - len(sequence)))
            rows.append(chunks)
        return torch.tensor(rows), truncated

    def forward(self, texts: list[str]) -> TeacherOutput:
        parts, pooled, truncated = [], None, 0
        for tokenizer, encoder in zip(self.tokenizers, self.encoders):
            ids, truncated = self.chunk_ids(tokenizer, texts)
            batch = ids.shape[0]
            device = next(encoder.parameters()).device
            out = encoder(ids.flatten(0, 1).to(device), output_hidden_states=self.family == "sdxl")
            states = out.hidden_states[-2] if self.family == "sdxl" else out.last_hidden_state
            states = states.view(batch, self.chunks, CLIP_LENGTH, -1)
            joined = torch.cat(
                [states[:, 0, :1], states[:, :, 1 : CHUNK + 1].flatten(1, 2), states[:, -1, CLIP_LENGTH - 1 :]], dim=1
            )
            parts.append(joined)
            if self.family == "sdxl":
                pooled = out[0].view(batch, self.chunks, -1)[:, 0]  # text_embeds of the first chunk
        return TeacherOutput(torch.cat(parts, dim=-1), pooled, truncated)
