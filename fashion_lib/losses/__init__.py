"""Training losses: nn.Modules that read a model output dataclass and return named, weighted terms.

The engine sums the values of the returned ``dict[str, Tensor]`` and logs each term by name.
"""

from __future__ import annotations

from fashion_lib.losses.m3net import (
    ASENLoss,
    M3NetLoss,
    MODCLoss,
    TripletTargets,
    cosine_triplet,
    weighted_multilabel_bce,
)

__all__ = [
    "ASENLoss",
    "M3NetLoss",
    "MODCLoss",
    "TripletTargets",
    "cosine_triplet",
    "weighted_multilabel_bce",
]
