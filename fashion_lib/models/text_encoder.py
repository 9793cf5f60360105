"""FashionSAP's text encoder: a transformers BERT, loaded offline from MiniLM or built small.

The paper's text encoder is the first 6 layers of BERT-base and its fusion module the other 6 (as in
ALBEF). Our offline BERT is all-MiniLM-L6-v2 (6 layers, width 384): `TextEncoder.from_minilm` keeps
its first `num_layers` layers and hands the remaining layers back, so the fusion encoder can start
from them just as ALBEF's fusion layers start from BERT's upper half.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from transformers import BertConfig, BertModel
from transformers.models.bert.modeling_bert import BertLayer, BertPredictionHeadTransform
from transformers.utils import logging as hf_logging

from fashion_lib.data.prompts import minilm_path
from fashion_lib.errors import ConfigError

IGNORE = -100  # the label of unscored positions


class PartlyFrozenEmbedding(nn.Module):
    """A token table whose first `num_frozen` rows are fixed and whose last rows learn.

    With MiniLM's 30,522 word pieces frozen, only the fashion symbols' new rows train: the
    optimizer, the gradient and the momentum copy then skip 11.7M numbers a step (two thirds of
    the cpu model's parameters), and a frozen row is the same whether the corpus uses it or not.

    Args:
        table: (V, d) the full table (pre-trained rows first).
        num_frozen: how many leading rows are fixed (a buffer, not a parameter).
    """

    def __init__(self, table: Tensor, num_frozen: int) -> None:
        super().__init__()
        if not 0 < num_frozen < len(table):
            raise ConfigError(f"need 0 < num_frozen < {len(table)} rows, not {num_frozen}")
        self.register_buffer("frozen", table[:num_frozen].detach().clone())
        self.learned = nn.Parameter(table[num_frozen:].detach().clone())

    @property
    def num_embeddings(self) -> int:
        """Rows of the whole table."""
        return len(self.frozen) + len(self.learned)

    @property
    def weight(self) -> Tensor:
        """(V, d) the whole table (frozen rows first)."""
        return torch.cat([self.frozen, self.learned])

    def forward(self, ids: Tensor) -> Tensor:
        """(...) token ids -> (..., d) rows, each from the frozen or the learned part."""
        n = len(self.frozen)
        old = F.embedding(ids.clamp(max=n - 1), self.frozen)
        new = F.embedding((ids - n).clamp(min=0), self.learned)
        return torch.where((ids < n).unsqueeze(-1), old, new)


@dataclass(frozen=True)
class TextEncoderConfig:
    """Size of a randomly initialised BERT (ignored when loading MiniLM).

    Args:
        vocab_size: tokenizer length (BERT's 30522 plus the 9 fashion symbols).
        hidden_size: token width d.
        num_layers: transformer layers.
        num_heads: attention heads.
        intermediate_size: feed-forward width.
        max_positions: longest sequence.
        dropout: hidden and attention dropout.
    """

    vocab_size: int = 30531
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 256
    max_positions: int = 512
    dropout: float = 0.1

    def bert_config(self) -> BertConfig:
        """The equivalent transformers `BertConfig` (encoder only, no cross-attention)."""
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"hidden_size {self.hidden_size} not divisible by {self.num_heads}")
        return BertConfig(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            intermediate_size=self.intermediate_size,
            max_position_embeddings=self.max_positions,
            hidden_dropout_prob=self.dropout,
            attention_probs_dropout_prob=self.dropout,
        )


class TextEncoder(nn.Module):
    """BERT over the token sequence; forward returns the last hidden states T.

    Args:
        bert: a transformers `BertModel` without pooling layer.
    """

    def __init__(self, bert: BertModel) -> None:
        super().__init__()
        self.bert = bert

    @property
    def width(self) -> int:
        """Token width d."""
        return int(self.bert.config.hidden_size)

    @property
    def config(self) -> BertConfig:
        """The underlying `BertConfig`."""
        return self.bert.config

    @property
    def word_embeddings(self) -> nn.Embedding:
        """The token embedding table (the symbols' learned embeddings are its last rows)."""
        return self.bert.embeddings.word_embeddings

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """(B, L) ids and mask -> (B, L, d) token features T = {v_cls, v_symbol, v_t0, ...}."""
        return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    @classmethod
    def random(cls, config: TextEncoderConfig) -> TextEncoder:
        """A randomly initialised BERT of the given size."""
        return cls(BertModel(config.bert_config(), add_pooling_layer=False))

    @classmethod
    def from_minilm(
        cls,
        vocab_size: int,
        num_layers: int,
        dropout: float | None = None,
        frozen_words: bool = False,
        attention: str = "sdpa",
    ) -> tuple[TextEncoder, list[BertLayer]]:
        """MiniLM's first `num_layers` layers, vocabulary resized to `vocab_size`.

        Args:
            vocab_size: tokenizer length; the rows beyond MiniLM's 30522 (the symbols) are new.
            num_layers: layers kept for the text encoder (1..6).
            dropout: hidden and attention dropout of every layer (None: MiniLM's 0.1).
            frozen_words: keep MiniLM's word-piece rows fixed (`PartlyFrozenEmbedding`).
            attention: transformers' attention implementation ("sdpa"; "eager" is faster for
                short sequences in bf16 on a CPU).

        Returns:
            The encoder and MiniLM's remaining layers (to initialise the fusion encoder).
        """
        extra = {} if dropout is None else {"hidden_dropout_prob": dropout}
        if dropout is not None:
            extra["attention_probs_dropout_prob"] = dropout
        bert = BertModel.from_pretrained(str(minilm_path()), attn_implementation=attention, **extra)
        # ... it has a pooler
        bert.pooler = None  # which FashionSAP never uses
        layers = list(bert.encoder.layer)
        if not 1 <= num_layers <= len(layers):
            raise ConfigError(f"MiniLM has {len(layers)} layers; cannot keep {num_layers}")
        bert.encoder.layer = nn.ModuleList(layers[:num_layers])
        bert.config.num_hidden_layers = num_layers
        words = bert.embeddings.word_embeddings.num_embeddings
        # New rows are drawn from the old rows' mean and covariance (transformers' default), which
        # is what the symbols want; transformers logs a notice each time, kept off the pages.
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            bert.resize_token_embeddings(vocab_size, mean_resizing=True)
        finally:
            hf_logging.set_verbosity(verbosity)
        if frozen_words:
            table = bert.embeddings.word_embeddings.weight
            bert.embeddings.word_embeddings = PartlyFrozenEmbedding(table, words)
        return cls(bert), layers[num_layers:]


class MaskedLMHead(nn.Module):
    """BERT's MLM head with its decoder tied to the token embeddings (PTP and MLM share it).

    Args:
        config: the text encoder's `BertConfig` (width, activation, LayerNorm eps).
        embeddings: the token embedding table the decoder reuses.
        vocab: (V',) token ids the decoder scores (None: every row of `embeddings`). A corpus
            that uses a few thousand word pieces needs no 30,531-way softmax: restricting the rows
            makes the tied decoder affordable on a CPU, and `targets` maps labels to its rows.
    """

    def __init__(
        self,
        config: BertConfig,
        embeddings: nn.Embedding | PartlyFrozenEmbedding,
        vocab: Tensor | None = None,
    ) -> None:
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.embeddings = embeddings
        rows = embeddings.num_embeddings if vocab is None else len(vocab)
        self.bias = nn.Parameter(torch.zeros(rows))
        if vocab is None:
            self.vocab = self.lookup = None
        else:
            lookup = torch.full((embeddings.num_embeddings,), IGNORE, dtype=torch.long)
            lookup[vocab] = torch.arange(len(vocab))
            self.register_buffer("vocab", vocab.long(), persistent=False)
            self.register_buffer("lookup", lookup, persistent=False)

    def targets(self, labels: Tensor) -> Tensor:
        """Token-id labels -> decoder rows (ids outside `vocab`, and -100, become -100)."""
        if self.lookup is None:
            return labels
        return torch.where(labels == IGNORE, labels, self.lookup[labels.clamp(min=0)])

    def forward(self, hidden: Tensor) -> Tensor:
        """(..., d) fused features -> (..., V') logits over the decoder's vocabulary."""
        weight = (
            self.embeddings.weight if self.vocab is None else self.embeddings.weight[self.vocab]
        )
        return F.linear(self.transform(hidden), weight, self.bias)
