"""Chapter 09's tables and figures: Table 6 beside the paper, the step claims, Grad-CAM scores.

- ``table6_beside(ours, profile)``: Table 6 with paper | ours (mean ± std) | difference per metric,
  rows from ITS + ITM alone to all tasks, then the linear reference row and chance.
- ``paper_by_variant()``: the paper's Table 6 indexed by our variant names.
- ``step_claims(steps)``: "A > B" on every Table 6 metric for each (A, B) of `steps`;
  ``step_table(verdicts, steps)``: one verdict per (step, metric) and the paper's ordering;
  ``ordering(claims, steps)``: our verdict on the whole chain per metric.
- ``retrieval_model(variant, seed, profile)``: a retrieval-fine-tuned model, or ``"untrained"``.
- ``gradcam_all(models, seeds, profile)``: Grad-CAM scores of every validation image per model
  and seed; ``gradcam_summary`` and ``gradcam_by_part``: the chapter's two score tables;
  ``figure4_verdicts``: "full > each other model" judged on the paired maps.
- ``gradcam_figures(scores, variants, seed, profile)``: the word and caption maps of four images
  (two figures) and the `GradCAM` of each variant.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from fashion_lib import viz
from fashion_lib.analysis.gradcam import (
    GradCAM,
    encode_captions,
    gradcam,
    gradcam_scores,
    named_parts,
    upsample,
)
from fashion_lib.data.atelier.masks import PARTS_FILE, PartMasks
from fashion_lib.data.vl_data import model_input
from fashion_lib.experiments import fashionsap_claims as sc
from fashion_lib.experiments import fashionsap_runs as runs
from fashion_lib.experiments.backbone_pretrain import world_root
from fashion_lib.experiments.fashionsap_pretrain import fashiongen_split, tokenizer
from fashion_lib.experiments.fashionsap_settings import variant_spec
from fashion_lib.experiments.fashionsap_tables import ABLATION, TABLES
from fashion_lib.experiments.fashionsap_train import build_pretrain_model
from fashion_lib.judging import ClaimEntry, judge_entries
from fashion_lib.models.fashionsap import FashionSAP
from fashion_lib.models.fashionsap_tasks import retrieval_config
from fashion_lib.results import beside_paper, paper_table, seed_summary

__all__ = [
    "figure4_verdicts",
    "gradcam_all",
    "gradcam_by_part",
    "gradcam_figures",
    "gradcam_summary",
    "ordering",
    "paper_by_variant",
    "part_masks",
    "retrieval_model",
    "step_claims",
    "step_table",
    "table6_beside",
]

METRICS = list(TABLES["table6"].columns)


def paper_by_variant() -> pd.DataFrame:
    """The paper's Table 6 with its (ptp, trp, fsis) switches mapped to our variant names."""
    paper = paper_table(TABLES["table6"].paper).reset_index()
    switches = {flags: v for v, flags in ABLATION.items()}
    flags = paper[["ptp", "trp", "fsis"]].itertuples(index=False)
    paper.index = [switches[tuple(r)] for r in flags]
    return paper


def table6_beside(ours: pd.DataFrame, profile: str) -> pd.DataFrame:
    """Paper | ours | difference per metric, one row per variant, the reference row and chance."""
    side = beside_paper(ours, paper_by_variant(), {m: m for m in METRICS}, model_col="variant")
    side["ours"] = [
        f"{m:.2f} ± {s:.2f}" for m, s in zip(side["ours_mean"], side["ours_std"], strict=True)
    ]
    side["difference"] = side["difference"].round(2)
    table = side.pivot(index="model", columns="metric", values=["paper", "ours", "difference"])
    table = table.reindex([*TABLES["table6"].rows.values()]).swaplevel(axis=1)[METRICS]
    chance = runs.chance("table6", profile)
    for m in METRICS:
        table.loc["chance (ours)", (m, "ours")] = (
            f"{chance[m]:.2f}" if chance[m] == chance[m] else ""
        )
    table.index.name = "variant"
    return table


def step_claims(steps: Sequence[tuple[str, str]]) -> list[sc.SAPClaim]:
    """ "A > B" on every metric of Table 6, for each step (A, B)."""
    return [sc.SAPClaim("table6", f"{a} > {b}", a, b, m) for a, b in steps for m in METRICS]


