"""Losses of M3-Net (Eq. 7-11) and of its baselines ASEN/ASENv2/ASEN++ and MODC.

Every loss is an ``nn.Module`` reading a model output dataclass and a ``TripletTargets`` and
returning a dict of named, already weighted terms (the engine sums them). Triplet batches are laid
out as [anchors; positives; negatives]: rows 0..T-1, T..2T-1 and 2T..3T-1 of the model input. M3-Net
is called with the anchor's class for all three rows (``class_ids=cat([c, c, c])``), so its pair p
is row p and the three class representations live in the anchor's class space, as Eq. 9-10 require.
On multi-label data the sampler must draw negatives that lack the anchor's class.

Choices where the paper is silent or garbled (stated in the book):
- Eq. 8 calls d "the cosine similarity", which would reward pushing positives away; we read d as the
  cosine distance 1 - cos, i.e. max(0, margin - cos(a, p) + cos(a, n)).
- Eq. 7 prints "+ (1 - y) log(1 - x)"; we use the standard binary cross-entropy (both terms
  negative), averaged over the M_n classes of the row's attribute, then over rows.
- Class prototypes ("akin to MODC") for M3-Net: one prototype per (attribute, class) in that class's
  own space, an exponential moving average of the normalised class representations of the anchors
  and positives of that class, p <- norm((1 - mu) p + mu * norm(batch mean)), initialised from the
  first batch that holds the class, updated after the loss in training mode. MODC's per-sample bank
  is not kept because M3-Net has one space per class: a bank would need N_samples x sum(M_n) x D
  floats.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fashion_lib.errors import ConfigError
from fashion_lib.models.asen import ASENOutput
from fashion_lib.models.m3net import M3NetOutput
from fashion_lib.models.modc import ClassPrototypes, ClusterMemory

__all__ = [
    "ASENLoss",
    "M3NetLoss",
    "MODCLoss",
    "TripletTargets",
    "cosine_triplet",
    "weighted_multilabel_bce",
]


@dataclass
class TripletTargets:
    """Labels of a triplet batch of 3T rows laid out as [anchors; positives; negatives].

    Attributes:
        attr_ids: (3T,) attribute of each row (the same within a triplet).
        class_ids: (T,) class (value) shared by anchor and positive, within the attribute.
        labels: (3T, M_max) multi-hot class labels of each row for its attribute (M3-Net's head).
        sample_ids: (3T,) training-set index of each row (MODC's memory).
        values: (3T,) the value of each row (MODC's memory; negatives have their own value).
    """

    attr_ids: Tensor
    class_ids: Tensor
    labels: Tensor | None = None
    sample_ids: Tensor | None = None
    values: Tensor | None = None

    @property
    def num_triplets(self) -> int:
        """T, the number of triplets."""
        if len(self.attr_ids) != 3 * len(self.class_ids):
            raise ConfigError(
                f"{len(self.attr_ids)} rows do not make {len(self.class_ids)} triplets"
            )
        return len(self.class_ids)


def cosine_triplet(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float) -> Tensor:
    """Per-triplet hinge max(0, margin - cos(a, p) + cos(a, n)) of (T, D) tensors -> (T,)."""
    pos = F.cosine_similarity(anchor, positive, dim=1)  # (T,)
    neg = F.cosine_similarity(anchor, negative, dim=1)  # (T,)
    return F.relu(margin - pos + neg)


def weighted_multilabel_bce(
    logits: Tensor, labels: Tensor, mask: Tensor, pos_weight: float
) -> Tensor:
    """Eq. 7 averaged over rows: mean over valid classes of -w_p y log x - (1 - y) log(1 - x).

    Args:
        logits: (B, M_max) logits; x = sigmoid(logits).
        labels: (B, M_max) multi-hot targets.
        mask: (B, M_max) True for the classes of the row's attribute.
        pos_weight: w_p, the weight on positive labels.

    Returns:
        A scalar.
    """
    weight = torch.tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    per_class = F.binary_cross_entropy_with_logits(
        logits, labels.to(logits.dtype), pos_weight=weight, reduction="none"
    )  # (B, M_max)
    per_row = (per_class * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1)  # (B,)
    return per_row.mean()


class M3NetLoss(nn.Module):
    """Eq. 11, lambda_M L_M + lambda_CC L_CC + lambda_CI L_CI, on an ``M3NetOutput`` of triplets.

    The class prototypes live in the model (``model.prototypes``), so checkpoints carry them.

    Args:
        prototypes: the M3-Net model's ``ClassPrototypes``.
        pos_weight: w_p (paper: 100 on DeepFashion, 1 on FashionAI and DARN).
        margin: zeta (paper: 0.4).
        lambda_m, lambda_cc, lambda_ci: term weights (paper: 1, 1, 1).
    """

    def __init__(
        self,
        prototypes: ClassPrototypes,
        pos_weight: float = 1.0,
        margin: float = 0.4,
        lambda_m: float = 1.0,
        lambda_cc: float = 1.0,
        lambda_ci: float = 1.0,
    ) -> None:
        super().__init__()
        self.prototypes = prototypes
        self.pos_weight, self.margin = pos_weight, margin
        self.lambdas = (lambda_m, lambda_cc, lambda_ci)

    def forward(self, output: M3NetOutput, targets: TripletTargets) -> dict[str, Tensor]:
        """Named weighted terms: "multilabel", "prototype_triplet", "instance_triplet"."""
        t = targets.num_triplets
        rows = torch.arange(3 * t, device=output.pair_image.device)
        if not torch.equal(output.pair_image, rows):
            raise ConfigError(
                "M3NetLoss needs one class pair per row: call the model with class_ids"
            )
        if targets.labels is None:
            raise ConfigError("M3NetLoss needs multi-hot labels in TripletTargets.labels")
        emb = output.class_embeddings  # (3T, D)
        anchor, positive, negative = emb[:t], emb[t : 2 * t], emb[2 * t :]
        proto_idx = self.prototypes.index(targets.attr_ids[:t], targets.class_ids)  # (T,)
        positives = torch.cat([proto_idx, proto_idx])
        self.prototypes.update(positives, torch.cat([anchor, positive]), init_only=True)
        proto = self.prototypes.vectors[proto_idx]  # (T, D), no gradient
        lm, lcc, lci = self.lambdas
        terms = {
            "multilabel": lm
            * weighted_multilabel_bce(
                output.multilabel_logits, targets.labels, output.class_mask, self.pos_weight
            ),
            "prototype_triplet": lcc * cosine_triplet(anchor, proto, negative, self.margin).mean(),
            "instance_triplet": lci
            * cosine_triplet(anchor, positive, negative, self.margin).mean(),
        }
        if self.training:
            self.prototypes.update(positives, torch.cat([anchor, positive]))
        return terms


class ASENLoss(nn.Module):
    """ASEN/ASENv2 triplet (margin 0.2 on normalised dot products) and ASEN++'s stage-2 terms.

    Stage 2 (local features present): w_g L_g + w_l L_local + w_a L_align, with
    L_align = sum over the anchor, positive and negative rows of mean(1 - cos(g, l)).

    Args:
        margin: triplet margin (0.2).
        global_weight, local_weight, align_weight: ASEN++ stage-2 weights (1.0, 0.1, 0.1).
    """

    def __init__(
        self,
        margin: float = 0.2,
        global_weight: float = 1.0,
        local_weight: float = 0.1,
        align_weight: float = 0.1,
    ) -> None:
        super().__init__()
        self.margin = margin
        self.weights = (global_weight, local_weight, align_weight)

    def forward(self, output: ASENOutput, targets: TripletTargets) -> dict[str, Tensor]:
        """Named weighted terms: "triplet", plus "local_triplet" and "alignment" in stage 2."""
        t = targets.num_triplets
        g = output.embeddings
        wg, wl, wa = self.weights
        local = output.local_embeddings
        scale = wg if local is not None else 1.0  # stage 1 / v1 / v2: the plain triplet loss
        terms = {
            "triplet": scale * cosine_triplet(g[:t], g[t : 2 * t], g[2 * t :], self.margin).mean()
        }
        if local is not None:
            terms["local_triplet"] = (
                wl * cosine_triplet(local[:t], local[t : 2 * t], local[2 * t :], self.margin).mean()
            )
            misalign = 1 - F.cosine_similarity(g, local, dim=1)  # (3T,)
            terms["alignment"] = wa * misalign.view(3, t).mean(dim=1).sum()
        return terms


class MODCLoss(nn.Module):
    """MODC: prototypical triplet (anchor, value prototype, negative) + instance triplet, cosine.

    The prototypes come from the model's ``ClusterMemory``; in training mode the memory banks the
    batch after the loss is computed (ODC order). Triplets whose prototype is not ready are skipped.

    Args:
        memory: the MODC model's memory (``model.memory``).
        margin: triplet margin (0.4, the value M3-Net inherits from MODC).
        lambda_proto, lambda_inst: term weights.
    """

    def __init__(
        self,
        memory: ClusterMemory,
        margin: float = 0.4,
        lambda_proto: float = 1.0,
        lambda_inst: float = 1.0,
    ) -> None:
        super().__init__()
        self.memory = memory
        self.margin = margin
        self.lambdas = (lambda_proto, lambda_inst)

    def forward(self, output: ASENOutput, targets: TripletTargets) -> dict[str, Tensor]:
        """Named weighted terms: "prototype_triplet", "instance_triplet"."""
        t = targets.num_triplets
        if targets.sample_ids is None or targets.values is None:
            raise ConfigError("MODCLoss needs TripletTargets.sample_ids and .values")
        e = output.embeddings
        attr = targets.attr_ids[:t]
        ready = self.memory.prototype_ready[attr, targets.class_ids]  # (T,)
        proto = self.memory.prototypes[attr, targets.class_ids]  # (T, D)
        proto_loss = cosine_triplet(e[:t], proto, e[2 * t :], self.margin) * ready
        lp, li = self.lambdas
        terms = {
            "prototype_triplet": lp * proto_loss.sum() / ready.sum().clamp_min(1),
            "instance_triplet": li
            * cosine_triplet(e[:t], e[t : 2 * t], e[2 * t :], self.margin).mean(),
        }
        if self.training:
            self.memory.update(targets.sample_ids, targets.attr_ids, targets.values, e)
        return terms
