# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # FashionSAP: fashion symbols, attribute prompts and the model
#
# FashionSAP {cite}`han2023fashionsap` is ALBEF {cite}`li2021albef` with two fashion-specific ideas
# on the text side:
# a **fashion symbol**, one of nine abstract categories placed right after `[CLS]`, and **attribute
# prompts**, the item's key-value attributes written as short sentences after the caption. Five
# pre-training tasks use them: FSIS (symbol-image similarity), PTP (prompt token prediction, merged
# with caption MLM), TRP (token replacement prediction), ITS (image-text similarity) and ITM
# (image-text match). This chapter builds every input of those tasks from real rows of the proxy
# FashionGen file, token by token, and runs one small forward pass through the model
# (`fashion_lib.data.prompts`, `fashion_lib.data.masking`, `fashion_lib.models.fashionsap`). It trains
# nothing; chapter 07 pre-trains.

# %% [markdown]
# ## Learning objectives
#
# After this chapter you can ...
#
# - map any of FashionGen's 48 categories to its fashion symbol, and say why the symbol is a new
#   token with its own embedding rather than a word of the vocabulary;
# - fill the two attribute-prompt templates from a product's attributes;
# - read a corrupted token sequence position by position and say which label PTP, MLM and TRP put
#   on each token;
# - follow one forward pass of the model to the five loss terms of Eq. 11.
#
# Symbols used: {term}`fashion symbol`, {term}`E_t`, {term}`T_e`, {term}`T_b`, {term}`FSIS`,
# {term}`PTP`, {term}`MLM`, {term}`TRP`, {term}`ITS`, {term}`ITM`, {term}`H_0`.

# %% tags=["parameters"]
profile = "smoke"

# %%
import numpy as np
import pandas as pd
import torch

from fashion_lib.data import taxonomy, wordnet
from fashion_lib.data.masking import IGNORE, TextProcessor
from fashion_lib.data.prompts import (
    SYMBOL_TOKENS,
    binary_prompt,
    build_tokenizer,
    fashiongen_sample,
    words,
)
from fashion_lib.data.vl_data import FashionGenSplit, model_input
from fashion_lib.experiments.backbone_pretrain import world_root
from fashion_lib.experiments.fashionsap_settings import sap_settings
from fashion_lib.losses.fashionsap import FashionSAPLoss
from fashion_lib.models import create_model
from fashion_lib.models.fashionsap_tasks import TINY
from fashion_lib.profiles import get_profile

settings = get_profile(profile)
torch.manual_seed(settings.seed)
torch.set_num_threads(min(2, torch.get_num_threads()))
root = world_root(profile)
sap = sap_settings(profile)
train = FashionGenSplit(root / "FashionGen", "train")
items = train.file.items()
print(f"profile: {settings.name}; FashionGen train rows: {len(train)} in {train.path}")

# %% [markdown]
# ## 48 categories, nine symbols (Table 1)
#
# > "We propose a concept semantic layer to embed similar category terms into the same fashion
# > symbol [...] 1. Body Part [...] 2. Function" (Sec. 3.1.1).
#
# FashionGen names 48 categories. The paper's Table 1 lists only a few examples per symbol; the
# complete map is the released code's `categorys_to_sign.txt`, which `taxonomy.CATEGORY_TO_SYMBOL`
# holds verbatim (including its one surprise: "suits & blazers" is a *dress*, not a coat).

# %% tags=["nbval-check-output"]
symbol_table = (
    pd.Series(taxonomy.CATEGORY_TO_SYMBOL, name="symbol")
    .rename_axis("category")
    .reset_index()
    .groupby("symbol", sort=False)["category"]
    .agg(categories=", ".join, count="size")
    .reindex(taxonomy.SYMBOLS)
)
assert symbol_table["count"].sum() == len(taxonomy.FASHIONGEN_CATEGORIES) == 48
symbol_table

# %% [markdown]
# ## A symbol is one token with its own embedding
#
# > "We use an embedding layer to learn the representation of these fashion symbols" (Sec. 3.1.1).
#
# The tokenizer is BERT's {cite}`devlin2019bert` WordPiece vocabulary (the offline copy of the
# sentence-transformers {cite}`reimers2019sbert` MiniLM {cite}`wang2020minilm`) with the
# nine symbols added
# as special tokens: they are never split, and they get new ids after the 30522 words, so the text
# encoder's embedding table grows by nine rows that are learned from scratch. The word "tops" and
# the symbol `[tops_sign]` are different tokens with different embeddings.

