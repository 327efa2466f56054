"""Tiny, randomly initialised instances of the real model classes, for tests and benchmarks.

Each is saved with `save_pretrained` and meant to be loaded back through the same `from_pretrained` path a
user takes with a hub id, so the code under test cannot tell it from a real checkpoint except by size.
Conditioning widths are the real ones (768 for SD1.5; 2048 + pooled 1280 for SDXL); only depth and
channel counts are shrunk.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from llmdiff.worlds.shapes.tokenizer import bytes_to_unicode


def make_clip_tokenizer(path: str | Path, words: tuple[str, ...] = ()) -> Path:
    """A CLIP tokenizer with the byte alphabet (every text tokenizes) plus whole `words` as tokens."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    alphabet = list(bytes_to_unicode().values())
    tokens = alphabet + [char + "</w>" for char in alphabet]
    merges = []
    for word in words:  # merge letter by letter so each listed word becomes one token
        piece = word[0]
        for i, char in enumerate(word[1:], start=1):
            end = "</w>" if i == len(word) - 1 else ""
            merges.append(f"{piece} {char}{end}")
            piece = piece + char + end
            if piece not in tokens:
                tokens.append(piece)
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    (path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n", encoding="utf-8")
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"), model_max_length=77)
    tokenizer.save_pretrained(path)
    return path


def tiny_unet_config(family: str = "sd") -> dict:
    config = dict(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
        attention_head_dim=8,
        cross_attention_dim=768,
    )
    if family == "sdxl":
        config.update(
            cross_attention_dim=2048,
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=8 * 6 + 1280,
            transformer_layers_per_block=1,
        )
    return config


def make_tiny_base(path: str | Path, family: str = "sd", seed: int = 0) -> Path:
    """A complete SD1.5- or SDXL-shaped diffusers pipeline (with its CLIP encoders) saved at `path`."""
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    path = Path(path)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**tiny_unet_config(family))
    vae = AutoencoderKL(
        block_out_channels=(16, 32),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=8,
        sample_size=32,
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False,
        steps_offset=1,
    )
    tokenizer_dir = make_clip_tokenizer(path / "_tokenizer", words=("a", "red", "blue", "cat", "dog", "circle"))
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)

    def clip_config(width: int) -> CLIPTextConfig:
        return CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=width,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=4,
            max_position_embeddings=77,
            projection_dim=width,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )

    if family == "sdxl":
        pipeline = StableDiffusionXLPipeline(
            vae=vae,
            text_encoder=CLIPTextModel(clip_config(768)),
            text_encoder_2=CLIPTextModelWithProjection(clip_config(1280)),
            tokenizer=tokenizer,
            tokenizer_2=tokenizer,
            unet=unet,
            scheduler=scheduler,
        )
    else:
        pipeline = StableDiffusionPipeline(
            vae=vae,
            text_encoder=CLIPTextModel(clip_config(768)),
            tokenizer=tokenizer,
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    pipeline.save_pretrained(path, safe_serialization=True)
    return path


def make_bert_tokenizer(path: str | Path) -> Path:
    """A WordPiece tokenizer over letters and a few words, so BERT-style special tokens are exercised."""
    from transformers import BertTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [chr(c) for c in range(ord("0"), ord("9") + 1)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "!", "?"] + letters + ["##" + c for c in letters]
    vocab += ["a", "red", "blue", "cat", "dog", "the", "circle", "square"]
    (path / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    BertTokenizer(str(path / "vocab.txt")).save_pretrained(path)
    return path


def make_t5_tokenizer(path: str | Path) -> Path:
    """A T5 tokenizer (Unigram, `</s>` appended, `<pad>` = 0) over letters and a few whole words."""
    from transformers import T5Tokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    words = ["a", "red", "blue", "cat", "dog", "the", "circle", "square", "next", "to", "is", "of"]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -3.0)]
    pieces += [("\u2581" + word, -2.0) for word in words]
    pieces += [(letter, -5.0) for letter in letters] + [("\u2581" + letter, -4.0) for letter in letters if letter != "a"]
    T5Tokenizer(vocab=pieces, extra_ids=0).save_pretrained(path)
    return path


def make_tiny_llm(path: str | Path, architecture: str = "llama", seed: int = 0, tokenizer=None) -> Path:
    """A tiny LLM of a real transformers class saved at `path`: 'llama', 'qwen2' (causal), 'bert' or
    't5' (a whole `T5ForConditionalGeneration`, as T5 checkpoints are published; the encoder reads prompts).

    Causal models reuse the given tokenizer (e.g. the default LLM's) so that multilingual text tokenizes
    realistically.
    """
    from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    path = Path(path)
    torch.manual_seed(seed)
    if architecture == "t5":
        from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

        t5_tokenizer = AutoTokenizer.from_pretrained(make_t5_tokenizer(path))
        model = T5ForConditionalGeneration(
            T5Config(
                vocab_size=len(t5_tokenizer),
                d_model=64,
                d_kv=16,
                d_ff=128,
                num_layers=2,
                num_heads=4,
                feed_forward_proj="gated-gelu",
                pad_token_id=t5_tokenizer.pad_token_id,
                eos_token_id=t5_tokenizer.eos_token_id,
                decoder_start_token_id=t5_tokenizer.pad_token_id,
                tie_word_embeddings=False,
            )
        )
    elif architecture == "bert":
        make_bert_tokenizer(path)
        from transformers import BertTokenizer

        vocab_size = len(BertTokenizer.from_pretrained(path))
        model = BertModel(
            BertConfig(
                vocab_size=vocab_size,
                hidden_size=64,
                num_hidden_layers=2,
                num_attention_heads=4,
                intermediate_size=128,
                max_position_embeddings=600,
            )
        )
    else:
        if tokenizer is None:
            raise ValueError("a causal tiny LLM needs a tokenizer")
        common = dict(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=1024,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            bos_token_id=tokenizer.bos_token_id,
        )
        if architecture == "llama":
            model = LlamaForCausalLM(LlamaConfig(**common))
        elif architecture == "qwen2":
            model = Qwen2ForCausalLM(Qwen2Config(**common))
        else:
            raise ValueError(f"unknown tiny architecture {architecture!r}")
        tokenizer.save_pretrained(path)
    model.save_pretrained(path, safe_serialization=True)
    return path
