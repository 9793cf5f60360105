"""Reference rows: linear models on the same frozen image features that FashionSAP reads.

What does FashionSAP's machinery (fusion layers, five pre-training tasks, momentum distillation)
buy? The most honest answer compares it with the simplest models that see the same inputs: the
frozen proxy-pre-trained CNN map of every image (`fashionsap_features`) and the captions.

- **Retrieval**: a linear dual encoder. Image side: the (C, h, w) map average-pooled to a
  side x side grid and flattened; text side: the TF-IDF bag of words of the caption (sklearn's
  `TfidfVectorizer` on the training captions; the whole caption, where FashionSAP truncates its
  tokens); one linear map each into a shared space, trained with a symmetric InfoNCE loss in which
  other images of the same product are not negatives. Scored by `fashionsap_eval.score_retrieval`
  with FashionSAP's protocols and draws, so its per-query evidence pairs with every FashionSAP row.
- **CR / SCR**: a linear classifier (softmax regression) on the pooled image features alone.
- **TMIR**: query = W_r x_reference + W_t t_edit, target = W_g x_target (TF-IDF of the relative
  captions), InfoNCE of the queries against the batch's targets (same-target rows left out).

**Choices.** Features are standardised with the training rows' mean and spread. The pooling grid
(`ReferenceSettings.pools`) is chosen per task on held-out *training* products (FashionGen) or
triplets (FashionIQ), with the profile's seed: the tables report FashionGen's validation split
and FashionIQ's val split, the paper's test sets, so those never take part in the choice. The
chosen grid is then trained on the whole training split, once per seed of the FashionSAP rows
(`fashionsap_settings.SAPSettings.seeds`). Nothing else is tuned: width, steps, batch, learning
rate and temperature are fixed per profile (`REFERENCE_SETTINGS`). Every fit goes through
`engine.fit` and every run leaves a run record with its evidence, so a chapter re-run reuses them.

- ``REFERENCE``: the variant name the tables use; ``reference_settings(profile)``.
- ``pooled(maps, side)``; ``info_nce(a, b, groups, temperature)``.
- ``selection(task, profile) -> SAPRun``: metrics ``pool<side>`` (the held-out score of each grid)
  and ``pool`` (the chosen side); task "retrieval", "cr", "scr" or "tmir" (``TASKS``).
- ``reference_run(task, seed, profile) -> SAPRun``: metrics under the keys of the FashionSAP runs
  (`fashionsap_runs`) plus ``pool``; evidence in the groups of `fashionsap_runs.EVIDENCE`.
- ``retrieval(seed, profile)``, ``recognition(seed, profile, level)``, ``tmir(seed, profile)``:
  metrics only; ``SOURCES``: the same in `fashionsap_tables.table_from`'s signatures;
  ``reference_evidence(task, profile, group, seeds=None) -> list[PerQuery]``.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from torch import Tensor, nn
from torch.nn import functional as F

from fashion_lib.data.vl_data import FashionIQSplit
from fashion_lib.engine import TensorBatches, fit
from fashion_lib.errors import ConfigError
from fashion_lib.evidence import PerQuery, read_group
from fashion_lib.experiments import fashionsap_eval as ev
from fashion_lib.experiments.backbone_pretrain import world_root
from fashion_lib.experiments.fashionsap_features import (
    fashiongen_maps,
    fashioniq_maps,
    image_backbone,
)
from fashion_lib.experiments.fashionsap_pretrain import (
    SAPRun,
    data_key,
    fashiongen_split,
    fashioniq_split,
    reuse_or_train,
    stage_dict,
)
from fashion_lib.experiments.fashionsap_settings import Stage, sap_settings
from fashion_lib.experiments.fashionsap_train import stage_epochs, train_config
from fashion_lib.profiles import get_profile

__all__ = [
    "REFERENCE",
    "REFERENCE_SETTINGS",
    "SOURCES",
    "TASKS",
    "ReferenceSettings",
    "info_nce",
    "pooled",
    "recognition",
    "reference_evidence",
    "reference_run",
    "reference_settings",
    "retrieval",
    "selection",
    "tmir",
]

REFERENCE = "reference"
#: task -> the held-out metric its pooling grid is chosen by.
TASKS = {"retrieval": "full/mean_r1", "cr": "acc", "scr": "acc", "tmir": "mean/r10"}
_CLASSES = {"cr": 48, "scr": 121}  # FashionGen's category and sub-category lists


@dataclass(frozen=True)
class ReferenceSettings:
    """What the reference rows train on a profile.

    Attributes:
        embed_dim: width of the shared space (retrieval, TMIR).
        temperature: InfoNCE's fixed temperature.
        retrieval, recognition, tmir: one AdamW + cosine `Stage` per task (recognition: CR, SCR).
        pools: the pooling grids tried (side of the pooled map; 1 = global average pool).
        holdout: share of training products (FashionIQ: triplets) held out to choose the grid.
    """

    embed_dim: int
    temperature: float
    retrieval: Stage
    recognition: Stage
    tmir: Stage
    pools: tuple[int, ...] = (1, 2, 4)
    holdout: float = 0.1


_CPU = ReferenceSettings(
    embed_dim=256,
    temperature=0.05,
    retrieval=Stage(400, 0, 128, 3e-3, min_lr=3e-5),
    recognition=Stage(400, 0, 128, 3e-3, min_lr=3e-5),
    tmir=Stage(300, 0, 64, 3e-3, min_lr=3e-5),
)
REFERENCE_SETTINGS: dict[str, ReferenceSettings] = {
    "smoke": dataclasses.replace(
        _CPU,
        embed_dim=32,
        retrieval=Stage(20, 0, 16, 3e-3),
        recognition=Stage(20, 0, 16, 3e-3),
        tmir=Stage(10, 0, 8, 3e-3),
        holdout=0.2,
    ),
    "cpu": _CPU,
    "gpu": dataclasses.replace(_CPU, embed_dim=512),
    "paper": dataclasses.replace(_CPU, embed_dim=512),
}


def reference_settings(profile: str) -> ReferenceSettings:
    """The `ReferenceSettings` of a profile (ConfigError for an unknown profile)."""
    return REFERENCE_SETTINGS[get_profile(profile).name]


def pooled(maps: Tensor, side: int) -> Tensor:
    """(N, C, h, w) maps -> (N, C * side * side) float32: average pool to a side x side grid."""
    return F.adaptive_avg_pool2d(maps.float(), side).flatten(1)


def info_nce(
    a: Tensor, b: Tensor, groups: Tensor, temperature: float, symmetric: bool = True
) -> Tensor:
    """InfoNCE of row-paired L2-normalised embeddings a, b (B, E): row i's positive is b[i].

    Other rows of the same group (product, target image) are left out of row i's negatives.
    ``symmetric``: the mean of the a -> b and b -> a losses (else a -> b alone).
    """
    logits = a @ b.t() / temperature  # (B, B)
    same = (groups[:, None] == groups[None, :]) & ~torch.eye(len(a), dtype=torch.bool)
    logits = logits.masked_fill(same, float("-inf"))
    target = torch.arange(len(a))
    loss = F.cross_entropy(logits, target)
    return (loss + F.cross_entropy(logits.t(), target)) / 2 if symmetric else loss


class _LinearMaps(nn.Module):
    """One linear map per input into a shared, L2-normalised space (retrieval: image, text;
    TMIR: reference image, edit text, target image)."""

    def __init__(self, dims: Sequence[int], embed_dim: int) -> None:
        super().__init__()
        self.maps = nn.ModuleList(nn.Linear(d, embed_dim) for d in dims)

    def embed(self, i: int, x: Tensor) -> Tensor:
        return F.normalize(self.maps[i](x), dim=-1)

    def query(self, reference: Tensor, edit: Tensor) -> Tensor:
        """TMIR's query: the reference image's and the edit text's maps, summed and normalised."""
        return F.normalize(self.maps[0](reference) + self.maps[1](edit), dim=-1)


