"""Evaluating one row of M3-Net's tables with `fashion_lib.retrieval`.

The ASEN family ranks in the attribute space; MODC and the M3-Net rows use the multi-granularity
protocol, M3-Net's class spaces being the multi-label head's high-likelihood classes (gamma) and
MODC's the nearest prototype. DeepFashion is scored with multi-label relevance (any shared positive
class, the paper's tables) and ASEN's single-value relevance; FashionAI and DARN with single-value.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from fashion_lib.data.retrieval_data import EvalRows, Inputs, RetrievalDataset
from fashion_lib.evidence import PerQuery
from fashion_lib.experiments.m3net_settings import RowSpec
from fashion_lib.experiments.m3net_training import prepare_inputs
from fashion_lib.retrieval import ClassSpaces, RetrievalResult, RetrievalSide, evaluate_retrieval

__all__ = [
    "encode_rows",
    "evaluate_model",
    "flat_metrics",
    "per_query_evidence",
    "query_keys",
    "untrained_references",
]


@torch.no_grad()
def encode_rows(
    model: nn.Module, family: str, inputs: Inputs, rows: EvalRows, batch_size: int = 256
) -> RetrievalSide:
    """Embed evaluation rows: attribute space, plus class spaces for MODC and M3-Net.

    Args:
        model: a trained row model (put in eval mode here).
        family: "asen", "modc" or "m3net".
        inputs: (N_split, ...) images or cached maps of the split, in fid order.
        rows: the query or candidate rows.
        batch_size: rows per forward pass.

    Returns:
        A `RetrievalSide` with single values, multi-hot labels and (MODC, M3-Net) class spaces.
    """
    model.eval()
    emb, parts, sizes = [], [], []
    for i in range(0, len(rows), batch_size):
        x = prepare_inputs(inputs[rows.fid[i : i + batch_size]])
        attr = rows.attr[i : i + batch_size]
        if family == "m3net":
            out = model(x, attr)  # class spaces: the head's high-likelihood classes
            emb.append(out.attribute_embeddings)
            parts.append(ClassSpaces(out.pair_image, out.pair_class, out.class_embeddings))
        else:
            e = model.encode_attribute(x, attr)  # (b, D)
            emb.append(e)
            if family == "modc":
                parts.append(ClassSpaces(torch.arange(len(e)), model.assign_classes(e, attr), e))
        sizes.append(len(attr))
    spaces = ClassSpaces.concat(parts, sizes) if parts else None
    return RetrievalSide(torch.cat(emb), rows.attr, rows.value, rows.labels, spaces)


def evaluate_model(
    model: nn.Module, spec: RowSpec, data: RetrievalDataset, inputs: Inputs, k: int = 100
) -> dict[str, RetrievalResult]:
    """Retrieval results of a trained row: {"single": ..., "multi": ... (DeepFashion only)}."""
    queries = encode_rows(model, spec.family, inputs, data.queries)
    candidates = encode_rows(model, spec.family, inputs, data.candidates)
    protocol = "attribute" if spec.family == "asen" else "multi_granularity"
    relevances = ("single", "multi") if data.multilabel else ("single",)
    return {
        rel: evaluate_retrieval(
            queries,
            candidates,
            protocol=protocol,
            relevance=rel,
            k=k,
            attribute_names=list(data.attributes),
        )
        for rel in relevances
    }


def flat_metrics(results: dict[str, RetrievalResult], k: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for rel, res in results.items():
        out[f"{rel}/map_all"] = res.overall["map_all"]
        out[f"{rel}/map_all_macro"] = res.macro["map_all"]
        out[f"{rel}/map_{k}"] = res.overall["map_k"]
        out[f"{rel}/recall_{k}"] = res.overall["recall_k"]
        for a in res.per_attribute:
            out[f"{rel}/map_all/{a.attribute}"] = a.map_all
    return out


def query_keys(data: RetrievalDataset) -> np.ndarray:
    """(Q,) keys "<attribute>|<query line index>" of the evaluation split's queries.

    Queries keep the order of the split's query file, so the same key names the same query for
    every model and seed.
    """
    names = [data.attributes[int(a)] for a in data.queries.attr]
    return np.array([f"{name}|{i}" for i, name in enumerate(names)])


def per_query_evidence(
    results: dict[str, RetrievalResult], data: RetrievalDataset, k: int
) -> dict[str, PerQuery]:
    """Per-query AP@all, AP@k and Recall@k in percent, keyed by `query_keys`.

    Groups "<relevance>/ap_all", "<relevance>/ap_<k>" and "<relevance>/recall_<k>". A query
    without a relevant candidate is NaN here (undefined), while the means of `flat_metrics` count
    it as 0, as ASEN's scorer does (``fashion_lib.metrics``).
    """
    keys = query_keys(data)
    out = {}
    for rel, res in results.items():
        undefined = np.asarray(res.per_query["num_relevant"]) == 0
        for name, metric in (
            ("ap_all", "ap_all"),
            (f"ap_{k}", "ap_k"),
            (f"recall_{k}", "recall_k"),
        ):
            values = np.where(undefined, np.nan, 100.0 * np.asarray(res.per_query[metric]))
            out[f"{rel}/{name}"] = PerQuery(keys, values)
    return out


def untrained_references(
    data: RetrievalDataset, pooled: Tensor, k: int = 100, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Overall metrics of two untrained references, to read the trained rows against.

    "random": one random 64-d Gaussian vector per image (the metric's chance level, which is far
    from 0 when each attribute has few values or, with multi-label relevance, many positives);
    "pooled backbone": the spatial mean of the pre-trained backbone's map, the same for every
    attribute (what the pre-training alone gives).

    Args:
        data: the dataset (its evaluation split's rows).
        pooled: (N_split, C) pooled backbone features of the split's images, in fid order.
        k: cut-off of MAP@k and Recall@k.
        seed: seed of the random vectors.

    Returns:
        reference name -> {"map_all", "map_k", "recall_k"} in percent, with the primary relevance
        (multi-label on DeepFashion, single-value elsewhere).
    """
    generator = torch.Generator().manual_seed(seed)
    features = {
        "random": torch.randn(len(pooled), 64, generator=generator),
        "pooled backbone": pooled.float(),
    }
    relevance = "multi" if data.multilabel else "single"
    out = {}
    for name, feats in features.items():
        sides = [
            RetrievalSide(feats[r.fid], r.attr, r.value, r.labels)
            for r in (data.queries, data.candidates)
        ]
        out[name] = evaluate_retrieval(*sides, relevance=relevance, k=k).overall
    return out
