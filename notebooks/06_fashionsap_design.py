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
# - recompute the fusion module's cross-attention (Eq. 1) by hand and check it against the library;
# - follow one forward pass of the model, box by box in its diagram, to the five loss terms of
#   Eq. 11.
#
# Symbols used: {term}`fashion symbol`, {term}`E_t`, {term}`T_e`, {term}`T_b`, {term}`FSIS`,
# {term}`PTP`, {term}`MLM`, {term}`TRP`, {term}`ITS`, {term}`ITM`, {term}`H_0`.

# %% tags=["parameters"]
profile = "smoke"

# %% tags=["hide-input"]
# %matplotlib inline

import numpy as np
import pandas as pd
import torch
from IPython.display import display

from fashion_lib.book import sap_text
from fashion_lib.book.diagrams import fashionsap_diagram, sample_cards
from fashion_lib.book.model_tables import model_facts, parameter_table, tensor_shapes
from fashion_lib.book.teach import check_equal, show_source
from fashion_lib.data import taxonomy
from fashion_lib.data.masking import TextProcessor
from fashion_lib.data.prompts import (
    SYMBOL_TOKENS,
    binary_prompt,
    build_tokenizer,
    fashiongen_sample,
    words,
)
from fashion_lib.data.vl_data import FashionGenSplit, model_input
from fashion_lib.experiments.backbone_pretrain import world_root
from fashion_lib.experiments.fashionsap_pretrain import profile_model
from fashion_lib.experiments.fashionsap_settings import VARIANTS, sap_settings
from fashion_lib.losses.fashionsap import FashionSAPLoss
from fashion_lib.models.fashionsap import FashionSAP
from fashion_lib.models.fashionsap_tasks import TINY
from fashion_lib.models.fusion import Attention, FusionLayer
from fashion_lib.profiles import get_profile

settings = get_profile(profile)
torch.manual_seed(settings.seed)
torch.set_num_threads(min(2, torch.get_num_threads()))
root = world_root(profile)
sap = sap_settings(profile)
train = FashionGenSplit(root / "FashionGen", "train")
items = train.file.items()
print(f"profile: {settings.name}; FashionGen train rows: {len(train)}")

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
        "pieces of the word": [tokenizer.tokenize(s) for s in taxonomy.SYMBOLS],
    }
)

# %% tags=["nbval-check-output"]
base_vocab = len(tokenizer) - len(SYMBOL_TOKENS)
assert symbol_ids == list(range(base_vocab, len(tokenizer)))
assert all(len(tokenizer.tokenize(t)) == 1 for t in SYMBOL_TOKENS)
n_symbols = len(SYMBOL_TOKENS)
print(f"vocabulary: {base_vocab} WordPiece + {n_symbols} symbols")
print(f"= {len(tokenizer)} tokens")

# %% [markdown]
# ## Attribute prompts from real rows
#
# > "The first template covers the enumerable attributes [...] $\mathcal{T}_e$ = the image attribute
# > [An] is [Au] [...] For binary attributes, the template is: $\mathcal{T}_b$ = is image attribute
# > [Ab]? [As]" (Sec. 3.1.2).
#
# A FashionGen row carries six enumerable attributes that FashionSAP prompts (category, sub-category,
# composition, gender, season, name); `fashiongen_sample` turns a row into the caption, its symbol
# and one $\mathcal{T}_e$ prompt per attribute. The first rows of three different symbols:

# %%
first_of = {}  # symbol -> the first row that has it
for i, item in enumerate(items):
    first_of.setdefault(taxonomy.symbol_of(item.category), i)
picked = sorted(first_of.values())[:3]
rows = [
    {"row": i, "symbol": fashiongen_sample(items[i]).symbol, "prompt": p.text}
    for i in picked
    for p in fashiongen_sample(items[i]).prompts()
]
pd.DataFrame(rows).set_index(["row", "symbol"])

# %% [markdown]
# FashionGen has no binary attributes, so pre-training on it uses $\mathcal{T}_e$ only. To show
# $\mathcal{T}_b$ filled from the same data, we read a colour word from the first row's product
# name as a present attribute and a colour absent from the row as an absent one:

# %%
first = items[picked[0]]
colour = words(first.name)[0]
colours = ("red", "green", "navy", "black")
absent = next(c for c in colours if c not in words(first.description))
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
# by a WordNet {cite}`miller1995wordnet` antonym, half by a random vocabulary word (TRP label 1).
#
# One card per picked row shows what the model is given: the image, the caption, the symbol, the
# filled prompts, and then the caption and the prompts *as the model reads them*, a blank written
# `[MASK→answer]` (the answer is its MLM / PTP label) and a TRP replacement written `«word»`
# ({numref}`fig-sap-cards`). Each row is corrupted with its own seed, `(seed, row)`, so a card is
# reproducible.

