"""Proxy pre-training of a CNN backbone: the book's analogue of the papers' ImageNet weights.

M3-Net and its baselines never train from scratch: they start from an ImageNet ResNet-50. No
ImageNet weights are available offline, so each CNN backbone is pre-trained once per profile on the
proxy world's training images of DeepFashion, FashionAI and DARN together, with one task:
attribute classification. Every (dataset, attribute, value) is one output of a linear head on the
globally pooled feature map, trained with binary cross-entropy over the outputs of the attributes
an image is labelled for (DeepFashion's are multi-label, FashionAI labels one attribute per image,
DARN all nine); outputs of unlabelled attributes are masked out. Only training splits are used,
so the retrieval test sets stay unseen; the record reports top-1 attribute accuracy on the
validation splits.

The run is recorded with `engine.records` under the name ``backbone-<name>``; the backbone's
weights (the state dict of its ``body``, the form `create_cnn_backbone(weights=...)` loads) are
saved as ``backbone.pt`` in the run folder. `pretrained_backbone(name, profile)` returns them,
training only if no finished run of the same config exists.

Precision (`PretrainSettings.amp`, `channels_last`): the smoke and cpu profiles train in bfloat16
autocast (float32 weights, optimizer and loss) with NHWC maps, the layout oneDNN's convolutions
use. On a CPU with AMX-BF16 this about halves a step of the small CNN (one thread, 64 images of
64 px: 165-190 ms instead of 390 ms in float32 NCHW; the 600 cpu steps took 119 s instead of
235 s, with validation accuracies within about a point of float32's). On a CPU without AMX or
AVX512-BF16, bfloat16 can be slower than float32: set ``amp="off"`` there (other weights, so
every downstream run is new). The run stays deterministic: the same seed gives the same weights.
Everything downstream (feature caches, evaluation) runs the trained weights in float32.

The paper profile does not pre-train: it loads a real ImageNet checkpoint named by the environment
variable ``FASHION_BACKBONE_WEIGHTS`` (one file per backbone: ``FASHION_BACKBONE_WEIGHTS_<NAME>``
wins, e.g. ``FASHION_BACKBONE_WEIGHTS_RESNET34_C4``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fashion_lib import atomic
from fashion_lib.data.retrieval_data import (
    DATASETS,
    RetrievalDataset,
    load_images,
    load_retrieval_dataset,
    normalise,
)
from fashion_lib.engine import (
    TensorBatches,
    TrainConfig,
    find_finished_run,
    fit,
    run_dir_for,
    write_record,
)
from fashion_lib.engine.records import RunRecord
from fashion_lib.errors import ConfigError
from fashion_lib.fingerprint import file_digest
from fashion_lib.models.backbones import create_cnn_backbone
from fashion_lib.paths import dataset_root
from fashion_lib.profiles import get_profile

__all__ = [
    "PRETRAIN_SETTINGS",
    "PretrainSettings",
    "PretrainedBackbone",
    "dataset_for",
    "nhwc_encoder",
    "pretrained_backbone",
    "torch_threads",
    "world_root",
]

WEIGHTS_FILE = "backbone.pt"


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with `n` torch threads (None: unchanged), restoring the previous count."""
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class PretrainSettings:
    """How a profile pre-trains its backbones (steps of `batch_size` images, AdamW, cosine).

    Attributes:
        steps: optimizer steps (0: no proxy pre-training; the paper profile loads ImageNet).
        batch_size: images per step.
        lr: peak learning rate.
        weight_decay: AdamW weight decay.
        image_size: input side in pixels.
        seed: training seed.
        threads: torch threads while training (None: unchanged; see `torch_threads`). Two
            threads give other weights than one (the backward's sums split differently), so
            the count is part of the run's config.
        amp: the training loop's mixed precision (`TrainConfig.amp`): "bf16" runs the
            convolutions in bfloat16 (float32 weights, optimizer and loss), "off" in float32.
        channels_last: keep the CNN's maps in NHWC layout, the one oneDNN's convolutions use.
    """

    steps: int
    batch_size: int
    lr: float = 1e-3
    weight_decay: float = 1e-4
    image_size: int = 64
    seed: int = 0
    threads: int | None = None
    amp: str = "off"
    channels_last: bool = False


PRETRAIN_SETTINGS: dict[str, PretrainSettings] = {
    "smoke": PretrainSettings(
        steps=6, batch_size=16, image_size=64, threads=1, amp="bf16", channels_last=True
    ),
    # one thread: on a busy 2-core machine two threads made the same steps several times slower,
    # and two threads train other weights (12 steps, 1 vs 2 threads: different digests), so every
    # number downstream would change with the count; 600 steps (1.7 passes over the training
    # images) lifted validation accuracy well above 300's; bf16 and NHWC: see the module docstring
    "cpu": PretrainSettings(
        steps=600, batch_size=64, image_size=64, threads=1, amp="bf16", channels_last=True
    ),
    "gpu": PretrainSettings(steps=20_000, batch_size=128, image_size=224),
    "paper": PretrainSettings(steps=0, batch_size=0, image_size=224),
}


