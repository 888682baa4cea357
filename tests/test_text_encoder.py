"""Text encoders: shapes, mask, pooled = masked mean, truncation warning, determinism; MiniLM once."""

from __future__ import annotations

import pytest
import torch

from cineflow.config import TextConfig
from cineflow.models.text import load_text_encoder, masked_mean

PROMPTS = ["a red ball bounces on a gray floor", "", "two small stars orbit"]


def test_random_encoder_shapes_mask_and_pooling():
    enc = load_text_encoder(TextConfig(name="random", max_length=16, dim=32))
    out = enc.encode(PROMPTS)
    assert out.tokens.shape == (3, 9, 32) and out.mask.dtype == torch.bool
    assert out.mask.sum(1).tolist() == [9, 1, 5]  # [CLS] + words; an empty prompt keeps its [CLS]
    assert torch.allclose(out.pooled, masked_mean(out.tokens, out.mask))
    assert not out.tokens.requires_grad


def test_random_encoder_is_deterministic_across_instances():
    a = load_text_encoder(TextConfig(name="random", dim=32)).encode(PROMPTS)
    b = load_text_encoder(TextConfig(name="random", dim=32)).encode(PROMPTS[:1])
    assert torch.allclose(a.tokens[0], b.tokens[0], atol=1e-6)


def test_truncation_warns():
    enc = load_text_encoder(TextConfig(name="random", max_length=4, dim=32))
    with pytest.warns(UserWarning, match="truncated"):
        out = enc.encode(PROMPTS)
    assert out.tokens.shape[1] == 4


def test_bad_config_and_prompts_raise():
    with pytest.raises(ValueError, match="name"):
        load_text_encoder(TextConfig(name="t5"))
    with pytest.raises(ValueError, match="list of strings"):
        load_text_encoder(TextConfig(name="random", dim=32)).encode("not a list")


def test_minilm_encoder():
    enc = load_text_encoder(TextConfig(name="minilm", max_length=8))
    with pytest.warns(UserWarning, match="truncated"):
        out = enc.encode(PROMPTS)
    assert out.tokens.shape == (3, 8, 384) and out.mask.sum(1).tolist() == [8, 2, 6]
    assert torch.allclose(out.pooled, masked_mean(out.tokens, out.mask))
    similar = enc.encode(["a red ball bounces", "a red sphere bounces"]).pooled
    other = enc.encode(["two small stars orbit"]).pooled
    cos = torch.nn.functional.cosine_similarity
    assert cos(similar[0:1], similar[1:2]) > cos(similar[0:1], other)


def test_minilm_matches_transformers_bert():
    """Our BERT forward and tokenizer set-up give transformers' own token states (padding, truncation)."""
    transformers = pytest.importorskip("transformers")
    from cineflow.models.text import minilm_path

    prompts = [
        "a red ball bounces",
        "",
        "A RED Ball doesn't move; a tiny purple box moves up-left",
        "x " * 40,
    ]
    path = minilm_path()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = transformers.BertModel.from_pretrained(path, local_files_only=True).eval()
    batch = tokenizer(prompts, padding=True, truncation=True, max_length=16, return_tensors="pt")
    with torch.no_grad():
        want = model(**batch).last_hidden_state
    with pytest.warns(UserWarning, match="truncated"):
        got = load_text_encoder(TextConfig(name="minilm", max_length=16)).encode(prompts)
    assert torch.equal(got.mask, batch["attention_mask"].bool())
    assert torch.allclose(got.tokens, want, atol=1e-5, rtol=0)
