"""Learnability probe: is each attribute of a generated world learnable, but not trivially?

A plain small CNN (four conv-BN-ReLU blocks, global average pooling) with one linear head per
attribute is trained for a few epochs on a world's training split, read back through the real
format readers, and scored on the held-out images (valid + test; each carries one attribute).
The world is well tuned when every attribute ends well above chance and well below perfect.
The heads share the trunk (one forward pass serves all attributes): 17 separate networks would
cost 17 times as much and probe the same thing, whether an attribute is visible at this size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fashion_lib.data.formats.asen import AsenSplits, read_splits
from fashion_lib.data.formats.images import load_image


@dataclass(frozen=True)
class ProbeResult:
    """Held-out accuracy per attribute, with two chance levels.

    Attributes:
        dataset: "FashionAI" or "DARN".
        attributes: attribute names.
        accuracy: held-out accuracy per attribute.
        majority: accuracy of always answering the attribute's most frequent held-out value.
        uniform: 1 / number of values.
        n_heldout: held-out images per attribute.
        seconds: training and evaluation time.
    """

    dataset: str
    attributes: tuple[str, ...]
    accuracy: tuple[float, ...]
    majority: tuple[float, ...]
    uniform: tuple[float, ...]
    n_heldout: tuple[int, ...]
    seconds: float


class SmallCNN(nn.Module):
    """Four conv blocks (a stride-2 stem, then max-pooling) and one linear head per attribute.

    Args:
        counts: number of values of each attribute.
        width: channels of the first block (doubling up to 4x).
    """

    def __init__(self, counts: tuple[int, ...], width: int = 24) -> None:
        super().__init__()
        chans = (3, width, 2 * width, 4 * width, 4 * width)
        blocks: list[nn.Module] = []
        for i in range(4):
            stride = 2 if i == 0 else 1
            blocks += [
                nn.Conv2d(chans[i], chans[i + 1], 3, stride, 1, bias=False),
                nn.BatchNorm2d(chans[i + 1]),
                nn.ReLU(inplace=True),
            ]
            if i > 0:
                blocks.append(nn.MaxPool2d(2))
        self.trunk = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.heads = nn.ModuleList(nn.Linear(chans[-1], n) for n in counts)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Logits per attribute, each (B, n_values), for images (B, 3, H, W) in [0, 1]."""
        features = self.trunk(images - 0.5)  # (B, C)
        return [head(features) for head in self.heads]


def _load(folder: Path, names: tuple[str, ...]) -> torch.Tensor:
    arrays = np.stack([np.asarray(load_image(folder / n)) for n in names])  # (N, H, W, 3)
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W) uint8


def _targets(splits: AsenSplits) -> torch.Tensor:
    """(N_train, A) training values; -1 where an image has no label for that attribute."""
    out = torch.full((len(splits.filenames["train"]), len(splits.meta.counts)), -1)
    for record in splits.train_labels:
        for pair in record.labels:
            out[record.fid, pair.attr] = pair.value
    return out


def fit_heads(
    model: SmallCNN,
    images: torch.Tensor,
    targets: torch.Tensor,
    epochs: int,
    batch_size: int,
    lr: float,
) -> None:
    """Train `model` in place: AdamW with a one-cycle schedule, random mirroring.

    Args:
        model: the network (one head per column of `targets`).
        images: (N, 3, H, W) uint8.
        targets: (N, A) values; -1 where an image has no label for that head.
        epochs: passes over the images (shuffled with torch's global generator).
        batch_size: images per step.
        lr: peak learning rate.
    """
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(images) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, lr, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss(ignore_index=-1)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(images)).split(batch_size):
            x = images[idx].float() / 255  # (B, 3, H, W)
            if torch.rand(()) < 0.5:
                x = x.flip(3)  # mirror: every attribute of the world is left-right symmetric
            logits = model(x)
            y = targets[idx]  # (B, A)
            loss = sum(loss_fn(lg, y[:, a]) for a, lg in enumerate(logits) if (y[:, a] >= 0).any())
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()


def predict_heads(model: SmallCNN, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """(N, A) predicted value of every head for images (N, 3, H, W) uint8, in eval mode."""
    model.eval()
    out = []
    with torch.no_grad():
        for chunk in images.split(batch_size):
            out.append(torch.stack([lg.argmax(1) for lg in model(chunk.float() / 255)], 1))
    return torch.cat(out) if out else torch.zeros(0, len(model.heads), dtype=torch.long)


def probe_learnability(
    folder: str | Path,
    dataset: str,
    epochs: int = 6,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    width: int = 24,
) -> ProbeResult:
    """Train `SmallCNN` on a dataset folder's training split; score held-out images.

    Args:
        folder: an ASEN-layout dataset folder (``.../FashionAI`` or ``.../DARN``).
        dataset: its name in ``meta.json``.
        epochs: passes over the training images.
        batch_size: images per step.
        lr: AdamW learning rate (cosine-decayed to zero).
        seed: torch seed of initialisation and shuffling.
        width: the CNN's first-block width.

    Returns:
        A `ProbeResult`.
    """
    start = time.perf_counter()
    folder = Path(folder)
    splits = read_splits(folder, dataset)
    counts = splits.meta.counts
    torch.manual_seed(seed)
    model = SmallCNN(counts, width)
    fit_heads(
        model, _load(folder, splits.filenames["train"]), _targets(splits), epochs, batch_size, lr
    )
    hits = [[] for _ in counts]
    truth = [[] for _ in counts]
    for split in ("valid", "test"):
        items = [*splits.queries[split], *splits.candidates[split]]
        x_all = _load(folder, splits.filenames[split])
        predicted = predict_heads(model, x_all[[i.fid for i in items]])  # (N, A)
        for j, item in enumerate(items):
            hits[item.attr].append(int(predicted[j, item.attr]) == item.value)
            truth[item.attr].append(item.value)
    accuracy = tuple(float(np.mean(h)) if h else float("nan") for h in hits)
    majority = tuple(float(np.bincount(t).max() / len(t)) if t else float("nan") for t in truth)
    return ProbeResult(
        dataset,
        splits.meta.attributes,
        accuracy,
        majority,
        tuple(1.0 / n for n in counts),
        tuple(len(t) for t in truth),
        time.perf_counter() - start,
    )


def format_probe(result: ProbeResult) -> str:
    """A small text table of a `ProbeResult`."""
    lines = [
        f"{result.dataset}: held-out accuracy vs chance ({result.seconds:.0f} s)",
        f"{'attribute':<18}{'n':>6}{'acc':>8}{'majority':>10}{'1/K':>8}",
    ]
    for row in zip(
        result.attributes,
        result.n_heldout,
        result.accuracy,
        result.majority,
        result.uniform,
        strict=True,
    ):
        lines.append(f"{row[0]:<18}{row[1]:>6}{row[2]:>8.3f}{row[3]:>10.3f}{row[4]:>8.3f}")
    return "\n".join(lines)