@dataclass(frozen=True)
class PretrainedBackbone:
    """Weights of a pre-trained backbone and where they came from.

    Attributes:
        name: backbone name (``create_cnn_backbone``).
        width: first-stage width (small_cnn only).
        weights: the state-dict file of the backbone's ``body``.
        digest: sha256 of that file (keys the feature cache and the row configs).
        record: the pre-training run record, or None for an external ImageNet file.
    """

    name: str
    width: int
    weights: Path
    digest: str
    record: RunRecord | None

    def build(self) -> nn.Module:
        """A fresh backbone module with these weights loaded."""
        return create_cnn_backbone(self.name, width=self.width, weights=self.weights)

    @property
    def cache_key(self) -> str:
        """Key of the feature caches of `nhwc_encoder(self.build())`: the weights and the layout."""
        return f"{self.digest}:nhwc"


class _NHWCEncoder(nn.Module):
    """See `nhwc_encoder`."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body.to(memory_format=torch.channels_last)

    def forward(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) -> (B, C, h, w) maps, in the default (NCHW) layout."""
        return self.body(images.contiguous(memory_format=torch.channels_last)).contiguous()


def nhwc_encoder(body: nn.Module) -> nn.Module:
    """A frozen CNN that runs in NHWC layout and returns NCHW maps, for the feature caches.

    oneDNN's float32 convolutions ran a third faster in NHWC than in NCHW here (2,048 images
    of 64 px through the small CNN, two threads: 7.9 s instead of 12.4 s); the maps are the same
    up to float rounding (after the caches' float16 rounding, 99.8% of the values were equal and
    the others one float16 step apart).
    """
    return _NHWCEncoder(body)


@functools.lru_cache(maxsize=16)
def _cached_dataset(root: str, name: str, split: str) -> RetrievalDataset:
    return load_retrieval_dataset(root, name, split)


def dataset_for(profile: str, name: str, split: str = "test") -> RetrievalDataset:
    """A dataset of the profile's world, read once per process (`load_retrieval_dataset`)."""
    return _cached_dataset(str(world_root(profile)), name, split)


def world_root(profile: str) -> Path:
    """Folder holding the three datasets of a profile (generated first for proxy profiles)."""
    settings = get_profile(profile)
    if settings.proxy:
        from fashion_lib.data.atelier.make import ensure_world  # heavy; only proxy runs need it

        return ensure_world(settings)
    return dataset_root(profile, False)


class AttributeClassifier(nn.Module):
    """Backbone + global average pool + one linear output per (dataset, attribute, value).

    Args:
        backbone: the CNN being pre-trained.
        num_outputs: total number of values over all attributes of all datasets.
    """

    def __init__(self, backbone: nn.Module, num_outputs: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.out_channels, num_outputs)

    def forward(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) normalised images -> (B, num_outputs) logits."""
        return self.head(self.backbone(images).mean(dim=(2, 3)))


def _targets(data: RetrievalDataset, offset: int, total: int) -> tuple[Tensor, Tensor]:
    """Multi-hot targets and the mask of labelled attributes' outputs, (N_train, total) each."""
    slots = []
    for a, m in enumerate(data.classes_per_attribute):
        slots += [(a, v) for v in range(m)]
    attr = torch.tensor([s[0] for s in slots])
    value = torch.tensor([s[1] for s in slots])
    labels = data.train_multihot[:, attr, value]  # (N, sum M)
    labelled = data.train_multihot.any(dim=2)[:, attr]  # (N, sum M)
    pad = (offset, total - offset - len(slots))
    return F.pad(labels, pad).bool(), F.pad(labelled, pad).bool()


def _val_accuracy(
    model: AttributeClassifier, data: RetrievalDataset, offset: int, image_size: int
) -> float:
    """Top-1 accuracy of the evaluated attribute's value over the validation split's rows."""
    split = _cached_dataset(str(data.folder.parent), data.name, "valid")
    rows = [split.queries, split.candidates]
    fid = torch.cat([r.fid for r in rows])
    attr = torch.cat([r.attr for r in rows])
    labels = torch.cat([r.labels for r in rows])  # (n, M_max)
    images = load_images(data.folder, [split.filenames["valid"][i] for i in fid], image_size)
    starts = torch.tensor([0, *data.classes_per_attribute]).cumsum(0)[:-1] + offset
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(normalise(images[i : i + 256])) for i in range(0, len(fid), 256)])
    correct = 0
    for i in range(len(fid)):
        a = int(attr[i])
        scores = logits[i, starts[a] : starts[a] + data.classes_per_attribute[a]]
        correct += bool(labels[i, int(scores.argmax())])
    return 100.0 * correct / max(1, len(fid))