# %% tags=["nbval-check-output"]
tokenizer = build_tokenizer()
symbol_ids = tokenizer.convert_tokens_to_ids(list(SYMBOL_TOKENS))
pd.DataFrame(
    {
        "symbol": taxonomy.SYMBOLS,
        "token": SYMBOL_TOKENS,
        "id": symbol_ids,
        "pieces": [tokenizer.tokenize(t) for t in SYMBOL_TOKENS],
        "the plain word's pieces": [tokenizer.tokenize(s) for s in taxonomy.SYMBOLS],
    }
)

# %% tags=["nbval-check-output"]
base_vocab = len(tokenizer) - len(SYMBOL_TOKENS)
assert symbol_ids == list(range(base_vocab, len(tokenizer)))
assert all(len(tokenizer.tokenize(t)) == 1 for t in SYMBOL_TOKENS)
print(
    f"vocabulary: {base_vocab} WordPiece entries + {len(SYMBOL_TOKENS)} symbols = {len(tokenizer)}"
)

# %% [markdown]
# ## Attribute prompts from real rows
#
# > "The first template covers the enumerable attributes [...] $\mathcal{T}_e$ = the image attribute
# > [An] is [Au] [...] For binary attributes, the template is: $\mathcal{T}_b$ = is image attribute
# > [Ab]? [As]" (Sec. 3.1.2).
#
# A FashionGen row carries six enumerable attributes that FashionSAP prompts (category, sub-category,
# composition, gender, season, name); `fashiongen_sample` turns a row into the caption, its symbol
# and one $\mathcal{T}_e$ prompt per attribute. Three rows of different symbols:

# %%
picked, seen = [], set()
for i, item in enumerate(items):
    symbol = taxonomy.symbol_of(item.category)
    if symbol not in seen:
        picked.append(i)
        seen.add(symbol)
    if len(picked) == 3:
        break
rows = []
for i in picked:
    sample = fashiongen_sample(items[i])
    rows += [
        {"row": i, "category": items[i].category, "symbol": sample.symbol, "prompt": p.text}
        for p in sample.prompts()
    ]
pd.DataFrame(rows).set_index(["row", "category", "symbol"])

# %% [markdown]
# FashionGen has no binary attributes, so pre-training on it uses $\mathcal{T}_e$ only. To show
# $\mathcal{T}_b$ filled from the same data, we read a colour word from the first row's product
# name as a present attribute and a colour absent from the row as an absent one:

# %%
first = items[picked[0]]
colour = words(first.name)[0]
absent = next(c for c in ("red", "green", "navy", "black") if c not in words(first.description))
print(f"name: {first.name!r}")
for label, present in ((colour, True), (absent, False)):
    print(binary_prompt(label, present).text)

# %% [markdown]
# ## The corrupted text: PTP blanks, caption MLM and TRP replacements
#
# > PTP: "we choose a proper template $\mathcal{T}$ and use blank tokens to randomly hold the places of
# > the name or value tokens with a probability of 0.5" (Sec. 3.3.2). TRP: "we choose some tokens
# > (ratio of 0.15) from the caption and one of the attribute values. Then, half of the chosen tokens
# > are replaced by the antonyms searched by WordNet [...] and the other half are replaced by random
# > tokens from the vocabulary" (Sec. 3.3.3).
#
# `TextProcessor` builds `[CLS] [symbol] caption [SEP] prompts [SEP]` and corrupts it on *words*
# before tokenising, so every label sits on the word pieces it describes. In every prompt the name
# or the value becomes `[MASK]`s labelled with the original pieces (PTP); 15% of the caption words
# become `[MASK]` (MLM); 15% of the caption words and one visible attribute value are replaced, half
# by a WordNet {cite}`miller1995wordnet` antonym, half by a random vocabulary word (TRP label 1). We look for the first row
# whose corruption includes a WordNet antonym, so the table shows all three kinds.

# %%
processor = TextProcessor(tokenizer, TINY.text_config())  # the five tasks on


def corrupt(i):
    """Row i's sample and its corrupted one-row batch (a seed per row: reproducible)."""
    sample = fashiongen_sample(items[i])
    return sample, processor.collate([sample], np.random.default_rng([settings.seed, i]))


def antonym_swaps(sample, batch):
    """Caption words whose replacement is one of their WordNet antonyms."""
    replaced = tokenizer.convert_ids_to_tokens(batch.input_ids[0][batch.trp_labels[0] == 1])
    return [(w, a) for w in words(sample.caption) for a in wordnet.antonyms(w)[:1] if a in replaced]


