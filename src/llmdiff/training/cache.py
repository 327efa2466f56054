"""Caches of frozen features: LLM hidden states, CLIP teacher targets and VAE latent moments.

A cache lives in `<cache.dir>/<kind>-<h>/` where h hashes the model's files and the settings that shape
the features (encoder layers, chunks, resolution, dtype). Each item's key hashes (input, h): the text for
LLM and teacher items; path, size and mtime (or the bytes) for images. Items are stored in sharded
safetensors files, written atomically, and read memory-mapped through `safe_open`: a changed model,
setting or input gives new keys, so stale entries are never read (they only take disk space).

Feature sources (`LLMFeatures`, `TeacherFeatures`, `LatentFeatures`) look items up and compute misses on
the fly, so a partly filled cache is still correct and training never depends on `llmdiff cache` having run.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from functools import lru_cache
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from llmdiff.errors import UserError
from llmdiff.training.data import Example

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@lru_cache(maxsize=None)
def file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(*sources: str | os.PathLike | None) -> str:
    """Hash of the contents of files/folders (names of anything that is not a local path)."""
    digest = hashlib.sha256()
    for source in sources:
        path = Path(str(source)) if source is not None else None
        if path is None or not path.exists():
            digest.update(f"name:{source}".encode())
            continue
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            stat = file.stat()
            relative = file.name if path.is_file() else str(file.relative_to(path))
            digest.update(f"{relative}:{file_digest(str(file), stat.st_size, stat.st_mtime_ns)}".encode())
    return digest.hexdigest()


def image_identity(image: str | bytes) -> str:
    if isinstance(image, bytes):
        return "bytes:" + hashlib.sha256(image).hexdigest()
    stat = os.stat(image)
    return f"file:{os.path.abspath(image)}:{stat.st_size}:{stat.st_mtime_ns}"


class FeatureCache:
    """One cache folder: items keyed by hash(input, model, settings), in sharded safetensors."""

    def __init__(self, root: str | os.PathLike, kind: str, model: str, settings: dict, dtype: str = "float32"):
        self.settings = {"kind": kind, "model": model, "settings": settings, "dtype": dtype}
        self.key_hash = hashlib.sha256(json.dumps(self.settings, sort_keys=True).encode()).hexdigest()
        self.path = Path(root) / f"{kind}-{self.key_hash[:16]}"
        self.dtype = DTYPES[dtype]
        self._handles: dict[str, object] = {}
        self._pending: dict[str, torch.Tensor] = {}
        self.hits = 0
        self.misses = 0

    def key(self, identity: str) -> str:
        return hashlib.sha256(f"{self.key_hash}\0{identity}".encode()).hexdigest()[:40]

    # reading
    def open(self) -> "FeatureCache":
        """Memory-map every shard present (only headers are read now)."""
        self._handles = {}
        if self.path.is_dir():
            for shard in sorted(self.path.glob("shard-*.safetensors")):
                handle = safe_open(str(shard), framework="pt", device="cpu")
                for name in handle.keys():
                    self._handles[name] = handle
        return self

    def __len__(self) -> int:
        return len({name.split(":")[0] for name in self._handles})

    def __contains__(self, key: str) -> bool:
        return key in self._handles or key in self._pending

    def get(self, key: str, part: str = "") -> torch.Tensor | None:
        name = f"{key}:{part}" if part else key
        handle = self._handles.get(name)
        if handle is not None:
            return handle.get_tensor(name)
        return self._pending.get(name)

    # writing
    def put(self, key: str, tensor: torch.Tensor, part: str = "") -> None:
        self._pending[f"{key}:{part}" if part else key] = tensor.detach().to("cpu", self.dtype).contiguous()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> None:
        """Write pending items as a new shard (temp file, fsync, rename)."""
        if not self._pending:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        meta = self.path / "cache.json"
        if not meta.is_file():
            meta.write_text(json.dumps(self.settings, indent=2) + "\n", encoding="utf-8")
        name = f"shard-{len(list(self.path.glob('shard-*.safetensors'))):05d}-{uuid.uuid4().hex[:8]}.safetensors"
        temp = self.path / f".{name}.tmp"
        save_file(self._pending, str(temp))
        with open(temp, "rb") as file:
            os.fsync(file.fileno())
        os.replace(temp, self.path / name)
        self._pending = {}
        self.open()


def _pad(rows: list[torch.Tensor], masks: list[torch.Tensor | None]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded (states, mask); a row without a mask of its own is all real tokens."""
    length = max(row.shape[0] for row in rows)
    states = rows[0].new_zeros((len(rows), length, rows[0].shape[-1]))
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for index, (row, row_mask) in enumerate(zip(rows, masks)):
        states[index, : row.shape[0]] = row
        mask[index, : row.shape[0]] = 1 if row_mask is None else row_mask.long()
    return states, mask