def _external_weights(name: str, width: int) -> PretrainedBackbone:
    """The paper profile's ImageNet checkpoint from the environment."""
    path = os.environ.get(f"FASHION_BACKBONE_WEIGHTS_{name.upper()}") or os.environ.get(
        "FASHION_BACKBONE_WEIGHTS"
    )
    if not path:
        raise ConfigError(
            f"the paper profile needs ImageNet weights for {name}: set FASHION_BACKBONE_WEIGHTS "
            f"(or FASHION_BACKBONE_WEIGHTS_{name.upper()}) to a local state-dict file"
        )
    return PretrainedBackbone(name, width, Path(path), file_digest(path), None)


def pretrained_backbone(name: str, profile: str, width: int = 32) -> PretrainedBackbone:
    """The profile's pre-trained backbone, training it once if no finished run exists.

    Args:
        name: backbone name ("small_cnn", "resnet50_c4", "resnet34_c4").
        profile: profile name.
        width: first-stage width of "small_cnn".

    Returns:
        A `PretrainedBackbone` (its ``record`` holds the validation accuracies and the curve).
    """
    settings = PRETRAIN_SETTINGS[get_profile(profile).name]
    if settings.steps == 0:
        return _external_weights(name, width)
    datasets = [dataset_for(profile, d, "valid") for d in DATASETS]  # training rows only
    data_key = hashlib.sha256(
        "".join(file_digest(d.split_dir / "label_train.txt") for d in datasets).encode()
    ).hexdigest()
    steps_per_epoch = max(1, sum(d.num_train for d in datasets) // settings.batch_size)
    train = TrainConfig(
        epochs=-(-settings.steps // steps_per_epoch),
        max_steps=settings.steps,
        lr=settings.lr,
        optimizer="adamw",
        weight_decay=settings.weight_decay,
        schedule="cosine",
        warmup_steps=settings.steps // 10,
        seed=settings.seed,
        log_every=max(1, settings.steps // 100),
        amp=settings.amp,
    )
    config = {
        "backbone": name,
        "width": width,
        "profile": profile,
        "data": data_key,
        "settings": settings,
        "train": train,
    }
    run_name = f"backbone-{name}-{profile}"
    run_dir = run_dir_for(run_name, config)
    record = find_finished_run(config, name=run_name)
    if record is not None and (run_dir / WEIGHTS_FILE).is_file():
        return PretrainedBackbone(
            name, width, run_dir / WEIGHTS_FILE, file_digest(run_dir / WEIGHTS_FILE), record
        )
    total = sum(sum(d.classes_per_attribute) for d in datasets)
    offsets = torch.tensor([0, *(sum(d.classes_per_attribute) for d in datasets)]).cumsum(0)
    images, labels, masks = [], [], []
    for data, offset in zip(datasets, offsets.tolist(), strict=False):
        images.append(load_images(data.folder, data.filenames["train"], settings.image_size))
        lab, mask = _targets(data, offset, total)
        labels.append(lab)
        masks.append(mask)
    batches = TensorBatches(
        {"images": torch.cat(images), "labels": torch.cat(labels), "mask": torch.cat(masks)},
        batch_size=settings.batch_size,
        seed=settings.seed,
    )
    torch.manual_seed(settings.seed)  # the initialisation, before fit seeds the loop
    model = AttributeClassifier(create_cnn_backbone(name, width=width), total)
    layout = torch.channels_last if settings.channels_last else torch.contiguous_format
    model.to(memory_format=layout)

    def loss_fn(net: nn.Module, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        x = normalise(batch["images"])  # (B, 3, S, S)
        flip = torch.rand(len(x), device=x.device) < 0.5  # horizontal flip augmentation
        x = torch.where(flip[:, None, None, None], x.flip(3), x).contiguous(memory_format=layout)
        per = F.binary_cross_entropy_with_logits(
            net(x).float(), batch["labels"].float(), reduction="none"
        )  # (B, total), in float32 under autocast too
        mask = batch["mask"].float()
        return {"bce": (per * mask).sum() / mask.sum().clamp_min(1)}

    with torch_threads(settings.threads):
        result = fit(model, loss_fn, batches, train, run_dir)
    # Forward passes only, with every thread (nothing else runs now): their numbers do not
    # depend on the thread count, unlike training's (checked on the cpu backbone, 1 vs 2).
    metrics = {
        f"val_accuracy/{d.name}": _val_accuracy(model, d, off, settings.image_size)
        for d, off in zip(datasets, offsets.tolist(), strict=False)
    }
    # Saved through a file object: torch names the archive after a path's stem, and the temp
    # file's random name would make the bytes (and the hash of downstream configs) vary per run.
    with atomic.atomic_path(run_dir / WEIGHTS_FILE, suffix=".pt") as tmp, tmp.open("wb") as f:
        # contiguous: the same bytes whatever layout the weights trained in
        torch.save({k: v.contiguous() for k, v in model.backbone.body.state_dict().items()}, f)
    record = write_record(
        run_dir,
        name=run_name,
        config=config,
        seed=settings.seed,
        profile=profile,
        wall_time_s=result.wall_time_s,
        metrics=metrics,
        history=result.history,
    )
    return PretrainedBackbone(
        name, width, run_dir / WEIGHTS_FILE, file_digest(run_dir / WEIGHTS_FILE), record
    )