example = next(i for i in range(len(items)) if antonym_swaps(*corrupt(i)))
sample, batch = corrupt(example)
print(f"row {example}; caption: {sample.caption}")
print("antonym swaps (word -> WordNet antonym):", antonym_swaps(sample, batch))

# %%
tokens = tokenizer.convert_ids_to_tokens(batch.input_ids[0])
mlm = batch.mlm_labels[0].tolist()
sequence = pd.DataFrame(
    {
        "token": tokens,
        "segment": np.where(batch.prompt_mask[0].numpy(), "prompt", "caption"),
        "MLM / PTP label": [tokenizer.convert_ids_to_tokens(m) if m != IGNORE else "" for m in mlm],
        "TRP label": batch.trp_labels[0].tolist(),
    }
)
sequence.loc[[0, 1], "segment"] = ["[CLS]", "symbol"]
with pd.option_context("display.max_rows", 200):
    display(sequence)  # noqa: F821 (IPython builtin)

# %%
counts = pd.Series(
    {
        "tokens": len(tokens),
        "caption [MASK]s (MLM)": int(
            ((batch.mlm_labels[0] != IGNORE) & ~batch.prompt_mask[0]).sum()
        ),
        "prompt [MASK]s (PTP)": int(((batch.mlm_labels[0] != IGNORE) & batch.prompt_mask[0]).sum()),
        "replaced tokens (TRP = 1)": int((batch.trp_labels[0] == 1).sum()),
    },
    name="count",
)
assert counts.iloc[1:].gt(0).all()
counts.to_frame()

# %% [markdown]
# > **Where the released code differs, and why we follow the paper.** The code of
# > `hssip/FashionSAP` writes every attribute as "the image {name} is {value}", not the paper's
# > $\mathcal{T}_e$; its binary template sits in a branch that six-attribute FashionGen input never
# > reaches (and would fail if it did); it blanks the name or value of *one* shuffled attribute
# > rather than of each prompt; and it appends the caption's MLM labels in shuffled order while
# > writing them to the masked positions in ascending order, so the labels of a caption are permuted
# > across its `[MASK]`s. We implement the templates and the labelling the paper describes, with
# > every label aligned to its position (a test checks this on a hand-built example), since a
# > reproduction of the paper should test the paper's method; the code's prompt wording is a
# > one-line change in `prompts.enumerable_prompt` for a reader who wants it. Two choices the paper
# > leaves open are ours: caption MLM always writes `[MASK]` (BERT's random-token branch would put
# > unlabelled replacements beside TRP's labelled ones), and a random TRP replacement is a whole
# > vocabulary word, never a word piece.

# %% [markdown]
# ## The model, one forward pass
#
# > "FashionSAP consists of an image encoder, a text encoder and a feature fusion module [...]
# > $CA^k(T, I) = \mathrm{softmax}\big((W_T^k T)(W_{I_1}^k I)^\top / \sqrt{d}\big)(W_{I_2}^k I)^\top$"
# > (Sec. 3.2, Eq. 1).
#
# The image encoder turns an image into $I = \{v_{img}, v_{i_0}, \dots\}$, the text encoder turns the
# token sequence into $T = \{v_{cls}, v_{symbol}, v_{t_0}, \dots\}$, and the fusion layers let the
# text attend to the image (Eq. 1). On top sit the five task heads. The profile's model (in the
# smoke and cpu profiles a ViT {cite}`dosovitskiy2021vit` with patches of 8 px and a small random BERT; the paper's is ViT-B/16
# and BERT-base) runs four real rows of the world, resized and normalised as in training:

# %%
model = create_model(sap.model, image_size=sap.image_size)
four = list(range(4))
images = model_input(train.images(four), sap.image_size)  # (4, 3, S, S)
text = processor.collate([train.records[i].sample for i in four], np.random.default_rng(0))
out = model(images, text, train.product_ids[:4], generator=torch.Generator().manual_seed(0))
print(f"model {sap.model}: images {tuple(images.shape)}, token ids {tuple(text.input_ids.shape)}")


