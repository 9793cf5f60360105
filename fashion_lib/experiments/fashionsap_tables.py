"""Our rows of FashionSAP's Tables 2-6, in the paper's row names and metric columns.

``TABLES[name]`` says which paper CSV a table reproduces, which of our variants stands for which
paper row, and where each metric column comes from. Row mapping:

- "ALBEF [17]": the ALBEF-style warm-up continued with ITS + ITM ("albef"); the paper fine-tunes
  ALBEF itself, we give the baseline the same extra steps as the FashionSAP variants.
- "FashionSAP": all five tasks from the ViT warm-up ("full").
- "FashionSAP(Resnet50)": all five tasks from the CNN warm-up ("full_r50"). The paper trains its
  ResNet-50 and ViT-B16 rows from scratch; our ViT counterpart is the "FashionSAP" row (warm-up
  for both), so "ViT > ResNet-50" compares two models that differ only in the image encoder.
- Tables 4 and 5 print only FashionSAP among our rows; we add "ALBEF-style (ours)" as a baseline
  the paper does not print (its paper cells are empty).
- Table 6: the four task combinations on top of ITS + ITM (full protocol, as its last row equals
  Table 3's FashionSAP row).
- Every table adds ``REFERENCE_ROW``: linear models on the same frozen image features
  (`fashionsap_reference`), the floor that every FashionSAP row must clear; the paper has no
  such row (its cells are empty).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from fashion_lib.errors import ConfigError
from fashion_lib.experiments import fashionsap_reference as reference
from fashion_lib.experiments.fashionsap_settings import sap_settings

__all__ = ["ABLATION", "REFERENCE_ROW", "TABLES", "TableSpec", "table_from"]

RETRIEVAL_COLUMNS = {
    "I2T R@1": "i2t_r1",
    "I2T R@5": "i2t_r5",
    "I2T R@10": "i2t_r10",
    "T2I R@1": "t2i_r1",
    "T2I R@5": "t2i_r5",
    "T2I R@10": "t2i_r10",
    "Mean R@1": "mean_r1",
}
TMIR_COLUMNS = {
    f"{c.capitalize() if c != 'mean' else 'Mean'} R@{k}": f"{c}/r{k}"
    for c in ("dress", "toptee", "shirt", "mean")
    for k in (10, 50)
}
#: The reference row's name in every table (variant `fashionsap_reference.REFERENCE`).
REFERENCE_ROW = "Linear reference (ours)"
#: variant -> (ptp, trp, fsis) of Table 6.
ABLATION = {"albef": (0, 0, 0), "ptp": (1, 0, 0), "ptp_trp": (1, 1, 0), "full": (1, 1, 1)}


@dataclass(frozen=True)
class TableSpec:
    """One reproduced table.

    Attributes:
        paper: the CSV stem in ``fashion_lib/paper_tables``.
        rows: paper row name -> our variant.
        columns: paper column -> (source, key); source is "retrieval" (key under ``subset/`` or
            ``full/`` by `protocol`), "cr", "scr" or "tmir".
        protocol: the retrieval protocol of the table ("subset" or "full").
    """

    paper: str
    rows: Mapping[str, str]
    columns: Mapping[str, tuple[str, str]]
    protocol: str = "full"


_REF = {REFERENCE_ROW: reference.REFERENCE}
_MAIN_ROWS = {"ALBEF [17]": "albef", "FashionSAP(Resnet50)": "full_r50", "FashionSAP": "full"}
_MAIN_ROWS |= _REF
_RETRIEVAL = {col: ("retrieval", key) for col, key in RETRIEVAL_COLUMNS.items()}
_BASELINE = {"ALBEF-style (ours)": "albef", "FashionSAP": "full"} | _REF

TABLES: dict[str, TableSpec] = {
    "table2": TableSpec("fashionsap_table2_fashiongen_subset", _MAIN_ROWS, _RETRIEVAL, "subset"),
    "table3": TableSpec("fashionsap_table3_fashiongen_full", _MAIN_ROWS, _RETRIEVAL, "full"),
    "table4": TableSpec(
        "fashionsap_table4_fashioniq_tmir",
        _BASELINE,
        {col: ("tmir", key) for col, key in TMIR_COLUMNS.items()},
    ),
    "table5": TableSpec(
        "fashionsap_table5_cr_scr",
        _BASELINE,
        {
            "CR Acc": ("cr", "acc"),
            "CR Macro-F": ("cr", "macro_f"),
            "SCR Acc": ("scr", "acc"),
            "SCR Macro-F": ("scr", "macro_f"),
        },
    ),
    "table6": TableSpec(
        "fashionsap_table6_ablation",
        {v: v for v in ABLATION} | _REF,
        {
            "I2T R@1": ("retrieval", "i2t_r1"),
            "T2I R@1": ("retrieval", "t2i_r1"),
            "CR Macro-F": ("cr", "macro_f"),
            "SCR Macro-F": ("scr", "macro_f"),
            "TMIR mean R@10": ("tmir", "mean/r10"),
        },
    ),
}

Source = Callable[..., Mapping[str, float]]


def table_from(
    name: str, profile: str, seeds: Sequence[int], sources: Mapping[str, Source]
) -> pd.DataFrame:
    """Collect a table's rows from the run functions (``retrieval``, ``recognition``, ``tmir``);
    the reference row's come from `fashionsap_reference.SOURCES`.

    Returns:
        One row per (paper row, seed): model, variant, seed, profile, the metric columns (and
        ptp, trp, fsis for "table6").
    """
    if name not in TABLES:
        raise ConfigError(f"unknown FashionSAP table {name!r}; choose one of {list(TABLES)}")
    spec = TABLES[name]
    records = []
    trained = sap_settings(profile).variants
    for model, variant in spec.rows.items():
        if variant not in trained and variant != reference.REFERENCE:
            continue  # a row this profile does not train (cpu: "full_r50")
        for seed in seeds:
            row: dict[str, object] = {
                "model": model,
                "variant": variant,
                "seed": seed,
                "profile": profile,
            }
            if name == "table6":
                flags = ABLATION.get(variant, (float("nan"),) * 3)  # the reference row: none
                row |= dict(zip(("ptp", "trp", "fsis"), flags, strict=True))
            run = reference.SOURCES if variant == reference.REFERENCE else sources
            cache: dict[str, Mapping[str, float]] = {}
            for column, (source, key) in spec.columns.items():
                if source not in cache:
                    if source == "retrieval":
                        cache[source] = run["retrieval"](variant, seed, profile)
                    elif source in ("cr", "scr"):
                        level = "category" if source == "cr" else "subcategory"
                        cache[source] = run["recognition"](variant, seed, profile, level)
                    else:
                        cache[source] = run["tmir"](variant, seed, profile)
                full_key = f"{spec.protocol}/{key}" if source == "retrieval" else key
                row[column] = cache[source][full_key]
            records.append(row)
    return pd.DataFrame.from_records(records)