@dataclass(frozen=True)
class _Data:
    """A split (or a view of some of its rows) and its pooled features: one row per FashionGen
    row, or one per FashionIQ image (``asins`` order)."""

    split: Any
    features: Tensor


def _standardiser(train: Tensor) -> Callable[[Tensor], Tensor]:
    mean, std = train.mean(0), train.std(0).clamp(min=1e-6)
    return lambda x: (x - mean) / std


def _tfidf(train_texts: Sequence[str]) -> Callable[[Sequence[str]], Tensor]:
    vectorizer = TfidfVectorizer().fit(train_texts)
    return lambda texts: torch.from_numpy(vectorizer.transform(texts).toarray()).float()


def _fit(model: nn.Module, loss, tensors: dict[str, Tensor], stage: Stage, seed: int, run_dir):
    """`engine.fit` on in-memory tensors (batch capped by the rows); returns history, wall time."""
    stage = dataclasses.replace(stage, batch_size=min(stage.batch_size, len(tensors["group"])))
    batches = TensorBatches(tensors, stage.batch_size, seed)
    config = dataclasses.replace(
        train_config(stage, seed), epochs=stage_epochs(stage, batches.steps_per_epoch)
    )
    result = fit(model, loss, batches, config, Path(run_dir))
    model.eval()
    return result.history, result.wall_time_s


