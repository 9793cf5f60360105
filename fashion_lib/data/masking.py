"""FashionSAP's corrupted text: PTP blanks, caption MLM masks and TRP replacements, with labels.

One sample becomes ``[CLS] [symbol] caption [SEP] prompt_1 ... prompt_k [SEP]``. Corruption works on
words and is then tokenised word by word, so every label sits on the word pieces it describes:

- PTP (Eq. 3): in every prompt, the name slot or the value slot (probability 0.5 each) becomes
  [MASK] pieces; their MLM labels are the original pieces, position by position.
- MLM on the caption: `mlm_prob` of the caption words become [MASK] (whole words, always [MASK]: a
  random-token branch would put unlabelled replacements next to TRP's labelled ones).
- TRP (Eq. 4): `trp_prob` of the caption words and one visible attribute value are replaced, half by
  a WordNet antonym and half by a random whole-word vocabulary token; TRP labels are 1 on their
  pieces, 0 on every other real token and -100 on padding. Antonyms come from caption words that
  have one; when too few do, random tokens fill the rest. A binary answer flips (yes <-> no).

All randomness comes from the ``np.random.Generator`` passed in.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from transformers import BertTokenizerFast

from fashion_lib.data import wordnet
from fashion_lib.data.prompts import NAME, NO, VALUE, YES, TextSample, symbol_token_ids, words
from fashion_lib.data.taxonomy import SYMBOLS
from fashion_lib.errors import ConfigError

IGNORE = -100
WordFn = Callable[[str], Sequence[str]]
#: One word after corruption: (token ids, MLM labels, replaced?).
Unit = tuple[list[int], list[int], bool]


@dataclass(frozen=True)
class TextConfig:
    """What the text processor does; the switches mirror FashionSAP's tasks (Fig. 2).

    Args:
        max_length: longest sequence in tokens, specials included.
        use_symbol: put the fashion symbol after [CLS] (the FSIS task's input).
        use_prompts: append the attribute prompts with PTP blanks (the PTP task's input).
        mlm_prob: fraction of caption words masked for MLM (Eq. 3 merges MLM into PTP).
        trp_prob: fraction of caption words replaced for TRP; 0 disables replacement.
        shuffle_prompts: shuffle the prompt order per sample.
        synonym_augment: replace the words of one attribute name or value by WordNet synonyms
            (the paper's "raw data preprocessing", Sec. 4.5).
    """

    max_length: int = 128
    use_symbol: bool = True
    use_prompts: bool = True
    mlm_prob: float = 0.15
    trp_prob: float = 0.15
    shuffle_prompts: bool = True
    synonym_augment: bool = True

    def __post_init__(self) -> None:
        if self.max_length < 8:
            raise ConfigError(f"max_length must be >= 8, got {self.max_length}")
        if min(self.mlm_prob, self.trp_prob) < 0 or self.mlm_prob + self.trp_prob > 1:
            raise ConfigError(f"need 0 <= mlm_prob, trp_prob and a sum <= 1: {self}")


#: Plain text for fine-tuning and evaluation: [CLS] caption [SEP], nothing corrupted.
PLAIN_TEXT = TextConfig(
    use_symbol=False, use_prompts=False, mlm_prob=0.0, trp_prob=0.0, synonym_augment=False
)


@dataclass
class TextBatch:
    """A padded batch of token sequences with their labels (all tensors (B, L) unless noted).

    Attributes:
        input_ids: token ids after corruption.
        attention_mask: 1 on real tokens, 0 on padding.
        mlm_labels: original token id at every [MASK] (caption and prompt), -100 elsewhere.
        trp_labels: 1 at replaced tokens, 0 at other real tokens, -100 on padding.
        prompt_mask: True on the prompt tokens (to report PTP apart from caption MLM).
        symbol_ids: (B,) index into `taxonomy.SYMBOLS`, -1 where no symbol was inserted.
        symbol_position: where the symbol token sits (1), or -1 when symbols are off.
    """

    input_ids: Tensor
    attention_mask: Tensor
    mlm_labels: Tensor
    trp_labels: Tensor
    prompt_mask: Tensor
    symbol_ids: Tensor
    symbol_position: int


class TextProcessor:
    """Turns `TextSample`s into a `TextBatch` following a `TextConfig`.

    Args:
        tokenizer: from `prompts.build_tokenizer` (the symbols must be special tokens).
        config: what to insert and corrupt.
        antonym_fn: word -> antonyms, best first (default: WordNet, loaded on first use).
        synonym_fn: word -> synonyms (default: WordNet).
    """

    def __init__(
        self,
        tokenizer: BertTokenizerFast,
        config: TextConfig,
        antonym_fn: WordFn | None = None,
        synonym_fn: WordFn | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.config = config
        self.antonym_fn = antonym_fn or wordnet.antonyms
        self.synonym_fn = synonym_fn or wordnet.synonyms
        self.symbol_ids = symbol_token_ids(tokenizer)
        vocab = tokenizer.get_vocab()
        # Random replacements are whole alphabetic words, never pieces, specials or symbols.
        self.random_ids = np.array(
            sorted(i for t, i in vocab.items() if t.isalpha() and t.islower())
        )
        self._pieces = functools.lru_cache(maxsize=100_000)(self._tokenize_word)

    def _tokenize_word(self, word: str) -> tuple[int, ...]:
        return tuple(self.tokenizer(word, add_special_tokens=False)["input_ids"])

    def encode(self, sample: TextSample, rng: np.random.Generator) -> dict[str, list[int]]:
        """One sample as unpadded lists: input_ids, mlm_labels, trp_labels, prompt_mask."""
        cfg, tok = self.config, self.tokenizer
        head = [tok.cls_token_id]
        if cfg.use_symbol:
            if sample.symbol is None:
                raise ConfigError(f"use_symbol is on but the sample has no symbol: {sample}")
            head.append(self.symbol_ids[SYMBOLS.index(sample.symbol)])
        budget = cfg.max_length - len(head) - 1
        prompt_units = self._prompt_units(sample, rng, budget // 2) if cfg.use_prompts else []
        prompt_len = sum(len(u[0]) for u in prompt_units) + (1 if prompt_units else 0)
        caption = self._caption_units(words(sample.caption), rng, budget - prompt_len)
        ids, mlm, trp, in_prompt = (
            list(head),
            [IGNORE] * len(head),
            [0] * len(head),
            [0] * len(head),
        )
        for segment, flag in ((caption, 0), (prompt_units, 1)):
            if flag and not segment:
                continue
            for pieces, labels, replaced in segment:
                ids += pieces
                mlm += labels
                trp += [int(replaced)] * len(pieces)
                in_prompt += [flag] * len(pieces)
            ids.append(tok.sep_token_id)
            mlm.append(IGNORE)
            trp.append(0)
            in_prompt.append(flag)
        return {"input_ids": ids, "mlm_labels": mlm, "trp_labels": trp, "prompt_mask": in_prompt}

    def _unit(self, word: str, masked: bool = False, new: str | None = None) -> Unit:
        """`word` as pieces: [MASK]s labelled with its pieces, or `new`'s pieces marked replaced."""
        pieces = list(self._pieces(word))
        if masked:
            return [self.tokenizer.mask_token_id] * len(pieces), pieces, False
        if new is not None:
            new_pieces = list(self._pieces(new))
            return new_pieces, [IGNORE] * len(new_pieces), True
        return pieces, [IGNORE] * len(pieces), False

    def _replacement(self, word: str, antonym: bool, rng: np.random.Generator) -> str:
        """An antonym of `word` if asked and one exists, else a random vocabulary word."""
        if antonym:
            if word in (YES, NO):
                return NO if word == YES else YES
            found = self.antonym_fn(word)
            if found:
                return found[0]
        while True:
            new = self.tokenizer.convert_ids_to_tokens(int(rng.choice(self.random_ids)))
            if new != word:
                return new

    def _caption_units(
        self, caption: list[str], rng: np.random.Generator, budget: int
    ) -> list[Unit]:
        kept, used = [], 0
        for w in caption:  # truncate whole words to the token budget
            used += len(self._pieces(w))
            if used > budget:
                break
            kept.append(w)
        n = len(kept)
        n_trp = _count(self.config.trp_prob, n)
        n_mlm = min(_count(self.config.mlm_prob, n), n - n_trp)
        order = rng.permutation(n)
        has_antonym = np.array([bool(self.antonym_fn(w)) for w in kept] if n_trp else [False] * n)
        n_ant = min(n_trp // 2 + int(n_trp % 2 and rng.random() < 0.5), int(has_antonym.sum()))
        antonym_pos = [i for i in order if has_antonym[i]][:n_ant]
        rest = [i for i in order if i not in antonym_pos]
        random_pos = rest[: n_trp - n_ant]
        masked_pos = set(rest[n_trp - n_ant : n_trp - n_ant + n_mlm])
        replaced = {i: self._replacement(kept[i], True, rng) for i in antonym_pos}
        replaced |= {i: self._replacement(kept[i], False, rng) for i in random_pos}
        units = [
            self._unit(w, masked=i in masked_pos, new=replaced.get(i)) for i, w in enumerate(kept)
        ]
        while sum(len(u[0]) for u in units) > budget:  # a longer antonym may overflow the budget
            units.pop()
        return units

    def _prompt_units(
        self, sample: TextSample, rng: np.random.Generator, budget: int
    ) -> list[Unit]:
        prompts = sample.prompts()
        if self.config.shuffle_prompts:
            prompts = [prompts[i] for i in rng.permutation(len(prompts))]
        kept, used = [], 1
        for p in prompts:  # whole prompts up to the budget (the final [SEP] counts)
            used += sum(len(self._pieces(w)) for w in p.words)
            if used > budget:
                break
            kept.append(p)
        prompt_words = [list(p.words) for p in kept]
        if self.config.synonym_augment and kept:
            k = int(rng.integers(len(kept)))
            slot = NAME if rng.random() < 0.5 or kept[k].binary else VALUE  # never yes / no
            for i in kept[k].slot(slot):
                # WordNet lists every sense; its first three synonyms are the safe ones.
                options = [s for s in self.synonym_fn(prompt_words[k][i])[:3] if s.isalpha()]
                if options:
                    prompt_words[k][i] = options[int(rng.integers(len(options)))]
        blanked = [NAME if rng.random() < 0.5 else VALUE for _ in kept]
        replace_at, new_word = (-1, -1), None
        visible = [k for k, role in enumerate(blanked) if role == NAME]
        if self.config.trp_prob > 0 and visible:
            k = visible[int(rng.integers(len(visible)))]
            value_idx = kept[k].slot(VALUE)
            antonym = rng.random() < 0.5
            if antonym:  # prefer a value word WordNet can invert
                value_idx = [
                    i for i in value_idx if self._has_antonym(prompt_words[k][i])
                ] or value_idx
            i = value_idx[int(rng.integers(len(value_idx)))]
            replace_at = (k, i)
            new_word = self._replacement(prompt_words[k][i], antonym, rng)
        units = []
        for k, p in enumerate(kept):
            for i, (w, role) in enumerate(zip(prompt_words[k], p.roles, strict=True)):
                units.append(
                    self._unit(
                        w, masked=role == blanked[k], new=new_word if replace_at == (k, i) else None
                    )
                )
        return units

    def _has_antonym(self, word: str) -> bool:
        return word in (YES, NO) or bool(self.antonym_fn(word))

    def collate(self, samples: Sequence[TextSample], rng: np.random.Generator) -> TextBatch:
        """Encode and pad a batch to its longest sequence.

        Args:
            samples: the raw texts.
            rng: the only source of randomness (prompt order, blanks, masks, replacements).

        Returns:
            The padded `TextBatch`.
        """
        encoded = [self.encode(s, rng) for s in samples]
        length = max(len(e["input_ids"]) for e in encoded)

        def pad(key: str, value: int) -> Tensor:
            rows = [e[key] + [value] * (length - len(e[key])) for e in encoded]
            return torch.tensor(rows, dtype=torch.long)  # (B, L)

        attention = torch.tensor(
            [[1] * len(e["input_ids"]) + [0] * (length - len(e["input_ids"])) for e in encoded],
            dtype=torch.long,
        )  # (B, L)
        symbols = [SYMBOLS.index(s.symbol) if self.config.use_symbol else -1 for s in samples]
        return TextBatch(
            input_ids=pad("input_ids", self.tokenizer.pad_token_id),
            attention_mask=attention,
            mlm_labels=pad("mlm_labels", IGNORE),
            trp_labels=pad("trp_labels", IGNORE),
            prompt_mask=pad("prompt_mask", 0).bool(),
            symbol_ids=torch.tensor(symbols, dtype=torch.long),  # (B,)
            symbol_position=1 if self.config.use_symbol else -1,
        )


def _count(prob: float, n: int) -> int:
    """Words to pick at rate `prob` out of `n`: rounded, and at least one when both are > 0."""
    return min(n, max(1, round(prob * n))) if prob > 0 and n > 0 else 0
