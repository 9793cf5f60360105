"""FashionSAP's data of a profile, read once per process: splits, the tokenizer, data keys.

- ``fashiongen_split(root, split)``, ``fashioniq_split(root, split, size)``: cached readers.
- ``tokenizer()``: the BERT tokenizer with the fashion symbols (`prompts.build_tokenizer`).
- ``data_key(profile, dataset)``: digest of a dataset's files (part of every run config).
- ``decoder_vocabulary(profile)``: the word pieces the pre-training texts of the profile's training
  split use (captions, symbols, prompts) and the special tokens: the rows of a restricted PTP/MLM
  decoder (`FashionSAPConfig.decoder_vocab`).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from fashion_lib.data.masking import TextConfig, TextProcessor
from fashion_lib.data.prompts import build_tokenizer
from fashion_lib.data.vl_data import FashionGenSplit, FashionIQSplit
from fashion_lib.experiments.backbone_pretrain import world_root
from fashion_lib.fingerprint import file_digest

__all__ = ["data_key", "decoder_vocabulary", "fashiongen_split", "fashioniq_split", "tokenizer"]


@functools.lru_cache(maxsize=4)
def fashiongen_split(root: str, split: str) -> FashionGenSplit:
    return FashionGenSplit(Path(root) / "FashionGen", split)


@functools.lru_cache(maxsize=4)
def fashioniq_split(root: str, split: str, size: int) -> FashionIQSplit:
    return FashionIQSplit(Path(root) / "FashionIQ", split, size)


@functools.lru_cache(maxsize=2)
def tokenizer():
    return build_tokenizer()


@functools.lru_cache(maxsize=8)
def _digest(path: str) -> str:
    return file_digest(path)


def data_key(profile: str, dataset: str) -> str:
    folder = world_root(profile) / dataset
    pattern = "*.h5" if dataset == "FashionGen" else "captions/*.json"
    return "".join(_digest(str(p))[:16] for p in sorted(folder.glob(pattern)))


@functools.lru_cache(maxsize=4)
def decoder_vocabulary(profile: str) -> tuple[int, ...]:
    """Sorted token ids of the training split's uncorrupted pre-training texts, plus the specials.

    Masked and replaced positions are labelled with the original pieces of these texts, so every
    PTP/MLM label but a synonym-augmented prompt word lies in this set (those are not scored).
    """
    split = fashiongen_split(str(world_root(profile)), "train")
    text = TextConfig(max_length=512, mlm_prob=0.0, trp_prob=0.0, synonym_augment=False)
    processor, tok = TextProcessor(tokenizer(), text), tokenizer()
    ids = set(tok.all_special_ids)
    rng = np.random.default_rng(0)
    for lo in range(0, len(split), 256):
        batch = processor.collate([r.sample for r in split.records[lo : lo + 256]], rng)
        labels = batch.mlm_labels[batch.mlm_labels != -100]  # the blanked prompt words
        ids.update(batch.input_ids.unique().tolist(), labels.unique().tolist())
    return tuple(sorted(ids))