def _captions(data: _Data, rows: Sequence[int]) -> list[str]:
    return [data.split.records[i].sample.caption for i in rows]


def _retrieval(r: ReferenceSettings, train: _Data, test: _Data, seed: int, run_dir, protocol):
    rows = range(len(train.split))
    norm, text = _standardiser(train.features), _tfidf(_captions(train, rows))
    tensors = {
        "image": norm(train.features),
        "text": text(_captions(train, rows)),
        "group": train.split.product_ids,
    }
    torch.manual_seed(seed)
    model = _LinearMaps([tensors["image"].shape[1], tensors["text"].shape[1]], r.embed_dim)

    def loss(net, b):
        image, caption = net.embed(0, b["image"]), net.embed(1, b["text"])
        return {"its": info_nce(image, caption, b["group"], r.temperature)}

    history, wall = _fit(model, loss, tensors, r.retrieval, seed, run_dir)
    first = [g[0] for g in test.split.products().values()]  # one text per product, as FashionSAP
    with torch.no_grad():
        image = model.embed(0, norm(test.features))
        texts = model.embed(1, text(_captions(test, first)))
    return ev.score_retrieval(image, texts, test.split, *protocol), history, wall


def _recognition(task: str):
    group = ev.EVIDENCE[task][0]

    def run(r: ReferenceSettings, train: _Data, test: _Data, seed: int, run_dir, protocol):
        def labels(d: _Data) -> Tensor:
            return d.split.categories if task == "cr" else d.split.subcategories

        norm = _standardiser(train.features)
        tensors = {"x": norm(train.features), "group": labels(train)}
        torch.manual_seed(seed)
        model = nn.Linear(tensors["x"].shape[1], _CLASSES[task])

        def loss(net, b):
            return {"ce": F.cross_entropy(net(b["x"]), b["group"])}

        history, wall = _fit(model, loss, tensors, r.recognition, seed, run_dir)
        with torch.no_grad():
            predicted = model(norm(test.features)).argmax(dim=1)
        return ev.score_predictions(labels(test), predicted, test.split, group), history, wall

    return run


