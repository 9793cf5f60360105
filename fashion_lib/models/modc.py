"""Prototype memories and MODC (attribute spaces split into class spaces by online clustering).

``ClassPrototypes`` holds M3-Net's class prototypes ("akin to MODC", rule in
``fashion_lib.losses.m3net``); ``ClusterMemory`` and ``MODC`` implement the MODC baseline.

No public MODC code exists (notes, section 0), so this is our reading of the method as M3-Net
describes it ("segment the attribute-specific embedding spaces into class-specific embedding spaces
using the cluster prototypes learned by online deep clustering", segmentation at inference), with
the online deep clustering mechanics of OpenMMLab ODC. The rule we chose:

1. Encoder: an ASEN++-style global branch (shared attribute embedding, SCA, CCA, ``feature_fc``).
2. Memory (``ClusterMemory``): for every training sample and attribute, an L2-normalised feature
   kept with momentum, f <- norm((1 - m) f_old + m f_new) (ODC's feature bank), plus the sample's
   value.
3. Prototypes: one per (attribute, value), the normalised mean of the banked features of that value,
   recomputed every ``update_interval`` memory updates (ODC recomputes centroids from the bank).
   Cluster membership during training is the labelled value (one prototype per value); a value with
   no banked feature yet has no prototype (``prototype_ready`` is False) and triplets needing it are
   skipped.
4. Inference: an image belongs to the class space of its nearest prototype (argmax cosine) within
   the attribute (``assign_classes``); retrieval ranks same-cluster candidates first, each tier by
   cosine in the attribute space (``fashion_lib.retrieval``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fashion_lib.errors import ConfigError
from fashion_lib.models import register_model
from fashion_lib.models.asen import ASEN, ASENOutput, build_asen

__all__ = ["MODC", "ClassPrototypes", "ClusterMemory"]


class ClusterMemory(nn.Module):
    """ODC-style momentum feature bank and per-value prototypes for every attribute.

    The bank is stored in float16 to halve its size (N_samples x N_attr x D; 1.6 GB for DARN's
    171,696 training images x 9 attributes x 512 dims, 6.3 GB at MODC's 2048 dims): banked vectors
    have unit norm, so half precision loses only about 1e-3 of each coordinate.

    Args:
        num_samples: training-set size (sample ids are 0 .. num_samples - 1).
        classes_per_attribute: number of values per attribute.
        dim: feature size.
        momentum: m in f <- norm((1 - m) f_old + m f_new) (ODC uses 0.5).
        update_interval: recompute the prototypes every this many ``update`` calls.
    """

    def __init__(
        self,
        num_samples: int,
        classes_per_attribute: tuple[int, ...],
        dim: int,
        momentum: float = 0.5,
        update_interval: int = 10,
    ) -> None:
        super().__init__()
        if num_samples < 1 or not 0.0 < momentum <= 1.0 or update_interval < 1:
            raise ConfigError(
                "ClusterMemory needs num_samples >= 1, 0 < momentum <= 1, interval >= 1"
            )
        n_attr, m_max = len(classes_per_attribute), max(classes_per_attribute)
        self.momentum = momentum
        self.update_interval = update_interval
        self.register_buffer("sizes", torch.tensor(classes_per_attribute))
        self.register_buffer("bank", torch.zeros(num_samples, n_attr, dim, dtype=torch.float16))
        self.register_buffer("bank_label", torch.full((num_samples, n_attr), -1, dtype=torch.long))
        self.register_buffer("prototypes", torch.zeros(n_attr, m_max, dim))
        self.register_buffer("prototype_ready", torch.zeros(n_attr, m_max, dtype=torch.bool))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(
        self, sample_ids: Tensor, attr_ids: Tensor, values: Tensor, features: Tensor
    ) -> None:
        """Bank features (B, D) of samples (B,) for attributes (B,) with labelled values (B,)."""
        if bool((sample_ids < 0).any() | (sample_ids >= self.bank.shape[0]).any()):
            raise ConfigError(f"sample ids must lie in [0, {self.bank.shape[0]})")
        if bool((values < 0).any() | (values >= self.sizes[attr_ids]).any()):
            raise ConfigError("a value index exceeds its attribute's number of values")
        new = F.normalize(features.detach().float(), dim=1)  # (B, D)
        old = self.bank[sample_ids, attr_ids].float()  # (B, D)
        seen = (self.bank_label[sample_ids, attr_ids] >= 0)[:, None]  # (B, 1)
        mixed = torch.where(seen, (1 - self.momentum) * old + self.momentum * new, new)
        self.bank[sample_ids, attr_ids] = F.normalize(mixed, dim=1).to(self.bank.dtype)
        self.bank_label[sample_ids, attr_ids] = values
        self.steps += 1
        if int(self.steps) % self.update_interval == 0 or not bool(self.prototype_ready.any()):
            self.recompute_prototypes()

    @torch.no_grad()
    def recompute_prototypes(self) -> None:
        """Prototype of (attribute, value) = normalised mean of its banked features."""
        n_attr, m_max, dim = self.prototypes.shape
        sample, attr = (self.bank_label >= 0).nonzero(as_tuple=True)  # banked (sample, attr) pairs
        slot = attr * m_max + self.bank_label[sample, attr]  # flat (attribute, value) index
        sums = torch.zeros(n_attr * m_max, dim, device=self.bank.device)
        sums.index_add_(0, slot, self.bank[sample, attr].float())
        counts = torch.bincount(slot, minlength=n_attr * m_max).view(n_attr, m_max)
        self.prototypes.copy_(F.normalize(sums.view(n_attr, m_max, dim), dim=2))
        self.prototype_ready.copy_(counts > 0)

    def assign(self, features: Tensor, attr_ids: Tensor) -> Tensor:
        """Nearest ready prototype (B,) of features (B, D) within each row's attribute."""
        protos = self.prototypes[attr_ids]  # (B, M_max, D)
        sims = torch.einsum("bd,bmd->bm", F.normalize(features, dim=1), protos)  # (B, M_max)
        sims = sims.masked_fill(~self.prototype_ready[attr_ids], float("-inf"))
        return sims.argmax(dim=1)


class ClassPrototypes(nn.Module):
    """EMA prototypes, one per (attribute, class), in the class-specific spaces (see module doc).

    Args:
        classes_per_attribute: M_n per attribute.
        dim: representation size D.
        momentum: mu, the weight of the new batch mean.
    """

    def __init__(self, classes_per_attribute: tuple[int, ...], dim: int, momentum: float) -> None:
        super().__init__()
        if not 0.0 < momentum <= 1.0:
            raise ConfigError(f"prototype momentum must lie in (0, 1], got {momentum}")
        offsets = torch.tensor([0, *classes_per_attribute[:-1]]).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        self.register_buffer("vectors", torch.zeros(sum(classes_per_attribute), dim))
        self.register_buffer("ready", torch.zeros(sum(classes_per_attribute), dtype=torch.bool))
        self.momentum = momentum

    def index(self, attr_ids: Tensor, class_ids: Tensor) -> Tensor:
        """Global prototype index of (attribute, class) pairs."""
        return self.offsets[attr_ids] + class_ids

    @torch.no_grad()
    def update(self, index: Tensor, embeddings: Tensor, init_only: bool = False) -> None:
        """Fold the normalised batch mean of each prototype's embeddings (K, D) into it.

        Args:
            index: (K,) global prototype index of each embedding.
            embeddings: (K, D) class representations.
            init_only: only initialise prototypes that are not ready yet.
        """
        unit = F.normalize(embeddings.to(self.vectors.dtype), dim=1)  # bf16 under autocast
        sums = torch.zeros_like(self.vectors).index_add_(0, index, unit)
        present = torch.bincount(index, minlength=len(self.vectors)) > 0
        mean = F.normalize(sums, dim=1)
        mixed = F.normalize((1 - self.momentum) * self.vectors + self.momentum * mean, dim=1)
        new = torch.where(self.ready[:, None], mixed, mean)
        change = present & ~self.ready if init_only else present
        self.vectors[change] = new[change]
        self.ready |= present


class MODC(nn.Module):
    """ASEN++-style encoder plus a ``ClusterMemory``; forward returns the encoder's ``ASENOutput``.

    Args:
        encoder: an ASEN global-branch model (variant "pp" at stage 1).
        memory: the clustering memory, sized for the encoder's embedding.
    """

    def __init__(self, encoder: ASEN, memory: ClusterMemory) -> None:
        super().__init__()
        self.encoder = encoder
        self.memory = memory

    def forward(self, images: Tensor, attr_ids: Tensor) -> ASENOutput:
        """Encode (B, 3, H, W) images for their attributes (B,)."""
        return self.encoder(images, attr_ids)

    def encode_attribute(self, images: Tensor, attr_ids: Tensor) -> Tensor:
        """L2-normalised attribute-specific embeddings (B, D)."""
        return F.normalize(self.forward(images, attr_ids).embeddings, dim=1)

    def assign_classes(self, embeddings: Tensor, attr_ids: Tensor) -> Tensor:
        """Class space (B,) of each embedding: its nearest prototype within its attribute."""
        return self.memory.assign(embeddings, attr_ids)


def _build(
    classes_per_attribute: tuple[int, ...], num_samples: int, size: str, **kw: object
) -> MODC:
    """Shared body of the registered factories (ASEN++ global branch + memory)."""
    memory_keys = ("momentum", "update_interval")
    memory_kw = {k: kw.pop(k) for k in memory_keys if k in kw}
    encoder = build_asen(classes_per_attribute, "pp", size, with_local=False, **kw)
    memory = ClusterMemory(
        num_samples, tuple(classes_per_attribute), encoder.config.embed_dim, **memory_kw
    )
    return MODC(encoder, memory)


@register_model
def modc_small(classes_per_attribute: tuple[int, ...], num_samples: int, **kw: object) -> MODC:
    """MODC on the small CNN; ``num_samples`` sizes the feature bank (the training-set size)."""
    return _build(classes_per_attribute, num_samples, "small", **kw)


@register_model
def modc_r50(classes_per_attribute: tuple[int, ...], num_samples: int, **kw: object) -> MODC:
    """MODC on ResNet-50 c4 with 2048-d embeddings (the size M3-Net reports for MODC)."""
    return _build(classes_per_attribute, num_samples, "r50", embed_dim=2048, **kw)