# %%
def shapes(prefix, obj):
    """(name, shape) of every tensor inside a (nested) output dataclass."""
    if isinstance(obj, torch.Tensor):
        return [(prefix, tuple(obj.shape))]
    if isinstance(obj, list):
        return [r for k, v in enumerate(obj) for r in shapes(f"{prefix}[{k}]", v)]
    if hasattr(obj, "__dataclass_fields__"):
        return [
            r for k in obj.__dataclass_fields__ for r in shapes(f"{prefix}.{k}", getattr(obj, k))
        ]
    return []


pd.DataFrame(shapes("out", out), columns=["output", "shape"]).set_index("output")

# %% [markdown]
# What the shapes say: `image_emb` and `text_emb` are the ITS embeddings $W_I v_{img}$ and
# $W_T v_{cls}$; `fused.hidden` is $H$ and `fused.cross_attention[k]` the probabilities of Eq. 1 in
# layer k (heads x text tokens x (1 + patches)), which chapter 09 turns into Grad-CAM
# {cite}`selvaraju2017gradcam` maps;
# `fsis` holds the adapted symbol and image features of Eq. 2; `ptp.logits` has one vocabulary row
# per labelled `[MASK]`; `trp.logits` two classes per token; `its` the momentum banks and `itm` the
# match logits of the positive pairs followed by the hard negatives. The loss of Eq. 11 is the sum of
# the named terms:

# %%
terms = FashionSAPLoss()(out)
assert set(terms) == {"fsis", "ptp", "trp", "its", "itm"}
assert all(torch.isfinite(v) for v in terms.values())
pd.Series({k: float(v.detach()) for k, v in terms.items()}, name="untrained loss").to_frame()

# %%
parameters = pd.Series(
    {
        name: sum(p.numel() for p in module.parameters())
        for name, module in model.named_children()
        if not name.endswith("_m")
    },
    name="parameters",
)
parameters.to_frame()

# %% [markdown]
# ## What this chapter produced
#
# - the 48 -> 9 symbol map as a table, and the symbols as single tokens with their own ids;
# - the two prompt templates filled from real proxy FashionGen rows;
# - one real sample corrupted for PTP, MLM and TRP, token by token with its labels;
# - the shapes of every output of one forward pass and the five loss terms of Eq. 11.

# %% [markdown]
# ## Exercises
#
# Each exercise changes one thing. Write down your prediction before opening the solution; the
# solution makes the change and computes what happens on this profile's data. None of them trains:
# they use the chapter's tokenizer, rows and untrained model, and run in seconds on every profile.

# %% [markdown] tags=["exercise"]
# ### Exercise 6.1: random words instead of antonyms in TRP
#
# **Change** TRP's replacements so that they never come from WordNet: a `TextProcessor` whose
# `antonym_fn` finds no antonym (`lambda word: []`) replaces every chosen word by a random
# vocabulary word. **Predict** how often a replacement is a word that also occurs in some caption of
# the catalogue, with and without antonyms, and what that changes for the TRP head: what must it
# know to spot a replaced word? **Observe** the replacements of the first 100 training rows under
# the seeds used above. Budget: 100 rows, text only, no model.

# %% tags=["solution", "hide-cell"]
# Prediction: without WordNet every replacement is a random vocabulary word ("cameo", "invade"),
# which is almost never a word of the catalogue: the head can spot it from the text alone, like a
# spelling error. An antonym ("long" -> "short", "black" -> "white") is a fashion word in a fashion
# sentence; only the image says it is wrong. So we expect a clearly larger share of in-catalogue
# replacements with antonyms on, and a harder, more visual TRP task.
no_antonyms = TextProcessor(tokenizer, processor.config, antonym_fn=lambda word: [])
catalogue = {w for item in items for w in words(item.description)}
exercise_rows = range(min(100, len(items)))


def caption_replacements(proc, rows):
    """The words written over replaced caption words of `rows` (the same seeds as above)."""
    new = []
    for i in rows:
        one = proc.collate([fashiongen_sample(items[i])], np.random.default_rng([settings.seed, i]))
        replaced = ~one.prompt_mask[0] & (one.trp_labels[0] == 1)  # (L,) caption tokens only
        new += tokenizer.decode(one.input_ids[0][replaced]).split()
    return new


trp_choice = {}
for name, proc in (("WordNet antonym or random", processor), ("random only", no_antonyms)):
    new = caption_replacements(proc, exercise_rows)
    trp_choice[name] = {
        "replaced words": len(new),
        "also a word of some caption (%)": round(100 * np.mean([w in catalogue for w in new]), 1),
        "first replacements": ", ".join(new[:6]),
    }
