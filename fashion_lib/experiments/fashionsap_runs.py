"""FashionSAP's runs: the warm-up, the pre-trained variants and every downstream task, recorded.

Public API (stable; chapters 06-09 call it):

- ``VARIANTS``: "albef", "ptp", "ptp_trp", "full", "full_r50" (`fashionsap_settings`);
  ``sap_settings(profile)`` -> ``SAPSettings``; ``sap_settings(profile).variants``: the variants
  the profile trains (the cpu profile has no "full_r50": asking for it raises `ConfigError`).
- Pre-training histories carry the validation curve at `curve_steps`: ``val_mean_r1`` (full
  protocol on `curve_products` validation products) and, for FSIS variants, ``fsis_cos_matched``
  and ``fsis_cos_mismatched``; the pre-training metrics end with the same keys.
- ``warmup(profile, cnn=False) -> SAPRun``: the ALBEF-style ITS + ITM run, once per image encoder.
- ``pretrain(variant, seed, profile) -> SAPRun``: the variant trained from its warm-up; metrics
  are held-out task accuracies (`fashionsap_train.task_accuracies`); history has a column per task.
- ``load_pretrained(variant, seed, profile) -> FashionSAP`` (eval mode; ``variant="warmup"`` /
  ``"warmup_r50"`` give the warm-ups) for figures such as Grad-CAM.
- ``load_retrieval_model(variant, seed, profile) -> FashionSAP``: the retrieval-fine-tuned model
  (eval mode), e.g. for Grad-CAM of the T2I task (Fig. 4).
- ``train_all(profile, workers=None)``: every run the chapters read, the (variant, seed) pairs in
  spawned worker processes (`SAPSettings.workers`); ``variant_runs(variant, seed, profile)`` is
  one worker's job.
- ``finetune_retrieval(variant, seed, profile) -> SAPRun``: ITS + ITM fine-tuning, then both
  protocols; ``evaluate_retrieval(...) -> dict``: its metrics ``subset/<m>`` and ``full/<m>`` with
  m in i2t_r1/5/10, t2i_r1/5/10, mean_r1, i2t_tied, t2i_tied (and ``subset/same_subcategory``),
  and the embeddings' spread ``spread/<image|text>_<effective_rank|mean_cos|distinct>``.
- ``recognition(variant, seed, profile, level) -> dict``: ``acc``, ``macro_f``, ``micro_f`` for
  level "category" (CR) or "subcategory" (SCR); ``recognition_run`` gives the run itself.
- ``tmir(variant, seed, profile) -> dict``: ``<dress|shirt|toptee|mean>/r<1|5|10|50>`` and
  ``<category>/tied``; ``tmir_run`` gives the run itself.
- ``table(name, profile, seeds=None) -> DataFrame`` for "table2" ... "table6" (`fashionsap_tables`);
  ``chance(name, profile)``: a random ranking's score per column;
  ``tie_report(variants, profile, seeds=None)``: tied shares, embedding spread and first choices
  of every retrieval run; ``tie_sentence(report, profile)`` says it in words.
- Every downstream run stores per-query evidence beside its record (``EVIDENCE[task]`` lists the
  groups, `fashionsap_eval` their keys); a record without it is not reused.
  ``variant_evidence(variant, task, profile, group, seeds=None) -> list[PerQuery]`` reads one group
  over the seeds (task "retrieval", "cr", "scr" or "tmir"; ``task_run`` gives one run).
All metrics are in percent. Each call reads the finished run of the same config if there is one
(`engine.records`), so the notebooks re-run in seconds once the runs exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from fashion_lib.data.vl_data import TripletBatches
from fashion_lib.engine import find_finished_run
from fashion_lib.engine.workers import in_workers  # the spawned pool M3-Net's runs use too
from fashion_lib.errors import ConfigError
from fashion_lib.evidence import PerQuery, read_group
from fashion_lib.experiments import fashionsap_eval as ev
from fashion_lib.experiments.backbone_pretrain import world_root
from fashion_lib.experiments.fashionsap_pretrain import (
    VARIANTS,
    SAPRun,
    TextProcessor,
    data_key,
    downstream_base,
    fashiongen_split,
    fashioniq_split,
    fit_stage,
    frozen_maps,
    load_pretrained,
    pair_batches,
    plain_text,
    pretrain,
    pretrain_config,
    reuse_or_train,
    run_weights,
    stage_dict,
    tokenizer,
    warmup,
)
from fashion_lib.experiments.fashionsap_settings import sap_settings
from fashion_lib.experiments.fashionsap_tables import TABLES, table_from
from fashion_lib.experiments.fashionsap_train import (
    pretrain_loss,
    recognition_loss_fn,
    tmir_loss_fn,
)
from fashion_lib.models.fashionsap import FashionSAP
from fashion_lib.models.fashionsap_tasks import FashionSAPClassifier, FashionSAPTMIR
from fashion_lib.profiles import get_profile

__all__ = [
    "EVIDENCE",
    "TABLES",
    "VARIANTS",
    "SAPRun",
    "chance",
    "evaluate_retrieval",
    "finetune_retrieval",
    "load_pretrained",
    "load_retrieval_model",
    "pretrain",
    "recognition",
    "recognition_run",
    "sap_settings",
    "table",
    "task_run",
    "tie_report",
    "tie_sentence",
    "tmir",
    "tmir_run",
    "train_all",
    "variant_evidence",
    "variant_runs",
    "warmup",
]

LEVELS = {"category": 48, "subcategory": 121}
#: The evidence groups each downstream task records beside its run (`fashionsap_eval`).
EVIDENCE = ev.EVIDENCE  # the evidence groups each downstream task writes


def _task_config(variant: str, seed: int, profile: str, task: str) -> tuple[str, dict]:
    """Run name and config of a downstream `task` ("retrieval", "cr", "scr" or "tmir")."""
    s = sap_settings(profile)
    config = {"pretrained": pretrain_config(variant, seed, profile)[1]}
    if task == "retrieval":
        config |= {"kind": "fashionsap-retrieval", "stage": stage_dict(s.retrieval)}
        config["subset"] = [s.subset_queries, s.subset_negatives, s.subset_draws]
    elif task in ("cr", "scr"):
        level = "category" if task == "cr" else "subcategory"
        config |= {"kind": f"fashionsap-{level}", "stage": stage_dict(s.recognition)}
    else:
        config |= {"kind": "fashionsap-tmir", "stage": stage_dict(s.tmir)}
        config["data"] = data_key(profile, "FashionIQ")
    return f"sap-{task}-{variant}-seed{seed}", config


def _finished(variant: str, seed: int, profile: str) -> bool:
    """Whether the pre-training and every downstream run of (variant, seed) are recorded."""
    configs = [pretrain_config(variant, seed, profile)[::-1]]
    configs += [_task_config(variant, seed, profile, task)[::-1] for task in EVIDENCE]
    return all(find_finished_run(config, name=name) is not None for config, name in configs)


def variant_runs(variant: str, seed: int, profile: str) -> None:
    """Pre-train (variant, seed) and run every downstream task of it (or reuse them)."""
    pretrain(variant, seed, profile)
    for task in EVIDENCE:
        task_run(variant, seed, profile, task)


def train_all(profile: str, workers: int | None = None) -> None:
    """Every run chapters 07-09 read: the warm-ups here, then each (variant, seed)'s pre-training
    and downstream runs (`variant_runs`) in `workers` spawned processes (default: the settings')
    of `settings.threads` threads each; finished runs are reused and spawn nothing."""
    s = sap_settings(profile)
    warmup(profile)
    if s.cnn_encoder is not None:
        warmup(profile, cnn=True)
    todo = [(v, seed, profile) for v in s.variants for seed in s.seeds]
    todo = [args for args in todo if not _finished(*args)]
    in_workers(variant_runs, todo, s.workers if workers is None else workers)


def finetune_retrieval(variant: str, seed: int, profile: str) -> SAPRun:
    """Fine-tune with ITS + ITM on plain text, then score both retrieval protocols."""
    s = sap_settings(profile)
    name, config = _task_config(variant, seed, profile, "retrieval")

    def train(run_dir: Path):
        model, _ = downstream_base(variant, seed, profile)
        batches = pair_batches(
            profile, "train", plain_text(profile), s.retrieval.batch_size, seed, per_product=True,
            maps=frozen_maps(model, profile, "FashionGen", "train"),
        )  # fmt: skip
        loss_fn = pretrain_loss(model.config.alpha, 0, seed)
        history, wall = fit_stage(model, loss_fn, batches, s.retrieval, seed, run_dir)
        split = fashiongen_split(str(world_root(profile)), "validation")
        text = TextProcessor(tokenizer(), plain_text(profile))
        image_emb, text_emb, _ = ev.encode_retrieval(model, split, text, s.image_size, s.eval_batch)
        scored = ev.score_retrieval(
            image_emb,
            text_emb,
            split,
            s.subset_queries,
            s.subset_negatives,
            s.subset_draws,
            get_profile(profile).seed,  # the test set's draws: the same for every seed and model
        )
        return scored.metrics, history, wall, scored.evidence

    return reuse_or_train(name, config, profile, seed, train, EVIDENCE["retrieval"])


def load_retrieval_model(variant: str, seed: int, profile: str) -> FashionSAP:
    """The retrieval-fine-tuned model of a variant (eval mode), e.g. for Grad-CAM of T2I."""
    run = finetune_retrieval(variant, seed, profile)
    model, _ = downstream_base(variant, seed, profile)
    model.load_state_dict(run_weights(run))
    return model.eval()


def evaluate_retrieval(variant: str, seed: int, profile: str) -> dict[str, float]:
    """Retrieval metrics of the fine-tuned variant (``subset/...`` and ``full/...``)."""
    return finetune_retrieval(variant, seed, profile).metrics


def recognition(variant: str, seed: int, profile: str, level: str = "category") -> dict[str, float]:
    """CR (``level="category"``, 48 classes) or SCR ("subcategory", 121): acc, macro_f, micro_f."""
    if level not in LEVELS:
        raise ConfigError(f"level must be one of {list(LEVELS)}, got {level!r}")
    return recognition_run(variant, seed, profile, level).metrics


def recognition_run(variant: str, seed: int, profile: str, level: str) -> SAPRun:
    """The CR or SCR fine-tuning run of a variant, with per-image correctness as evidence."""
    s = sap_settings(profile)
    task = "cr" if level == "category" else "scr"
    name, config = _task_config(variant, seed, profile, task)

    def train(run_dir: Path):
        base, _ = downstream_base(variant, seed, profile)
        torch.manual_seed(seed)
        model = FashionSAPClassifier(base, LEVELS[level])
        batches = pair_batches(
            profile, "train", plain_text(profile), s.recognition.batch_size, seed,
            maps=frozen_maps(model, profile, "FashionGen", "train"),
        )  # fmt: skip
        history, wall = fit_stage(
            model, recognition_loss_fn(level), batches, s.recognition, seed, run_dir
        )
        split = fashiongen_split(str(world_root(profile)), "validation")
        labels = split.categories if level == "category" else split.subcategories
        text = TextProcessor(tokenizer(), plain_text(profile))
        scored = ev.score_recognition(
            model, split, text, labels, s.image_size, s.eval_batch, EVIDENCE[task][0]
        )
        return scored.metrics, history, wall, scored.evidence

    return reuse_or_train(name, config, profile, seed, train, EVIDENCE[task])


def tmir(variant: str, seed: int, profile: str) -> dict[str, float]:
    """Text-modified image retrieval on FashionIQ: R@1/5/10/50 per category and mean."""
    return tmir_run(variant, seed, profile).metrics


def tmir_run(variant: str, seed: int, profile: str) -> SAPRun:
    """The TMIR fine-tuning run of a variant, with the target's rank per query as evidence."""
    s = sap_settings(profile)
    name, config = _task_config(variant, seed, profile, "tmir")

    def train(run_dir: Path):
        base, _ = downstream_base(variant, seed, profile)
        model = FashionSAPTMIR(base)
        root = str(world_root(profile))
        text = TextProcessor(tokenizer(), plain_text(profile))
        batches = TripletBatches(
            fashioniq_split(root, "train", s.image_size),
            text,
            s.tmir.batch_size,
            seed,
            s.image_size,
            s.augment,
            frozen_maps(model, profile, "FashionIQ", "train"),
        )
        history, wall = fit_stage(model, tmir_loss_fn(), batches, s.tmir, seed, run_dir)
        split = fashioniq_split(root, "val", s.image_size)
        scored = ev.score_tmir(model, split, text, s.image_size, s.eval_batch)
        return scored.metrics, history, wall, scored.evidence

    return reuse_or_train(name, config, profile, seed, train, EVIDENCE["tmir"])


def task_run(variant: str, seed: int, profile: str, task: str) -> SAPRun:
    """The finished run of a downstream `task` ("retrieval", "cr", "scr" or "tmir")."""
    if task == "retrieval":
        return finetune_retrieval(variant, seed, profile)
    if task in ("cr", "scr"):
        return recognition_run(
            variant, seed, profile, "category" if task == "cr" else "subcategory"
        )
    if task == "tmir":
        return tmir_run(variant, seed, profile)
    raise ConfigError(f"task must be one of {list(EVIDENCE)}, got {task!r}")


def variant_evidence(
    variant: str, task: str, profile: str, group: str, seeds: Sequence[int] | None = None
) -> list[PerQuery]:
    """One evidence group of a variant's `task` runs, one `PerQuery` per seed (the profile's
    seeds by default, in order), for `stats.compare`; runs whatever is missing.

    Raises:
        ConfigError: `group` is not one of the task's groups (`EVIDENCE`).
    """
    if group not in EVIDENCE.get(task, ()):
        raise ConfigError(f"{task!r} runs record the groups {list(EVIDENCE.get(task, ()))}")
    seeds = sap_settings(profile).seeds if seeds is None else seeds
    return read_group([task_run(variant, seed, profile, task).run_dir for seed in seeds], group)


def chance(name: str, profile: str) -> dict[str, float]:
    """What a random ranking scores in each retrieval column of table `name` on this profile's
    validation data (`fashionsap_eval.chance_full`, `chance_subset`, `chance_tmir`), and what
    always naming the most frequent class scores in each accuracy column (NaN elsewhere)."""
    spec, s = TABLES[name], sap_settings(profile)
    root = str(world_root(profile))
    split = fashiongen_split(root, "validation")
    products = len(split.products())
    values = {
        "retrieval": ev.chance_full(ev.image_owner(split))
        if spec.protocol == "full"
        else ev.chance_subset(min(s.subset_negatives, products - 1)),
        "cr": {"acc": 100.0 * torch.bincount(split.categories).max().item() / len(split)},
        "scr": {"acc": 100.0 * torch.bincount(split.subcategories).max().item() / len(split)},
    }
    if any(source == "tmir" for source, _ in spec.columns.values()):
        values["tmir"] = ev.chance_tmir(fashioniq_split(root, "val", s.image_size))
    return {
        column: values[source].get(key, float("nan"))
        for column, (source, key) in spec.columns.items()
    }


def tie_report(
    variants: Sequence[str], profile: str, seeds: Sequence[int] | None = None
) -> pd.DataFrame:
    """Ties, collapse and hubs of each retrieval run: one row per variant and seed with the percent
    of queries whose positive ties (``<protocol>/<direction>_tied``), the embeddings' spread
    (``spread/<image|text>_<effective_rank|mean_cos|distinct>``) and the full protocol's
    ``full/<direction>_first_choices`` (`fashionsap_eval`); seeds default to the profile's."""
    rows = []
    for variant in variants:
        for seed in sap_settings(profile).seeds if seeds is None else seeds:
            metrics = evaluate_retrieval(variant, seed, profile)
            kept = ("_tied", "_first_choices", "spread/")
            rows.append(
                {"variant": variant, "seed": seed}
                | {k: v for k, v in metrics.items() if any(w in k for w in kept)}
            )
    return pd.DataFrame(rows)


#: Embeddings count as (nearly) collapsed above this mean pairwise cosine.
COLLAPSE_COS = 0.9


def tie_sentence(report: pd.DataFrame, profile: str) -> str:
    """What a `tie_report` says in words, with a random ranking's first choices beside ours."""
    tied = [c for c in report.columns if c.endswith("_tied")]
    worst = report[tied].max()
    if (worst > 0).any():
        shares = ", ".join(f"{c} up to {worst[c]:.1f}%" for c in tied if worst[c] > 0)
        parts = [f"Positives tie with other candidates ({shares} of the queries)."]
    else:
        parts = ["No positive ties with another candidate in any run or protocol."]
    collapsed = []
    for side in ("image", "text"):
        rank, cos = report[f"spread/{side}_effective_rank"], report[f"spread/{side}_mean_cos"]
        parts.append(
            f"The {side} embeddings have an effective rank of {rank.min():.1f} to "
            f"{rank.max():.1f} and a mean pairwise cosine of {cos.min():.2f} to {cos.max():.2f}."
        )
        bad = report[cos > COLLAPSE_COS]
        collapsed += [
            f"the {side} embeddings of {v} seed {s}" for v, s in bad[["variant", "seed"]].values
        ]
    split = fashiongen_split(str(world_root(profile)), "validation")
    images, products = len(split), len(split.products())
    for direction, queries, candidates, what in (
        ("i2t", images, products, "texts are some image's"),
        ("t2i", products, images, "images are some text's"),
    ):
        ours = report[f"full/{direction}_first_choices"]
        parts.append(
            f"{ours.min():.1f} to {ours.max():.1f}% of the {what} first choice (a random "
            f"ranking: {ev.chance_first_choices(queries, candidates):.1f}%)."
        )
    if collapsed:
        parts.append(
            f"Nearly collapsed (mean cosine above {COLLAPSE_COS:g}): {', '.join(collapsed)}."
        )
    return " ".join(parts)


def table(name: str, profile: str, seeds: tuple[int, ...] | None = None):
    """Our rows of the paper's Table 2-6 (`fashionsap_tables.TABLES`), one row per model x seed.

    Columns: model (the paper's row name), variant, seed, profile, then the paper table's metric
    columns (and ptp / trp / fsis for "table6"). Runs whatever is missing.
    """
    seeds = sap_settings(profile).seeds if seeds is None else seeds
    sources = {"retrieval": evaluate_retrieval, "recognition": recognition, "tmir": tmir}
    return table_from(name, profile, seeds, sources)
