"""FashionSAP text side: symbol tokens, the paper's prompt templates, PTP / MLM / TRP labels."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from fashion_lib.data.masking import IGNORE, PLAIN_TEXT, TextConfig, TextProcessor
from fashion_lib.data.prompts import (
    NAME,
    SYMBOL_TOKENS,
    VALUE,
    TextSample,
    binary_prompt,
    enumerable_prompt,
    fashiongen_sample,
    fashioniq_text,
    season_words,
    words,
)
from fashion_lib.data.taxonomy import SYMBOLS
from fashion_lib.errors import ConfigError

# Every word here is one WordPiece of the MiniLM vocabulary, and so is every antonym below, so a
# replaced sequence lines up position by position with the clean one.
CAPTION = "long black dress with short sleeves and a wide collar in light soft wool"
ANTONYMS = {"long": ["short"], "black": ["white"], "short": ["long"], "wide": ["narrow"],
            "light": ["dark"], "soft": ["hard"], "in": ["out"], "with": ["without"]}  # fmt: skip
# Multi-piece words ("neck ##line", "poly ##ami ##de") catch labels misplaced inside a word.
PIECES = TextSample(
    "sleeveless turtleneck knitwear with drawstring hem in polyamide and spandex",
    "tops",
    attributes=(("neckline", "turtleneck"), ("composition", "polyamide spandex")),
    binary=(("drawstring", True),),
)
SAMPLE = TextSample(
    CAPTION,
    "dresses",
    attributes=(("input_season", "fall winter"), ("gender", "women"), ("category", "dresses")),
    binary=(("red", False), ("wool", True)),
)


def processor(tokenizer, **changes) -> TextProcessor:
    base = dict(shuffle_prompts=False, synonym_augment=False)
    return TextProcessor(
        tokenizer, TextConfig(**{**base, **changes}), antonym_fn=lambda w: ANTONYMS.get(w, []),
        synonym_fn=lambda w: [],
    )  # fmt: skip


def clean_ids(tokenizer, sample: TextSample, prompts: bool = True) -> list[int]:
    """The uncorrupted sequence, built independently with the tokenizer's own pair encoding."""
    head = ["[CLS]", SYMBOL_TOKENS[SYMBOLS.index(sample.symbol)]]
    text = " ".join([*head, sample.caption, "[SEP]"])
    if prompts:
        text += " " + " ".join(p.text for p in sample.prompts()) + " [SEP]"
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_symbols_are_single_never_split_tokens(tokenizer):
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in SYMBOL_TOKENS]
    assert all(len(i) == 1 for i in ids)
    flat = [i[0] for i in ids]
    assert len(set(flat)) == 9 and min(flat) >= 30522 and len(tokenizer) == 30522 + 9
    glued = tokenizer("[shoes_sign]boots", add_special_tokens=False)["input_ids"]
    assert glued[0] == flat[SYMBOLS.index("shoes")] and len(glued) == 2


def test_prompts_follow_the_paper_templates():
    assert enumerable_prompt("input_season", "Spring Summer 2017").text == (
        "the image attribute season is spring summer 2017"
    )
    assert enumerable_prompt("subcategory", "T-Shirts").text == (
        "the image attribute sub category is t shirts"
    )
    assert binary_prompt("pure cotton", True).text == "is image attribute pure cotton? yes"
    assert binary_prompt("red", False).text == "is image attribute red? no"
    assert words("Wool<br>blend / jersey, two-tone!") == ["wool", "blend", "jersey", "two", "tone"]
    with pytest.raises(ConfigError):
        TextSample("x", symbol="hats")


def test_plain_text_is_cls_caption_sep(tokenizer):
    batch = TextProcessor(tokenizer, PLAIN_TEXT).collate([SAMPLE], np.random.default_rng(0))
    expected = tokenizer(CAPTION)["input_ids"]
    assert batch.input_ids[0].tolist() == expected
    assert (batch.mlm_labels == IGNORE).all() and (batch.trp_labels == 0).all()
    assert batch.symbol_ids.tolist() == [-1] and batch.symbol_position == -1