class LLMFeatures:
    """Frozen-LLM hidden states of texts: (states, mask) padded on the right, on the CPU.

    Each text keeps the positions the adapter reads at inference: its own tokens, or with the text path's
    `pad_to_max_length` all `max_length` positions with the encoder's mask (the padding's states reach the
    adapter there, and the mask may be all ones), so a cached or computed batch is what generation gives.
    """

    def __init__(self, encoder, cache: FeatureCache | None = None):
        self.encoder = encoder
        self.cache = cache
        self.whole_rows = bool(getattr(getattr(encoder, "config", None), "pad_to_max_length", False))

    @torch.no_grad()
    def compute(self, texts: list[str]) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        encoded = self.encoder.encode(texts)
        if self.whole_rows:
            return [(encoded.hidden_states[i].float().cpu(), encoded.attention_mask[i].cpu())
                    for i in range(len(texts))]
        return [(encoded.hidden_states[i, :count].float().cpu(), None) for i, count in enumerate(encoded.token_counts)]

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        rows: list[torch.Tensor | None] = [None] * len(texts)
        masks: list[torch.Tensor | None] = [None] * len(texts)
        if self.cache is not None:
            for index, text in enumerate(texts):
                key = self.cache.key(text)
                found = self.cache.get(key)
                if found is not None:
                    rows[index] = found.float()
                    masks[index] = self.cache.get(key, "mask")
        missing = [index for index, row in enumerate(rows) if row is None]
        if missing:
            for index, (row, mask) in zip(missing, self.compute([texts[i] for i in missing])):
                rows[index], masks[index] = row, mask
        if self.cache is not None:
            self.cache.hits += len(texts) - len(missing)
            self.cache.misses += len(missing)
        return _pad(rows, masks)

    def fill(self, texts: list[str]) -> None:
        todo = [text for text in dict.fromkeys(texts) if self.cache.key(text) not in self.cache]
        if todo:
            for text, (row, mask) in zip(todo, self.compute(todo)):
                key = self.cache.key(text)
                self.cache.put(key, row)
                if mask is not None:
                    self.cache.put(key, mask, "mask")