def _tmir(r: ReferenceSettings, train: _Data, test: _Data, seed: int, run_dir, protocol):
    def parts(d: _Data) -> tuple[Tensor, Tensor, list[str]]:
        t = d.split.triplets
        edits = [x.sample.caption for x in t]
        return torch.tensor([x.candidate for x in t]), torch.tensor([x.target for x in t]), edits

    candidate, target, edits = parts(train)
    norm, text = _standardiser(train.features), _tfidf(edits)
    images = norm(train.features)
    tensors = {
        "reference": images[candidate],
        "edit": text(edits),
        "target": images[target],
        "group": target,
    }
    dim = images.shape[1]
    torch.manual_seed(seed)
    model = _LinearMaps([dim, tensors["edit"].shape[1], dim], r.embed_dim)

    def loss(net, b):
        query, goal = net.query(b["reference"], b["edit"]), net.embed(2, b["target"])
        return {"tmir": info_nce(query, goal, b["group"], r.temperature, symmetric=False)}

    history, wall = _fit(model, loss, tensors, r.tmir, seed, run_dir)
    candidate, _, edits = parts(test)
    with torch.no_grad():
        test_images = norm(test.features)
        queries = model.query(test_images[candidate], text(edits))
        targets = model.embed(2, test_images)
    return ev.tmir_scored(test.split, queries, targets), history, wall


_TRAIN = {"retrieval": _retrieval, "cr": _recognition("cr"), "scr": _recognition("scr")}
_TRAIN["tmir"] = _tmir


def _check(task: str) -> None:
    if task not in TASKS:
        raise ConfigError(f"task must be one of {list(TASKS)}, got {task!r}")


def _dataset(task: str) -> str:
    return "FashionIQ" if task == "tmir" else "FashionGen"


def _data(task: str, profile: str, split: str, side: int) -> _Data:
    root = str(world_root(profile))
    if task == "tmir":
        name = "train" if split == "train" else "val"
        maps = fashioniq_maps(profile, name)
        return _Data(
            fashioniq_split(root, name, sap_settings(profile).image_size), pooled(maps, side)
        )
    return _Data(fashiongen_split(root, split), pooled(fashiongen_maps(profile, split), side))


def _rows(data: _Data, keep: np.ndarray) -> _Data:
    """A view of some FashionGen rows (boolean `keep`), or of some FashionIQ triplets. The view
    holds labels and texts only: images come from the cached features."""
    view = copy.copy(data.split)
    if isinstance(view, FashionIQSplit):
        view.triplets = tuple(t for t, k in zip(view.triplets, keep, strict=True) if k)
        return _Data(view, data.features)
    index = torch.from_numpy(np.flatnonzero(keep))
    view.records = tuple(view.records[i] for i in index.tolist())
    for name in ("product_ids", "categories", "subcategories"):
        setattr(view, name, getattr(view, name)[index])
    return _Data(view, data.features[index])


def _held_out(data: _Data, share: float, seed: int) -> np.ndarray:
    """Seeded boolean mask of the held-out rows: whole products (FashionGen) or triplets."""
    if isinstance(data.split, FashionIQSplit):
        units = np.arange(len(data.split.triplets))
    else:
        units = data.split.product_ids.numpy()
    ids = np.unique(units)
    count = min(len(ids) - 2, max(2, round(share * len(ids))))
    chosen = np.random.default_rng(seed).permutation(ids)[:count]
    return np.isin(units, chosen)


def _protocol(profile: str) -> tuple[int, int, int, int]:
    s = sap_settings(profile)
    # the FashionSAP runs' subset draws: the same seed for every model
    return s.subset_queries, s.subset_negatives, s.subset_draws, get_profile(profile).seed


def _selection_config(task: str, profile: str) -> dict[str, Any]:
    r = reference_settings(profile)
    return {
        "kind": "sapref-selection",
        "task": task,
        "profile": profile,
        "settings": dataclasses.asdict(r),
        "backbone": image_backbone(profile).digest,
        "data": data_key(profile, _dataset(task)),
        "seed": get_profile(profile).seed,
    }