def prompt_slots(tokenizer, sample: TextSample) -> list[dict[int, list[int]]]:
    """Per prompt (in order), the token positions of its NAME and VALUE slots in the clean ids."""
    pos = len(clean_ids(tokenizer, sample, prompts=False))
    slots = []
    for prompt in sample.prompts():
        by_role: dict[int, list[int]] = {NAME: [], VALUE: []}
        for word, role in zip(prompt.words, prompt.roles, strict=True):
            n = len(tokenizer(word, add_special_tokens=False)["input_ids"])
            by_role.setdefault(role, []).extend(range(pos, pos + n))
            pos += n
        slots.append(by_role)
    return slots


def test_ptp_blanks_name_or_value_with_aligned_labels(tokenizer):
    proc = processor(tokenizer, mlm_prob=0.0, trp_prob=0.0)
    blanked_names = 0
    for seed, sample in itertools.product(range(10), (SAMPLE, PIECES)):
        clean = clean_ids(tokenizer, sample)
        slots = prompt_slots(tokenizer, sample)
        batch = proc.collate([sample], np.random.default_rng(seed))
        ids, labels = batch.input_ids[0].tolist(), batch.mlm_labels[0].tolist()
        assert len(ids) == len(clean)
        masked = [i for i, t in enumerate(ids) if t == tokenizer.mask_token_id]
        assert masked == [i for i, lab in enumerate(labels) if lab != IGNORE]
        # Labels sit exactly on the blanked positions: restoring them gives the clean sequence.
        assert [lab if lab != IGNORE else t for t, lab in zip(ids, labels, strict=True)] == clean
        assert all(batch.prompt_mask[0, i] for i in masked)
        # Every prompt has exactly one slot blanked, all of its pieces and nothing else.
        for slot in slots:
            hit = sorted(set(masked) & set(slot[NAME] + slot[VALUE]))
            assert hit in (slot[NAME], slot[VALUE])
            blanked_names += hit == slot[NAME]
        assert len(masked) == sum(len(set(masked) & set(s[NAME] + s[VALUE])) for s in slots)
    assert 0 < blanked_names < 10 * 8  # both slots get blanked across seeds


def test_caption_mlm_labels_align_and_count(tokenizer):
    proc = processor(tokenizer, use_prompts=False, mlm_prob=0.25, trp_prob=0.0)
    clean = clean_ids(tokenizer, PIECES, prompts=False)
    pieces = [len(tokenizer.tokenize(w)) for w in PIECES.caption.split()]
    batch = proc.collate([PIECES, PIECES], np.random.default_rng(3))
    for row in range(2):
        ids, labels = batch.input_ids[row].tolist(), batch.mlm_labels[row].tolist()
        masked = [i for i, t in enumerate(ids) if t == tokenizer.mask_token_id]
        # Whole words: the masked positions are all the pieces of round(0.25 * 10) = 2 words.
        starts = np.cumsum([2, *pieces[:-1]])  # [CLS] [symbol] come first
        words_hit = [k for k, st in enumerate(starts) if st in masked]
        assert len(words_hit) == 2
        assert masked == [int(starts[k]) + j for k in words_hit for j in range(pieces[k])]
        assert all(labels[i] == clean[i] for i in masked)
        assert sum(lab != IGNORE for lab in labels) == len(masked)
    assert batch.input_ids[0].tolist() != batch.input_ids[1].tolist()  # fresh draws per sample