# %% mystnb={"figure": {"caption": "Three rows of the proxy FashionGen as FashionSAP's pre-training sees them: the raw texts, then the corrupted caption (MLM blanks, TRP replacements) and prompts (PTP blanks, one replaced value).", "name": "fig-sap-cards"}}
processor = TextProcessor(tokenizer, TINY.text_config())  # the five tasks on
seed = settings.seed
corrupted = [sap_text.corrupt_row(processor, items, i, seed) for i in picked]
lines = [sap_text.card_lines(tokenizer, *pair) for pair in corrupted]
titles = [f"row {i}: {items[i].category.lower()}" for i in picked]
sample_cards(train.images(picked), titles, lines)

# %% [markdown]
# Some words of the prompts as read are not in the raw prompts at all: before corrupting, the
# processor replaces the words of one attribute's name or value by WordNet synonyms (the paper's
# "raw data preprocessing", Sec. 4.5). WordNet mixes the senses of a word, so "women" may come
# back as "charwoman" and "sub category" as "bomber family": the cards show what that
# augmentation really feeds the model.
#
# Token by token, for the first row whose corruption swaps a caption word for its WordNet antonym
# (so the table shows all three kinds of corruption):

# %%
example = sap_text.first_row_with_antonym(processor, items, settings.seed)
sample, batch = sap_text.corrupt_row(processor, items, example, settings.seed)
print(f"row {example}; caption: {sample.caption}")
swaps = sap_text.antonym_swaps(tokenizer, sample, batch)
print("antonym swaps (word -> WordNet antonym):", swaps)

# %% tags=["nbval-check-output"]
with pd.option_context("display.max_rows", 200):
    display(sap_text.token_table(tokenizer, batch))

# %%
counts = sap_text.corruption_counts(batch)
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
# ## The fusion module: cross-attention (Eq. 1)
#
# > "FashionSAP consists of an image encoder, a text encoder and a feature fusion module"
# > (Sec. 3.2).
#
# The image encoder turns an image into $I = \{v_{img}, v_{i_0}, \dots, v_{i_N}\}$, the text
# encoder turns the token sequence $E_t$ into $T = \{v_{cls}, v_{symbol}, v_{t_0}, \dots\}$, and
# each of the $k$ fusion layers lets the text attend to the image:
#
# $$CA^k(T, I) = \mathrm{softmax}\left(\frac{(W_T^k T)(W_{I_1}^k I)^\top}{\sqrt{d}}\right)
#   (W_{I_2}^k I)^\top \qquad (1)$$
#
# The library's attention, used for both the text's self-attention and Eq. 1 (`query` is
# $W_T^k$, `key` $W_{I_1}^k$, `value` $W_{I_2}^k$), and the fusion layer around it:

# %%
show_source(Attention.forward, FusionLayer.forward)

# %% [markdown]
# A worked example with one head, two text tokens of width $d = 4$ and three image tokens
# ($v_{img}$ and two patches) of width 3, in float64: Eq. 1 by hand, then the library.

# %% tags=["nbval-check-output"]
torch.manual_seed(0)
cross = Attention(width=4, kv_width=3, num_heads=1).double()
text_T = torch.randn(1, 2, 4, dtype=torch.float64)  # (B, text tokens, d)
image_I = torch.randn(1, 3, 3, dtype=torch.float64)  # (B, 1 + patches, width)
keys = cross.key(image_I).transpose(1, 2)  # (W_I1 I)^T: (1, 4, 3)
scores = cross.query(text_T) @ keys / 4**0.5  # (1, 2, 3)
weights = scores.softmax(dim=-1)  # each text token's distribution over I
mixed = weights @ cross.value(image_I)  # (1, 2, 4): CA(T, I) of Eq. 1
library_out, library_weights = cross(text_T, image_I)
check_equal("softmax of Eq. 1", weights, library_weights[:, 0])
check_equal("output W_O CA(T, I)", cross.out(mixed), library_out)

# %% [markdown]
# > **Our reading.** Eq. 1 is one head; the layers split $d$ into $h$ heads, each scaled by
# > $\sqrt{d/h}$, and mix the heads with an output matrix $W_O$ (`out`), as BERT and ALBEF do.
# > The transpose on $(W_{I_2}^k I)$ is notation: the values are rows, one per image token. Each
# > fusion layer is ALBEF's: text self-attention, then Eq. 1, then a feed-forward block, each
# > with a residual connection and a LayerNorm.