class TeacherFeatures:
    """CLIP teacher targets of English texts: (states, pooled or None), on the CPU."""

    def __init__(self, teacher, cache: FeatureCache | None = None):
        self.teacher = teacher
        self.cache = cache
        self.truncated = 0

    @torch.no_grad()
    def compute(self, texts: list[str]) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
        out = self.teacher(texts)
        self.truncated += out.truncated
        pooled = [None] * len(texts) if out.pooled is None else list(out.pooled.float().cpu())
        return list(out.states.float().cpu()), pooled

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
        states: list = [None] * len(texts)
        pooled: list = [None] * len(texts)
        if self.cache is not None:
            for index, text in enumerate(texts):
                key = self.cache.key(text)
                found = self.cache.get(key)
                if found is not None:
                    states[index] = found.float()
                    extra = self.cache.get(key, "pooled")
                    pooled[index] = None if extra is None else extra.float()
        missing = [index for index, row in enumerate(states) if row is None]
        if missing:
            computed = self.compute([texts[i] for i in missing])
            for index, row, vector in zip(missing, *computed):
                states[index], pooled[index] = row, vector
        if self.cache is not None:
            self.cache.hits += len(texts) - len(missing)
            self.cache.misses += len(missing)
        return torch.stack(states), None if pooled[0] is None else torch.stack(pooled)

    def fill(self, texts: list[str]) -> None:
        todo = [text for text in dict.fromkeys(texts) if self.cache.key(text) not in self.cache]
        if todo:
            states, pooled = self.compute(todo)
            for text, row, vector in zip(todo, states, pooled):
                key = self.cache.key(text)
                self.cache.put(key, row)
                if vector is not None:
                    self.cache.put(key, vector, "pooled")


class LatentFeatures:
    """VAE latents of examples' images, sampled from cached or computed posterior moments.

    Returns (latents, kept) where `kept` lists the batch indices whose image could be read.
    """

    def __init__(self, vae, images, cache: FeatureCache | None = None):
        self.vae = vae
        self.images = images  # an ImageLoader
        self.cache = cache
        config = vae.config
        self.scale = float(config.scaling_factor)
        self.shift = float(getattr(config, "shift_factor", None) or 0.0)

    @torch.no_grad()
    def moments(self, pixels: torch.Tensor) -> torch.Tensor:
        vae = self.vae
        posterior = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist
        return torch.cat([posterior.mean, posterior.logvar], dim=1).float().cpu()

    def __call__(self, examples: list[Example], generator: torch.Generator) -> tuple[torch.Tensor | None, list[int]]:
        rows: dict[int, torch.Tensor] = {}
        pixels: dict[int, torch.Tensor] = {}
        for index, example in enumerate(examples):
            if self.cache is not None and example.image is not None:
                try:
                    found = self.cache.get(self.cache.key(image_identity(example.image)))
                except OSError:
                    found = None
                if found is not None:
                    rows[index] = found.float()
                    continue
            image = self.images.load(example, generator) if example.image is not None else None
            if image is not None:
                pixels[index] = image
        if pixels:
            for index, moments in zip(pixels, self.moments(torch.stack(list(pixels.values())))):
                rows[index] = moments
        if self.cache is not None:
            self.cache.hits += len(rows) - len(pixels)
            self.cache.misses += len(pixels)
        kept = sorted(rows)
        if not kept:
            return None, []
        moments = torch.stack([rows[i] for i in kept])
        mean, logvar = moments.chunk(2, dim=1)
        noise = torch.randn(mean.shape, generator=generator)
        latents = mean + (0.5 * logvar.clamp(-30, 20)).exp() * noise
        return (latents - self.shift) * self.scale, kept

    def required(self, examples: list[Example], generator: torch.Generator) -> tuple[torch.Tensor, list[int]]:
        """As a call, for a loss that needs latents: a batch with no readable image is an error."""
        latents, kept = self(examples, generator)
        if not kept:
            raise UserError("a whole batch of images was unreadable; check the data (see data.max_corrupt_fraction)")
        return latents, kept

    def fill(self, examples: list[Example]) -> None:
        todo: dict[str, torch.Tensor] = {}
        for example in examples:
            if example.image is None:
                continue
            key = self.cache.key(image_identity(example.image))
            if key in self.cache or key in todo:
                continue
            image = self.images.load(example)
            if image is not None:
                todo[key] = image
        if todo:
            for key, moments in zip(todo, self.moments(torch.stack(list(todo.values())))):
                self.cache.put(key, moments)


def latent_cache_enabled(config) -> bool:
    """Latents are cached when a cache is configured, asked for, and images are not randomly flipped."""
    return config.cache.dir is not None and config.cache.latents and not config.data.random_flip