def test_trp_labels_mark_exactly_the_replaced_tokens(tokenizer):
    proc = processor(tokenizer, mlm_prob=0.15, trp_prob=0.3)
    clean = clean_ids(tokenizer, SAMPLE)
    n_words = len(CAPTION.split())
    antonym_counts, value_replaced = [], 0
    for seed in range(10):
        batch = proc.collate([SAMPLE], np.random.default_rng(seed))
        ids, trp = batch.input_ids[0].tolist(), batch.trp_labels[0].tolist()
        mlm, prompt = batch.mlm_labels[0].tolist(), batch.prompt_mask[0].tolist()
        assert len(ids) == len(clean)
        changed = {i for i, (a, b) in enumerate(zip(ids, clean, strict=True)) if a != b}
        replaced = {i for i, t in enumerate(trp) if t == 1}
        masked = {i for i, lab in enumerate(mlm) if lab != IGNORE}
        assert replaced | masked == changed and not replaced & masked
        caption_replaced = [i for i in replaced if not prompt[i]]
        assert len(caption_replaced) == round(0.3 * n_words)
        value_replaced += sum(1 for i in replaced if prompt[i])
        tokens = tokenizer.convert_ids_to_tokens
        antonym_counts.append(
            sum(tokens(ids[i]) in ANTONYMS.get(tokens(clean[i]), []) for i in caption_replaced)
        )
        assert set(trp) <= {0, 1}
    # One attribute value per sample, unless PTP blanked every value (probability 1/32 here).
    assert 8 <= value_replaced <= 10
    half = round(0.3 * n_words) / 2
    assert all(int(half) <= c <= int(half) + 1 for c in antonym_counts)


def test_binary_answer_flips_and_padding_is_ignored(tokenizer):
    short = TextSample("red coat", "coats", binary=(("hood", True),))
    proc = processor(tokenizer, mlm_prob=0.0, trp_prob=0.5)
    flips = 0
    for seed in range(30):
        batch = proc.collate([short, SAMPLE], np.random.default_rng(seed))
        row = batch.input_ids[0].tolist()
        pad = batch.attention_mask[0] == 0
        assert pad.any() and (batch.trp_labels[0][pad] == IGNORE).all()
        assert (batch.mlm_labels[0][pad] == IGNORE).all()
        assert (batch.input_ids[0][pad] == tokenizer.pad_token_id).all()
        flips += tokenizer.convert_tokens_to_ids("no") in row
    assert flips > 0  # "yes" replaced by its antonym "no" in some draws


def test_long_antonyms_never_exceed_the_length_cap(tokenizer):
    long_words = {w: ["heavy footed ill at ease"] for w in CAPTION.split()}
    proc = TextProcessor(tokenizer, TextConfig(max_length=20, trp_prob=0.5, mlm_prob=0.0),
                         lambda w: long_words.get(w, []), lambda w: [])  # fmt: skip
    for seed in range(5):
        batch = proc.collate([SAMPLE], np.random.default_rng(seed))
        assert batch.input_ids.shape[1] <= 20
        assert batch.input_ids[0, -1].item() == tokenizer.sep_token_id


def test_same_seed_same_batch_and_length_cap(tokenizer):
    proc = processor(tokenizer, max_length=24, shuffle_prompts=True)
    a = proc.collate([SAMPLE] * 3, np.random.default_rng(7))
    b = proc.collate([SAMPLE] * 3, np.random.default_rng(7))
    assert all((getattr(a, f) == getattr(b, f)).all() for f in ("input_ids", "mlm_labels"))
    assert a.input_ids.shape[1] <= 24
    assert (a.input_ids[:, 1] == tokenizer.convert_tokens_to_ids("[dresses_sign]")).all()
    assert a.symbol_ids.tolist() == [SYMBOLS.index("dresses")] * 3 and a.symbol_position == 1


def test_fashiongen_rows_and_fashioniq_captions_become_samples():
    from fashion_lib.data.formats.fashiongen import FashionGenItem

    values = {f.name: "" for f in dataclasses.fields(FashionGenItem)}
    values |= dict(index=0, index_2=0, msrp_usd=1.0, product_id=5, category="SUITS & BLAZERS",
                   subcategory="BLAZERS", gender="WOMEN", season="FW2016", name="Wool blazer",
                   description="Single-breasted wool blazer.")  # fmt: skip
    sample = fashiongen_sample(FashionGenItem(**values))
    assert sample.symbol == "dresses"  # as in FashionSAP's categorys_to_sign.txt
    assert dict(sample.attributes)["season"] == "fall winter 2016"
    assert "composition" not in dict(sample.attributes)  # empty values are left out
    assert season_words("SS2017") == "spring summer 2017" and season_words("resort") == "resort"
    assert fashioniq_text(["is darker ", "has long sleeves"]).caption == (
        "is darker and has long sleeves"
    )
