"""FashionSAP's corrupted text laid out for a reader (chapter 06).

One FashionGen row is corrupted reproducibly (its own seed), then shown three ways: token by token
with its labels (`token_table`), as counts per kind of corruption (`corruption_counts`), and as the
short lines of a sample card (`card_lines`): the caption and prompts as the model reads them, with
each PTP/MLM blank shown beside its answer and each TRP replacement marked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from transformers import BertTokenizerFast

from fashion_lib.data import wordnet
from fashion_lib.data.formats.fashiongen import FashionGenItem
from fashion_lib.data.masking import IGNORE, TextBatch, TextProcessor
from fashion_lib.data.prompts import TextSample, fashiongen_sample, words
from fashion_lib.data.taxonomy import symbol_token

__all__ = [
    "antonym_swaps",
    "card_lines",
    "corrupt_row",
    "corruption_counts",
    "first_row_with_antonym",
    "token_table",
]


def corrupt_row(
    processor: TextProcessor, items: Sequence[FashionGenItem], i: int, seed: int
) -> tuple[TextSample, TextBatch]:
    """Row `i` as a text sample and its corrupted one-row batch, seeded by (seed, i)."""
    sample = fashiongen_sample(items[i])
    return sample, processor.collate([sample], np.random.default_rng([seed, i]))


def antonym_swaps(
    tokenizer: BertTokenizerFast,
    sample: TextSample,
    batch: TextBatch,
    antonyms: Callable[[str], Sequence[str]] = wordnet.antonyms,
) -> list[tuple[str, str]]:
    """(caption word, its WordNet antonym) for each replacement of row 0 that is an antonym."""
    new = set(tokenizer.convert_ids_to_tokens(batch.input_ids[0][batch.trp_labels[0] == 1]))
    return [(w, a) for w in words(sample.caption) for a in antonyms(w)[:1] if a in new]


def token_table(tokenizer: BertTokenizerFast, batch: TextBatch, row: int = 0) -> pd.DataFrame:
    """Every real token of `row`: its segment, its MLM / PTP label and its TRP label."""
    n = int(batch.attention_mask[row].sum())
    mlm = batch.mlm_labels[row, :n].tolist()
    segment = np.where(batch.prompt_mask[row, :n].numpy(), "prompt", "caption").astype(object)
    if batch.symbol_position > 0:
        segment[: batch.symbol_position + 1] = ["[CLS]", "symbol"]
    else:
        segment[0] = "[CLS]"
    return pd.DataFrame(
        {
            "token": tokenizer.convert_ids_to_tokens(batch.input_ids[row, :n]),
            "segment": segment,
            "MLM / PTP label": [
                tokenizer.convert_ids_to_tokens(m) if m != IGNORE else "" for m in mlm
            ],
            "TRP label": batch.trp_labels[row, :n].tolist(),
        }
    )


def corruption_counts(batch: TextBatch, row: int = 0) -> pd.Series:
    """How many tokens of `row` each task corrupted: MLM masks, PTP blanks, TRP replacements."""
    labelled, prompt = batch.mlm_labels[row] != IGNORE, batch.prompt_mask[row]
    counts = {
        "tokens": int(batch.attention_mask[row].sum()),
        "caption [MASK]s (MLM)": int((labelled & ~prompt).sum()),
        "prompt [MASK]s (PTP)": int((labelled & prompt).sum()),
        "replaced tokens (TRP = 1)": int((batch.trp_labels[row] == 1).sum()),
    }
    return pd.Series(counts, name="count")


def _marked_words(tokenizer: BertTokenizerFast, batch: TextBatch, row: int, prompt: bool) -> str:
    """One segment as words: a blank as ``[MASK→answer]``, a replaced word as ``«new»``."""
    special = set(tokenizer.all_special_ids)
    out: list[list[str]] = []  # [text, kind] per word
    for p in range(int(batch.attention_mask[row].sum())):
        token_id = int(batch.input_ids[row, p])
        if bool(batch.prompt_mask[row, p]) != prompt:
            continue
        if token_id == tokenizer.mask_token_id:
            piece, kind = tokenizer.convert_ids_to_tokens(int(batch.mlm_labels[row, p])), "mask"
        elif token_id in special:
            continue
        else:
            piece = tokenizer.convert_ids_to_tokens(token_id)
            kind = "new" if int(batch.trp_labels[row, p]) == 1 else "word"
        if piece.startswith("##") and out:
            out[-1][0] += piece[2:]
        else:
            out.append([piece, kind])
    marks = {"mask": "[MASK→{}]", "new": "«{}»", "word": "{}"}
    return " ".join(marks[kind].format(text) for text, kind in out)


def card_lines(
    tokenizer: BertTokenizerFast, sample: TextSample, batch: TextBatch, row: int = 0
) -> dict[str, str]:
    """What a sample card shows beside the image: the raw texts, then what the model reads.

    Returns:
        label -> text: ``caption``, ``symbol``, ``prompts (T_e)``, then ``caption as read``
        (MLM blanks, TRP replacements) and ``prompts as read`` (PTP blanks, one TRP value).
    """
    symbol = (
        f"{sample.symbol.upper()} -> {symbol_token(sample.symbol)}" if sample.symbol else "none"
    )
    return {
        "caption": sample.caption,
        "symbol": symbol,
        "prompts (T_e)": "; ".join(p.text for p in sample.prompts()),
        "caption as read": _marked_words(tokenizer, batch, row, prompt=False),
        "prompts as read": _marked_words(tokenizer, batch, row, prompt=True),
    }


def first_row_with_antonym(
    processor: TextProcessor, items: Sequence[FashionGenItem], seed: int
) -> int:
    """The first row whose corruption (seeded as in `corrupt_row`) swaps a word for its antonym.

    Raises:
        ValueError: no row of `items` does.
    """
    for i in range(len(items)):
        if antonym_swaps(processor.tokenizer, *corrupt_row(processor, items, i, seed)):
            return i
    raise ValueError("no row's corruption contains a WordNet antonym")
