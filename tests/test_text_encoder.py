"""The MiniLM text side: partly frozen word embeddings, layer split, attention choice."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from fashion_lib.errors import ConfigError
from fashion_lib.models.text_encoder import MaskedLMHead, PartlyFrozenEmbedding, TextEncoder


def test_partly_frozen_embedding_looks_up_like_the_whole_table_and_trains_only_new_rows():
    table = torch.randn(10, 4)
    emb = PartlyFrozenEmbedding(table, num_frozen=7)
    ids = torch.tensor([[0, 6, 7], [9, 3, 8]])
    out = emb(ids)
    assert torch.equal(out, nn.functional.embedding(ids, table))
    assert torch.equal(emb.weight, table) and emb.num_embeddings == 10
    assert [name for name, _ in emb.named_parameters()] == ["learned"]
    out.sum().backward()
    assert emb.learned.grad.tolist()[0] == [1.0] * 4  # row 7 once, row 8 once, row 9 once
    assert "frozen" in emb.state_dict()
    with pytest.raises(ConfigError):
        PartlyFrozenEmbedding(table, num_frozen=10)


def test_decoder_tied_to_a_partly_frozen_table_scores_its_rows():
    from transformers import BertConfig

    config = BertConfig(hidden_size=4, intermediate_size=8, num_attention_heads=1)
    emb = PartlyFrozenEmbedding(torch.randn(10, 4), num_frozen=7)
    head = MaskedLMHead(config, emb, torch.tensor([1, 8]))
    logits = head(torch.randn(3, 4))
    assert logits.shape == (3, 2)
    logits.sum().backward()
    assert emb.learned.grad[1].abs().sum() > 0 and emb.learned.grad[0].abs().sum() == 0


def test_minilm_with_frozen_words_keeps_its_rows_and_learns_the_symbols():
    plain, spare = TextEncoder.from_minilm(30531, 2)
    frozen, _ = TextEncoder.from_minilm(30531, 2, frozen_words=True, attention="eager")
    assert len(spare) == 4 and plain.config.num_hidden_layers == 2
    words = frozen.word_embeddings
    assert isinstance(words, PartlyFrozenEmbedding) and len(words.learned) == 9
    assert torch.equal(words.frozen, plain.word_embeddings.weight[:30522])
    trainable = sum(p.numel() for p in frozen.parameters() if p.requires_grad)
    everything = sum(p.numel() for p in plain.parameters() if p.requires_grad)
    assert everything - trainable == 30522 * 384
    assert frozen.config._attn_implementation == "eager"
    ids, mask = torch.tensor([[101, 2417, 3756, 102]]), torch.ones(1, 4, dtype=torch.long)
    plain.eval(), frozen.eval()
    with torch.no_grad():
        assert torch.allclose(plain(ids, mask), frozen(ids, mask), atol=1e-4)


def test_minilm_resize_leaves_no_notice_on_the_page(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    logging.Logger.warning_once.cache_clear()  # transformers logs its resize notice once
    torch.manual_seed(0)
    encoder, _ = TextEncoder.from_minilm(30531, 1)
    notices = [r.getMessage() for r in caplog.records] + [capfd.readouterr().err]
    assert not [n for n in notices if "multivariate" in n]
    new_rows = encoder.word_embeddings.weight[30522:]
    assert new_rows.std() > 0 and not torch.equal(new_rows[0], new_rows[1])