with pd.option_context("display.max_colwidth", 90):
    display(pd.DataFrame(trp_choice).T)  # noqa: F821 (IPython builtin)

# %% [markdown] tags=["exercise"]
# ### Exercise 6.2: how much of the caption MLM masks
#
# **Change** the caption's masking probability `mlm_prob` of the `TextConfig` from its default to 0,
# then to the largest value allowed beside TRP (1 - `trp_prob`). **Predict** which segment's
# `[MASK]` count moves and which one does not move at all, and why. **Observe** the `[MASK]` tokens
# of the caption and of the prompts over the same 100 rows and seeds. Budget: 100 rows, text only.

# %% tags=["solution", "hide-cell"]
# Prediction: only the caption's [MASK]s move, from none at mlm_prob = 0 to most caption tokens at
# 1 - trp_prob. The prompts' [MASK]s are PTP's blanks: every prompt loses its name or its value
# whatever mlm_prob says, and the prompts are corrupted before the caption with the same generator,
# so even the same slots are blanked: the prompt count should be identical in the three rows.
import dataclasses


def segment_masks(config, rows):
    """[MASK] tokens per segment over `rows` under a text config (the same seeds as above)."""
    proc = TextProcessor(tokenizer, config)
    counts = {"caption tokens": 0, "caption [MASK]s": 0, "prompt [MASK]s": 0}
    for i in rows:
        one = proc.collate([fashiongen_sample(items[i])], np.random.default_rng([settings.seed, i]))
        masked = one.input_ids[0] == tokenizer.mask_token_id  # (L,)
        counts["caption tokens"] += int((~one.prompt_mask[0]).sum()) - 3  # not [CLS], symbol, [SEP]
        counts["caption [MASK]s"] += int((masked & ~one.prompt_mask[0]).sum())
        counts["prompt [MASK]s"] += int((masked & one.prompt_mask[0]).sum())
    return counts


base = processor.config
mlm_sweep = pd.DataFrame(
    {
        p: segment_masks(dataclasses.replace(base, mlm_prob=p), exercise_rows)
        for p in (0.0, base.mlm_prob, 1 - base.trp_prob)
    }
).T.rename_axis("mlm_prob")
mlm_sweep

# %% [markdown] tags=["exercise"]
# ### Exercise 6.3: remove the symbol token
#
# **Change** only the text: encode the four rows of the forward pass above with `use_symbol=False`
# and give the batch to the same model. **Predict** what happens to the sequence (its length, the
# token at position 1) and to the forward pass of a model whose FSIS switch is on. **Observe** both.
# Budget: four rows, one forward pass per text.

# %% tags=["solution", "hide-cell"]
# Prediction: without the symbol every sequence is one token shorter and the first caption word
# moves to position 1. FSIS aligns the symbol's state with the image, so a model with FSIS on has no
# symbol to read: it must refuse the batch (a ConfigError) rather than silently align a caption word
# with the image. Switching FSIS off in the model's config (as Table 6's first three rows do) drops
# the symbol from the text and the two FSIS adapters from the model.
from fashion_lib.errors import ConfigError

no_symbol = TextProcessor(tokenizer, dataclasses.replace(processor.config, use_symbol=False))
text_no_symbol = no_symbol.collate(
    [train.records[i].sample for i in four], np.random.default_rng(0)
)
try:
    model(images, text_no_symbol, train.product_ids[:4])
    outcome = "ran"
except ConfigError as error:
    outcome = f"ConfigError: {error}"
symbol_check = {
    name: {
        "tokens (longest row)": batch4.input_ids.shape[1],
        "token at position 1": tokenizer.convert_ids_to_tokens(int(batch4.input_ids[0, 1])),
        "forward pass with FSIS on": result,
    }
    for name, batch4, result in (
        ("with the symbol (the pass above)", text, "ran" if out.fsis is not None else "no FSIS"),
        ("without the symbol", text_no_symbol, outcome),
    )
}
adapters = sum(
    p.numel() for m in (model.symbol_adapter, model.image_adapter) for p in m.parameters()
)
print(f"parameters of the two FSIS adapters that an FSIS-off model does not have: {adapters}")
pd.DataFrame(symbol_check).T

# %% [markdown]
# ## Provenance
#
# What produced this page: the profile, the run records this chapter wrote or reused (name,
# configuration hash, seed), the commit of the code, the chapter's wall time and peak memory, and
# the machine.

# %%
from fashion_lib.book.provenance import provenance_block

provenance_block(profile)