# %% [markdown]
# ## The model, one forward pass
#
# On top of the encoders and the fusion module sit the five task heads. The model below is the one
# this profile's runs train, built by the same function from the same settings
# (`fashionsap_pretrain.profile_model`, the "full" variant); the paper's is ViT-B/16
# {cite}`dosovitskiy2021vit` and BERT-base. It runs four real rows of the world, resized and
# normalised as in training. Its `forward`, from the library:

# %%
show_source(FashionSAP.forward)

# %%
model = profile_model(VARIANTS["full"], profile)
display(model_facts(model).to_frame())
four = list(range(4))
images = model_input(train.images(four), sap.image_size)  # (4, 3, S, S)
samples = [train.records[i].sample for i in four]
text = processor.collate(samples, np.random.default_rng(0))
ids = train.product_ids[:4]
out = model(images, text, ids, generator=torch.Generator().manual_seed(0))
print(f"images {tuple(images.shape)}, token ids {tuple(text.input_ids.shape)}")
tensor_shapes(out)

# %% [markdown]
# What the shapes say: `image_emb` and `text_emb` are the ITS embeddings $W_I v_{img}$ and
# $W_T v_{cls}$; `fused.hidden` is $H$ and `fused.cross_attention[k]` the probabilities of Eq. 1 in
# layer k (heads x text tokens x (1 + patches)), which chapter 09 turns into Grad-CAM
# {cite}`selvaraju2017gradcam` maps;
# `fsis` holds the symbol and image features of Eq. 2, which live in the ITS space (the symbol
# token's state through $W_T$, the image's $v_{img}$ through $W_I$, as the released code computes
# them); `ptp.logits` has one row per labelled `[MASK]`, over the decoder's word pieces;
# `trp.logits` two classes per token; `its` the momentum banks and `itm` the match logits of the
# positive pairs followed by the hard negatives.
#
# The same model as a picture ({numref}`fig-sap-architecture`): the drawing is made from this
# model, each box naming a module, what it is and the shape it returned in a forward pass over the
# same four pairs (eval mode, so nothing is updated).

# %% mystnb={"figure": {"caption": "FashionSAP (Fig. 2) as built by this chapter: every box is a module of the model, labelled from the module and from the shape it returned in one forward pass; arrows end at the loss terms of Eq. 11.", "name": "fig-sap-architecture"}}
fashionsap_diagram(model, images, text, ids)

# %% [markdown]
# The loss of Eq. 11 is the sum of the named terms (chapter 07 takes each term apart). The
# parameters sit mostly in the two encoders (the MLM head's decoder is the text encoder's word
# embedding table, counted once, there); the `trainable` column leaves out what is frozen (a
# pre-trained image body):

# %%
terms = FashionSAPLoss()(out)
assert set(terms) == {"fsis", "ptp", "trp", "its", "itm"}
assert all(torch.isfinite(v) for v in terms.values())
losses = {k: float(v.detach()) for k, v in terms.items()}
display(pd.Series(losses, name="untrained loss").to_frame())
parameter_table(model)

# %% [markdown]
# > **Choices for the smoke and cpu profiles.** The image side is the small CNN that the M3-Net
# > chapters pre-train on the proxy world, frozen, with its maps cached once; a trainable top turns
# > each cell of its map, pooled to a few cells per side, into a patch token and all cells
# > together, through a small MLP, into $v_{img}$, so the fusion module (and chapter 09's Grad-CAM) still attends over
# > image positions. On the cpu profile the text and fusion layers start from MiniLM, as the
# > paper's start from BERT. The PTP/MLM decoder predicts among the word pieces the proxy's
# > training texts use (captions, prompts, symbols and the special tokens) rather than all of
# > MiniLM's: the proxy's texts use a few hundred, and a 30,531-way softmax per masked token would
# > cost more than the rest of the step. On the cpu profile MiniLM's 30,522 word-piece rows stay
# > frozen and only the nine symbols' rows learn (`PartlyFrozenEmbedding`): the table is two
# > thirds of the model, and updating it cost a third of each step. FSIS compares the symbol and
# > the image in the ITS space (chapter 07 says why).