def step_table(verdicts: pd.DataFrame, steps: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Verdict per step "A > B" (rows) and metric, then the paper's own ordering per metric."""
    verdicts = verdicts.assign(column=[m for _ in steps for m in METRICS])
    claims = verdicts.pivot(index="claim", columns="column", values="verdict")[METRICS]
    claims = claims.reindex([f"{a} > {b}" for a, b in steps])
    paper = paper_by_variant()
    claims.loc["paper: each step > the previous one"] = [
        "held" if paper.loc[list(ABLATION), m].is_monotonic_increasing else "not held"
        for m in METRICS
    ]
    return claims


def ordering(claims: pd.DataFrame, steps: Sequence[tuple[str, str]]) -> pd.Series:
    """Our verdict on the chain albef < ptp < ptp_trp < full, per metric: held when every step
    holds, not held when one is reversed, inconclusive otherwise."""
    chain = claims.loc[[f"{a} > {b}" for a, b in steps]]
    verdict = {
        m: "held"
        if (chain[m] == "held").all()
        else "not held"
        if (chain[m] == "reversed").any()
        else "inconclusive"
        for m in METRICS
    }
    return pd.Series(verdict, name=" < ".join(ABLATION))


def retrieval_model(variant: str, seed: int, profile: str) -> FashionSAP:
    """The variant's retrieval model (pre-trained, then fine-tuned with ITS + ITM), from its run;
    "untrained" gives the same architecture with random weights (seeded)."""
    if variant != "untrained":
        return runs.load_retrieval_model(variant, seed, profile)
    torch.manual_seed(seed)
    spec = build_pretrain_model(runs.sap_settings(profile), variant_spec("albef"))
    return FashionSAP(retrieval_config(spec.config)).eval()


def part_masks(profile: str) -> PartMasks:
    """The ground-truth part masks of the FashionGen images."""
    return PartMasks(world_root(profile) / "FashionGen" / PARTS_FILE)


def gradcam_all(models: Sequence[str], seeds: Sequence[int], profile: str) -> pd.DataFrame:
    """`gradcam_scores` of every validation image, per model and seed (columns variant, seed)."""
    s = runs.sap_settings(profile)
    split = fashiongen_split(str(world_root(profile)), "validation")
    rows, masks = list(range(len(split))), part_masks(profile)
    return pd.concat(
        [
            gradcam_scores(
                retrieval_model(v, seed, profile), tokenizer(), split, "validation", masks,
                rows, s.image_size, s.max_text_length,
            ).assign(variant=v, seed=seed)
            for v in models
            for seed in seeds
        ],
        ignore_index=True,
    )  # fmt: skip


def gradcam_summary(scores: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Mean score per model and seed, then mean ± std over seeds, per map kind."""
    per_seed = scores.groupby(["variant", "kind", "seed"], as_index=False)
    per_seed = per_seed[["mass", "area", "lift"]].mean()
    rows = []
    for (variant, kind), group in per_seed.groupby(["variant", "kind"], sort=False):
        stats = {c: seed_summary(group, ["variant"], c).iloc[0] for c in ("mass", "lift")}
        n = ((scores["variant"] == variant) & (scores["kind"] == kind)).sum()
        rows.append(
            {
                "variant": variant,
                "map": "part word" if kind == "word" else "whole caption",
                "mass inside": f"{stats['mass']['mean']:.3f} ± {stats['mass']['std']:.3f}",
                "uniform map (area)": round(group["area"].mean(), 3),
                "lift": f"{stats['lift']['mean']:.2f} ± {stats['lift']['std']:.2f}",
                "maps scored": int(n),
            }
        )
    table = pd.DataFrame(rows).set_index(["map", "variant"]).sort_index(level=0)
    return table.reindex([(m, v) for m in ("part word", "whole caption") for v in models])


def gradcam_by_part(scores: pd.DataFrame, models: Sequence[str], seeds: Sequence[int]):
    """Mean mass inside the part per part word and model, with the part's area and map count."""
    words = scores.query("kind == 'word'")
    table = words.pivot_table(index="part", columns="variant", values="mass", aggfunc="mean")
    table = table[list(models)]
    table["uniform (area)"] = words.groupby("part")["area"].mean()
    table["maps per model"] = words.groupby("part").size() // (len(models) * len(seeds))
    return table


def figure4_verdicts(
    scores: pd.DataFrame, others: Sequence[str], seeds: Sequence[int]
) -> pd.DataFrame:
    """ "full > v" on the Grad-CAM mass inside the part, for every v of `others`, per map kind."""
    return judge_entries(
        [
            ClaimEntry(
                paper="FashionSAP",
                source="Figure 4",
                claim=f"full > {v}",
                metric=f"Grad-CAM mass inside the part (%), {name}",
                a="full",
                b=v,
                family="mass",
                evidence_a=sc.gradcam_evidence(scores, "full", kind, seeds),
                evidence_b=sc.gradcam_evidence(scores, v, kind, seeds),
            )
            for kind, name in (("word", "part word"), ("caption", "whole caption"))
            for v in others
        ]
    )


def gradcam_figures(
    scores: pd.DataFrame, variants: Sequence[str], seed: int, profile: str
) -> tuple[Figure, Figure, dict[str, GradCAM]]:
    """Word maps and caption maps of four images whose captions name different parts, per
    variant (the part's or product's outline in white), and each variant's `GradCAM`."""
    s = runs.sap_settings(profile)
    split = fashiongen_split(str(world_root(profile)), "validation")
    masks = part_masks(profile)
    full_words = scores.query("kind == 'word' and variant == 'full' and seed == @seed")
    examples = full_words.drop_duplicates("row").drop_duplicates("part").head(4)
    rows = examples["row"].tolist()
    captions = [split.records[r].sample.caption for r in rows]
    encoding = encode_captions(tokenizer(), captions, s.max_text_length)
    images = model_input(split.images(rows), s.image_size)
    ids, attention = encoding["input_ids"], encoding["attention_mask"]
    cams = {v: gradcam(retrieval_model(v, seed, profile), images, ids, attention) for v in variants}
    found = named_parts(captions, encoding)  # each example's word and its token positions
    named = [
        next(n for n in found if n.row == i and n.word == w) for i, w in enumerate(examples["word"])
    ]
    pixels = split.images(rows).permute(0, 2, 3, 1).numpy()  # (R, H, W, 3) uint8
    words = viz.attention_overlays(
        pixels,
        {v: [cams[v].tokens(n.row, n.positions) for n in named] for v in variants},
        row_labels=[f'"{n.word}" -> {n.part}' for n in named],
        masks=[
            np.any([masks.part(f"validation/{r}", p) for p in n.parts], axis=0)
            for r, n in zip(rows, named, strict=True)
        ],
    )
    whole = viz.attention_overlays(
        pixels,
        {v: upsample(cams[v].caption(), pixels.shape[1]) for v in variants},
        row_labels=[c[:28] + "..." for c in captions],
        masks=[masks[f"validation/{r}"].any(axis=0) for r in rows],
    )
    return words, whole, cams