def selection(task: str, profile: str) -> SAPRun:
    """Choose the pooling grid of `task` on held-out training data (module docstring)."""
    _check(task)
    config, r = _selection_config(task, profile), reference_settings(profile)
    seed = config["seed"]

    def train(run_dir: Path):
        metrics, history, wall = {}, [], 0.0
        for side in r.pools:
            data = _data(task, profile, "train", side)
            held = _held_out(data, r.holdout, seed)
            scored, h, w = _TRAIN[task](
                r, _rows(data, ~held), _rows(data, held), seed, run_dir / f"pool{side}",
                _protocol(profile),
            )  # fmt: skip
            metrics[f"pool{side}"] = scored.metrics[TASKS[task]]
            history += [{"pool": side, **step} for step in h]
            wall += w
        metrics["pool"] = max(r.pools, key=lambda side: metrics[f"pool{side}"])
        return metrics, history, wall, {}

    return reuse_or_train(f"sapref-select-{task}", config, profile, seed, train)


def reference_run(task: str, seed: int, profile: str) -> SAPRun:
    """The reference row of `task` for one seed, trained on the whole training split with the
    selected grid and scored on the tables' split, with per-query evidence."""
    _check(task)
    r = reference_settings(profile)
    stage = r.tmir if task == "tmir" else r.retrieval if task == "retrieval" else r.recognition
    config = {
        "kind": f"sapref-{task}",
        "selection": _selection_config(task, profile),
        "stage": stage_dict(stage),
        "seed": seed,
        "protocol": list(_protocol(profile)),
    }

    def train(run_dir: Path):
        side = int(selection(task, profile).metrics["pool"])
        test = "validation" if task != "tmir" else "val"
        scored, history, wall = _TRAIN[task](
            r, _data(task, profile, "train", side), _data(task, profile, test, side), seed,
            run_dir, _protocol(profile),
        )  # fmt: skip
        return scored.metrics | {"pool": side}, history, wall, scored.evidence

    return reuse_or_train(
        f"sapref-{task}-seed{seed}", config, profile, seed, train, ev.EVIDENCE[task]
    )


def retrieval(seed: int, profile: str) -> dict[str, float]:
    """Retrieval metrics of the reference row (``full/...``, ``subset/...``, ``spread/...``)."""
    return reference_run("retrieval", seed, profile).metrics


def recognition(seed: int, profile: str, level: str = "category") -> dict[str, float]:
    """CR (``level="category"``) or SCR ("subcategory") of the reference row: acc, macro_f, ..."""
    if level not in ("category", "subcategory"):
        raise ConfigError(f"level must be 'category' or 'subcategory', got {level!r}")
    return reference_run("cr" if level == "category" else "scr", seed, profile).metrics


def tmir(seed: int, profile: str) -> dict[str, float]:
    """TMIR R@k per FashionIQ category and mean, of the reference row."""
    return reference_run("tmir", seed, profile).metrics


#: The reference row's metrics in `fashionsap_tables.table_from`'s source signatures.
SOURCES: dict[str, Callable[..., dict[str, float]]] = {
    "retrieval": lambda variant, seed, profile: retrieval(seed, profile),
    "recognition": lambda variant, seed, profile, level: recognition(seed, profile, level),
    "tmir": lambda variant, seed, profile: tmir(seed, profile),
}


def reference_evidence(
    task: str, profile: str, group: str, seeds: Sequence[int] | None = None
) -> list[PerQuery]:
    """One evidence group of the reference row over seeds (default: the FashionSAP rows'),
    one `PerQuery` per seed, keyed as the FashionSAP runs' (`fashionsap_eval`)."""
    _check(task)
    if group not in ev.EVIDENCE[task]:
        raise ConfigError(f"{task!r} runs record the groups {list(ev.EVIDENCE[task])}")
    seeds = sap_settings(profile).seeds if seeds is None else seeds
    return read_group([reference_run(task, s, profile).run_dir for s in seeds], group)