# %% [markdown]
# ## What this chapter produced
#
# - the 48 -> 9 symbol map as a table, and the symbols as single tokens with their own ids;
# - the two prompt templates filled from real proxy FashionGen rows;
# - a card per picked row: image, caption, symbol, prompts and what PTP, MLM and TRP corrupt;
# - one real sample corrupted for PTP, MLM and TRP, token by token with its labels;
# - Eq. 1 beside the library's attention, recomputed by hand;
# - the shapes of every output of one forward pass, the architecture drawn from that pass, and
#   the five loss terms of Eq. 11.

# %% [markdown]
# ## Exercises
#
# Each exercise asks for a prediction and has a try-it cell holding the one value to change. Write
# the prediction down, then open the **Solution**: the prediction and its reasoning in prose, and
# the code that measures what happens at the try-it value (in JupyterLab, change the value and run
# the solution's cells again). None of them trains: they use the chapter's tokenizer, rows and
# untrained model, and run in seconds on every profile.

# %% [markdown] tags=["exercise"]
# ### Exercise 6.1: random words instead of antonyms in TRP
#
# **Change** TRP's replacements so that they never come from WordNet: a `TextProcessor` whose
# `antonym_fn` finds no antonym (`lambda word: []`) replaces every chosen word by a random
# vocabulary word. **Predict** how often a replacement is a word that also occurs in some caption of
# the catalogue, with and without antonyms, and what that changes for the TRP head: what must it
# know to spot a replaced word? **Observe** the replacements of the first 100 training rows under
# the seeds used above. Budget: 100 rows, text only, no model.


# %% tags=["try-it"]
def try_antonyms(word):
    """TRP's antonyms of `word`: none (the default asks WordNet)."""
    return []


# %% [markdown] tags=["solution"]
# **Prediction.** Without WordNet every replacement is a random vocabulary word ("cameo", "invade"),
# which is almost never a word of the catalogue: the head can spot it from the text alone, like a
# spelling error. An antonym ("long" -> "short", "black" -> "white") is a fashion word in a fashion
# sentence; only the image says it is wrong. So we expect a clearly larger share of in-catalogue
# replacements with antonyms on, and a harder, more visual TRP task.

# %% tags=["solution"]
no_antonyms = TextProcessor(tokenizer, processor.config, antonym_fn=try_antonyms)
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
    display(pd.DataFrame(trp_choice).T)

# %% [markdown] tags=["exercise"]
# ### Exercise 6.2: how much of the caption MLM masks
#
# **Change** the caption's masking probability `mlm_prob` of the `TextConfig` from its default to 0,
# then to the largest value allowed beside TRP (1 - `trp_prob`). **Predict** which segment's
# `[MASK]` count moves and which one does not move at all, and why. **Observe** the `[MASK]` tokens
# of the caption and of the prompts over the same 100 rows and seeds. Budget: 100 rows, text only.

# %% tags=["try-it"]
try_mlm_prob = 0.0  # the caption's masking probability

# %% [markdown] tags=["solution"]
# **Prediction.** Only the caption's [MASK]s move, from none at mlm_prob = 0 to most caption tokens at
# 1 - trp_prob. The prompts' [MASK]s are PTP's blanks: every prompt loses its name or its value
# whatever mlm_prob says, and the prompts are corrupted before the caption with the same generator,
# so even the same slots are blanked: the prompt count should be identical in the three rows.

# %% tags=["solution"]
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
        for p in (try_mlm_prob, base.mlm_prob, 1 - base.trp_prob)
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

# %% tags=["try-it"]
try_use_symbol = False  # whether the text starts with its fashion symbol

# %% [markdown] tags=["solution"]
# **Prediction.** Without the symbol every sequence is one token shorter and the first caption word
# moves to position 1. FSIS aligns the symbol's state with the image, so a model with FSIS on has no
# symbol to read: it must refuse the batch (a ConfigError) rather than silently align a caption word
# with the image. Switching FSIS off in the model's config (as Table 6's first three rows do) drops
# the symbol from the text (FSIS has no parameters of its own: it uses the ITS projections).

# %% tags=["solution"]
from fashion_lib.errors import ConfigError

no_symbol = TextProcessor(
    tokenizer, dataclasses.replace(processor.config, use_symbol=try_use_symbol)
)
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
print("FSIS has no parameters of its own: it compares symbol and image through W_T, W_I")
pd.DataFrame(symbol_check).T

# %% [markdown]
# ## Provenance
#
# What produced this page: the profile, the run records this chapter wrote or reused (name,
# configuration hash, seed), the commit of the code, the chapter's wall time and peak memory, and
# the machine.

# %% tags=["hide-input"]
from fashion_lib.book.provenance import provenance_block

provenance_block(profile)
