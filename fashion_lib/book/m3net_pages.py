"""Tables of the M3-Net chapters (02-05) that would otherwise be loops on the page.

Each function returns a pandas object a chapter displays as it is, so the page shows one call.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from pandas.io.formats.style import Styler

from fashion_lib import viz
from fashion_lib.analysis import tables as tb
from fashion_lib.data.taxonomy import RETRIEVAL_DATASETS
from fashion_lib.experiments.m3net_runs import ROWS, primary_relevance
from fashion_lib.models import create_model, list_models
from fashion_lib.results import paper_table

__all__ = [
    "PAPER_TABLES",
    "ROW_MODELS",
    "beside_paper",
    "ours_in_paper_layout",
    "relative_gains",
    "relevance_ranks",
    "row_models",
    "run_provenance",
]

#: Dataset -> the paper's table of it (`fashion_lib/paper_tables/`).
PAPER_TABLES = {
    "DeepFashion": "m3net_table2_deepfashion",
    "FashionAI": "m3net_table3_fashionai",
    "DARN": "m3net_table4_darn",
}

#: Registry name of each row of Tables 2-4 -> (row, granularity, what differs).
ROW_MODELS = {
    "asen_small": ("ASEN", "attribute", "SCA (1x1 conv + tanh score) + CCA, one-hot labels"),
    "asenv2_small": ("ASENv2", "attribute", "shared attribute embedding, BatchNorm in SCA"),
    "asenpp_small": ("ASEN++", "attribute", "global + local branch on an attention crop"),
    "modc_small": ("MODC", "attribute, classes at test", "ASEN++ global branch + online clusters"),
    "m3net_a_small": ("M3-Net_a", "attribute", "SCA-A/CCA-A + multi-label head, no class branch"),
    "m3net_c_small": ("M3-Net_c", "class", "1x1 conv per attribute + head + SCA-C/CCA-C"),
    "m3net_small": ("M3-Net", "attribute + class", "SCA-A/CCA-A, head, SCA-C/CCA-C (Eq. 1-6)"),
}


def row_models(classes_per_attribute: tuple[int, ...]) -> pd.DataFrame:
    """The seven small models of Tables 2-4 built for a taxonomy, with their parameter counts.

    "head parameters" counts everything but the backbone(s); MODC's memory is sized for 100
    training images (it holds buffers, not parameters).
    """
    missing = set(ROW_MODELS) - set(list_models("*_small"))
    if missing:
        raise KeyError(f"not in the model registry: {sorted(missing)}")
    rows = []
    for name, (label, granularity, what) in ROW_MODELS.items():
        kwargs = {"num_samples": 100} if name.startswith("modc") else {}
        built = create_model(name, classes_per_attribute=classes_per_attribute, **kwargs)
        total = sum(p.numel() for p in built.parameters())
        backbones = sum(p.numel() for n, p in built.named_parameters() if "backbone" in n)
        rows.append(
            {
                "model": label,
                "registry name": name,
                "parameters": total,
                "head parameters": total - backbones,
                "granularity": granularity,
                "what differs": what,
            }
        )
    return pd.DataFrame(rows).set_index("model")


def run_provenance(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per dataset: runs, runs reused from records, seeds and recorded training seconds.

    Args:
        tables: dataset -> its `run_table` frame.
    """
    rows = []
    for dataset, df in tables.items():
        runs = df.drop_duplicates("run_dir")
        rows.append(
            {
                "dataset": dataset,
                "runs": len(runs),
                "reused from records": int(runs["reused"].sum()),
                "seeds": sorted(df["seed"].unique().tolist()),
                "train time (s, all runs)": runs["train_time_s"].sum(),
            }
        )
    return pd.DataFrame(rows).set_index("dataset")


def ours_in_paper_layout(
    tables: Mapping[str, pd.DataFrame], dataset: str, relevance: str | None = None
) -> tb.PaperLayout:
    """Our table of one dataset in the paper's rows and columns (mean and std over seeds)."""
    attributes = RETRIEVAL_DATASETS[dataset].names  # in the paper's column order
    relevance = relevance or primary_relevance(dataset)
    return tb.paper_layout(tables[dataset], relevance, attributes, ROWS)


def beside_paper(tables: Mapping[str, pd.DataFrame], dataset: str) -> list[Styler]:
    """Our table of one dataset (mean ± std) and ours - paper, each captioned."""
    ours = ours_in_paper_layout(tables, dataset)
    diff = tb.difference(ours.mean, paper_table(PAPER_TABLES[dataset]))
    relevance = primary_relevance(dataset)
    return [
        tb.mean_pm_std(ours).style.set_caption(f"{dataset}, ours ({relevance}-label relevance)"),
        viz.highlight_differences(diff, list(diff.columns)).set_caption(
            f"{dataset}: ours - paper (green: ours higher)"
        ),
    ]


def relative_gains(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Relative gains (%) of M3-Net and M3-Net_c over MODC, the paper's and ours, per dataset."""
    gains = {}
    for dataset in tables:
        sources = (
            ("paper", paper_table(PAPER_TABLES[dataset])),
            ("ours", ours_in_paper_layout(tables, dataset).mean),
        )
        for source, table in sources:
            for model in ("M3-Net", "M3-Net_c"):
                gain = tb.relative_gain(table, model, "MODC")
                gains[dataset, f"{source}, {model}"] = gain[list(tb.OVERALL.values())]
    return pd.DataFrame(gains).T


def relevance_ranks(deepfashion: pd.DataFrame) -> pd.DataFrame:
    """Overall MAP@all of each row under single and multi-label relevance, and its rank."""
    overall = deepfashion[deepfashion["attribute"] == "overall"]
    both = overall.groupby(["model", "relevance"])["map_all"].mean().unstack().reindex(ROWS)
    both["multi - single"] = both["multi"] - both["single"]
    for relevance in ("single", "multi"):
        rank = both[relevance].rank(ascending=False, method="min")
        both[f"rank ({relevance})"] = rank.astype(int)
    return both
