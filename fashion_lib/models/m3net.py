"""M3-Net: attribute- and class-specific representations on one shared backbone (Sec. 3.1).

Flow for a batch of (image, attribute) pairs and a set of (image, class) pairs:

    psi = backbone(I)                                       (B, c, h, w)
    phi_n = SCA-A(psi, A_n)                                 (B, c, h, w)   Eq. 1
    x_n = CCA-A(phi_n, A_n)                                 (B, c)         Eq. 2, attribute rep.
    P_n = sigmoid(g_n(x_n))                                 (B, M_max)     Eq. 3, multi-label head
    for every pair p = (image b, class m of A_n), all pairs at once:
    phi_mn = SCA-C_n(h w phi_n[b], m)                       (P, c, h, w)   Eq. 4 (rescaled, below)
    x'_n = CCA-A(phi_mn, A_n)                               (P, c)         Eq. 5
    x_mn = CCA-C_n(x'_n, m)                                 (P, c)         Eq. 6, class rep.

SCA-C and CCA-C are attribute-specific (one module per attribute, shared by its classes), so the
class branch loops over the attributes present in the batch (at most N), never over classes. The
pairs come from ``class_ids`` (training: the anchor's class for the three images of a triplet) or,
when it is None, from the head: every class with probability > gamma (the paper's rule), plus the
most likely class so no image is left without a class space; ``max_classes`` (default None, no cap)
optionally caps them by probability.

Ablations (Sec. 4.2: "only the attribute-conditional attention modules", "only the
class-conditional attention modules") are switches of the same model:
- M3-Net_a (``class_attention=False``): no SCA-C/CCA-C; a pair's class representation is the image's
  attribute representation, so the class-level losses act on the attribute space.
- M3-Net_c (``attribute_attention=False``): no SCA-A/CCA-A. The paper leaves the attribute
  representation it still needs (Eq. 3's input, the attribute space of retrieval) unspecified. Ours
  is the attribute branch without attention: one 1 x 1 convolution per attribute on psi
  (``AttributeMaps``, started at the identity), whose spatial mean is x_n; SCA-C reads that map
  and CCA-C reads q1(phi_mn). L_M trains it through the head, the class losses through the class
  branch, as they train SCA-A/CCA-A in M3-Net. (Taking the mean of psi itself left x_n untrained
  with a frozen backbone: the attribute space was the pooled backbone.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fashion_lib.errors import ConfigError
from fashion_lib.models import register_model
from fashion_lib.models.attention import CCA, SCA
from fashion_lib.models.backbones import create_cnn_backbone
from fashion_lib.models.modc import ClassPrototypes

__all__ = ["AttributeMaps", "M3Net", "M3NetConfig", "M3NetOutput", "select_classes"]


@dataclass(frozen=True)
class M3NetConfig:
    """Configuration of M3-Net and its ablations.

    Attributes:
        classes_per_attribute: M_n for each attribute n.
        backbone: a name accepted by ``create_cnn_backbone``.
        backbone_width: first-stage width of "small_cnn".
        backbone_weights: optional local ImageNet checkpoint of the backbone (paper profile).
        attention_dim: c', the common space of SCA and hidden size of CCA.
        label_dim: size of the attribute and class embeddings E1, E2.
        head_hidden: hidden width of each attribute's multi-label MLP g_n.
        embed_dim: size of the representations; None keeps c (1024 for resnet50_c4, as the paper).
        gamma: probability threshold of the high-likelihood classes (paper: 0.8).
        max_classes: at most this many predicted classes per image at inference; None (default)
            keeps every class above gamma, as the paper.
        prototype_momentum: mu of the class prototypes used by the prototypical triplet loss.
        attribute_attention: use SCA-A/CCA-A (False = M3-Net_c).
        class_attention: use SCA-C/CCA-C (False = M3-Net_a).
    """

    classes_per_attribute: tuple[int, ...]
    backbone: str = "resnet50_c4"
    backbone_width: int = 32
    backbone_weights: str | None = None
    attention_dim: int = 512
    label_dim: int = 512
    head_hidden: int = 512
    embed_dim: int | None = None
    gamma: float = 0.8
    max_classes: int | None = None
    prototype_momentum: float = 0.1
    attribute_attention: bool = True
    class_attention: bool = True

    def __post_init__(self) -> None:
        if not self.classes_per_attribute or min(self.classes_per_attribute) < 1:
            raise ConfigError(
                f"classes_per_attribute must be positive: {self.classes_per_attribute}"
            )
        if not (self.attribute_attention or self.class_attention):
            raise ConfigError("M3-Net needs attribute_attention or class_attention (or both)")
        if not 0.0 <= self.gamma < 1.0 or (self.max_classes is not None and self.max_classes < 1):
            raise ConfigError(
                f"need 0 <= gamma < 1 and max_classes None or >= 1: {self.gamma}, {self.max_classes}"
            )


@dataclass
class M3NetOutput:
    """What M3-Net returns; losses, evaluation and figures read these fields.

    Attributes:
        attribute_embeddings: (B, D) attribute-specific representations (not normalised).
        multilabel_logits: (B, M_max) logits of the row's attribute; entries past M_n are 0.
        class_mask: (B, M_max) True where the class exists for the row's attribute.
        class_embeddings: (P, D) class-specific representations of the pairs (not normalised).
        pair_image: (P,) batch row of each pair.
        pair_class: (P,) class index (within the row's attribute) of each pair.
        attribute_attention: (B, h, w) SCA-A maps, or None for M3-Net_c.
        class_attention: (P, h, w) SCA-C maps, or None for M3-Net_a.
    """

    attribute_embeddings: Tensor
    multilabel_logits: Tensor
    class_mask: Tensor
    class_embeddings: Tensor
    pair_image: Tensor
    pair_class: Tensor
    attribute_attention: Tensor | None
    class_attention: Tensor | None


class MultiLabelHeads(nn.Module):
    """One MLP g_n per attribute (Eq. 3); rows are routed to their attribute's head.

    Args:
        in_dim: input size.
        hidden: hidden width.
        classes_per_attribute: M_n per attribute (output sizes).
    """

    def __init__(self, in_dim: int, hidden: int, classes_per_attribute: tuple[int, ...]) -> None:
        super().__init__()
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, m))
            for m in classes_per_attribute
        )
        self.register_buffer("sizes", torch.tensor(classes_per_attribute), persistent=False)
        self.max_classes = max(classes_per_attribute)

    def forward(self, features: Tensor, attr_ids: Tensor) -> tuple[Tensor, Tensor]:
        """(B, in_dim), (B,) -> logits (B, M_max) zero-padded, mask (B, M_max) of valid classes."""
        order, rows = [], []
        for n in attr_ids.unique().tolist():
            idx = (attr_ids == n).nonzero().squeeze(1)  # (B_n,)
            out = self.heads[n](features[idx])  # (B_n, M_n)
            rows.append(F.pad(out, (0, self.max_classes - out.shape[1])))  # (B_n, M_max)
            order.append(idx)
        logits = torch.cat(rows)[torch.argsort(torch.cat(order))]  # (B, M_max), batch order
        positions = torch.arange(self.max_classes, device=attr_ids.device)  # (M_max,)
        mask = positions[None, :] < self.sizes[attr_ids][:, None]  # (B, M_max)
        return logits, mask


class AttributeMaps(nn.Module):
    """M3-Net_c's attribute branch without attention: one 1 x 1 convolution per attribute.

    psi_n = W_n psi + b_n at every position, W_n started at the identity and b_n at zero, so an
    untrained M3-Net_c starts from the backbone map and learns what each attribute needs.

    Args:
        channels: c, the channels of psi.
        num_attributes: N.
    """

    def __init__(self, channels: int, num_attributes: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.eye(channels).repeat(num_attributes, 1, 1))  # (N, c, c)
        self.bias = nn.Parameter(torch.zeros(num_attributes, channels))  # (N, c)

    def forward(self, psi: Tensor, attr_ids: Tensor) -> Tensor:
        """(B, c, h, w), (B,) -> (B, c, h, w), each row mapped by its attribute's W_n, b_n."""
        order, maps = [], []
        for n in attr_ids.unique().tolist():
            idx = (attr_ids == n).nonzero().squeeze(1)  # (B_n,)
            w = self.weight[n][:, :, None, None]  # (c, c, 1, 1)
            maps.append(F.conv2d(psi[idx], w, self.bias[n]))  # (B_n, c, h, w)
            order.append(idx)
        return torch.cat(maps)[torch.argsort(torch.cat(order))]  # batch order


def select_classes(
    logits: Tensor, mask: Tensor, gamma: float, max_classes: int | None = None
) -> Tensor:
    """High-likelihood classes: p > gamma plus the top-1, at most ``max_classes`` per row.

    A free function so that the gamma sensitivity study can sweep gamma over cached logits.

    Args:
        logits: (B, M_max) multi-label logits.
        mask: (B, M_max) valid classes of each row's attribute.
        gamma: probability threshold.
        max_classes: cap per row; None keeps every class above gamma (the paper's rule).

    Returns:
        (B, K) class indices sorted by probability, -1 where a row has fewer than K classes.
    """
    probs = torch.sigmoid(logits).masked_fill(~mask, -1.0)  # (B, M_max)
    k = probs.shape[1] if max_classes is None else min(max_classes, probs.shape[1])
    top_p, top_c = probs.topk(k, dim=1)  # (B, K)
    keep = top_p > gamma
    keep[:, 0] = True  # the most likely class always opens a class space
    return torch.where(keep, top_c, torch.full_like(top_c, -1))


class M3Net(nn.Module):
    """The multi-attribute multi-granularity multi-label embedding network.

    Args:
        config: the frozen configuration (see ``M3NetConfig``).
    """

    def __init__(self, config: M3NetConfig) -> None:
        super().__init__()
        cfg = self.config = config
        n_attr = len(cfg.classes_per_attribute)
        self.backbone = create_cnn_backbone(
            cfg.backbone, width=cfg.backbone_width, weights=cfg.backbone_weights
        )
        c = self.backbone.out_channels
        if cfg.attribute_attention:
            self.sca_a = SCA(c, cfg.attention_dim, n_attr, cfg.label_dim)
            self.cca_a = CCA(c, cfg.attention_dim, n_attr, cfg.label_dim)
        else:
            self.attribute_maps = AttributeMaps(c, n_attr)
        if cfg.class_attention:
            self.sca_c = nn.ModuleList(
                SCA(c, cfg.attention_dim, m, cfg.label_dim) for m in cfg.classes_per_attribute
            )
            self.cca_c = nn.ModuleList(
                CCA(c, cfg.attention_dim, m, cfg.label_dim) for m in cfg.classes_per_attribute
            )
        self.heads = MultiLabelHeads(c, cfg.head_hidden, cfg.classes_per_attribute)
        dim = cfg.embed_dim or c
        self.attribute_proj = nn.Linear(c, dim) if dim != c else nn.Identity()
        self.class_proj = nn.Linear(c, dim) if dim != c and cfg.class_attention else nn.Identity()
        self.embed_dim = dim
        self.prototypes = ClassPrototypes(cfg.classes_per_attribute, dim, cfg.prototype_momentum)

    def forward(
        self, images: Tensor, attr_ids: Tensor, class_ids: Tensor | None = None
    ) -> M3NetOutput:
        """Encode images for their attributes and for (image, class) pairs.

        Args:
            images: (B, 3, H, W).
            attr_ids: (B,) attribute of each row.
            class_ids: (B,) or (B, K) class indices within the row's attribute, -1 for none; None
                takes the high-likelihood classes of the multi-label head.

        Returns:
            An ``M3NetOutput``.
        """
        cfg = self.config
        psi = self.backbone(images)  # (B, c, h, w)
        if cfg.attribute_attention:
            sca = self.sca_a(psi, attr_ids)
            attr_map, attr_attention = sca.attended, sca.attention  # (B, c, h, w), (B, h, w)
            attr_vec = self.cca_a(attr_map, attr_ids).attended  # (B, c)
        else:  # M3-Net_c: the attribute branch without attention
            attr_map, attr_attention = self.attribute_maps(psi, attr_ids), None  # (B, c, h, w)
            attr_vec = attr_map.mean(dim=(2, 3))  # (B, c)
        logits, mask = self.heads(attr_vec, attr_ids)  # (B, M_max) x2
        if class_ids is None:
            class_ids = self.predict_classes(logits.detach(), mask)  # (B, K)
        if class_ids.dim() == 1:
            class_ids = class_ids[:, None]  # (B, 1)
        if bool((class_ids >= self.heads.sizes[attr_ids][:, None]).any()):
            raise ConfigError("class_ids holds a class index beyond its attribute's class count")
        pair_image, slot = (class_ids >= 0).nonzero(as_tuple=True)  # (P,), (P,)
        pair_class = class_ids[pair_image, slot]  # (P,)
        class_vec, class_attention = self._class_branch(
            attr_map, attr_vec, attr_ids, pair_image, pair_class
        )
        return M3NetOutput(
            attribute_embeddings=self.attribute_proj(attr_vec),
            multilabel_logits=logits,
            class_mask=mask,
            class_embeddings=class_vec,
            pair_image=pair_image,
            pair_class=pair_class,
            attribute_attention=attr_attention,
            class_attention=class_attention,
        )

    def _class_branch(
        self,
        attr_map: Tensor,
        attr_vec: Tensor,
        attr_ids: Tensor,
        pair_image: Tensor,
        pair_class: Tensor,
    ) -> tuple[Tensor, Tensor | None]:
        """Class representations (P, D) and SCA-C maps (P, h, w) of all pairs, by attribute."""
        if not self.config.class_attention:  # M3-Net_a: the attribute space stands in
            return self.attribute_proj(attr_vec)[pair_image], None
        pair_attr = attr_ids[pair_image]  # (P,)
        # phi_n = a_n * psi with a softmax map a_n that sums to 1, so phi_n is ~1/(h w) of psi and
        # SCA-C's tanh scores on it are nearly flat. Rescaling by h*w (a_n's mean becomes 1) gives
        # SCA-C the scale SCA-A sees; the paper is silent on this and the book states the choice.
        gain = attr_map.shape[-2] * attr_map.shape[-1] if self.config.attribute_attention else 1
        order, vecs, maps = [], [], []
        for n in pair_attr.unique().tolist():
            idx = (pair_attr == n).nonzero().squeeze(1)  # (P_n,)
            phi = attr_map[pair_image[idx]] * gain  # (P_n, c, h, w), gathered per pair
            sca = self.sca_c[n](phi, pair_class[idx])  # phi_mn: (P_n, c, h, w)
            if self.config.attribute_attention:
                vec = self.cca_a(sca.attended, pair_attr[idx]).attended  # Eq. 5: (P_n, c)
            else:
                vec = sca.attended.flatten(2).sum(dim=2)  # q1(phi_mn): (P_n, c)
            vecs.append(self.cca_c[n](vec, pair_class[idx]).attended)  # Eq. 6: (P_n, c)
            maps.append(sca.attention)
            order.append(idx)
        if not order:
            h, w = attr_map.shape[-2:]
            return attr_map.new_zeros(0, self.embed_dim), attr_map.new_zeros(0, h, w)
        inverse = torch.argsort(torch.cat(order))  # back to pair order
        return self.class_proj(torch.cat(vecs)[inverse]), torch.cat(maps)[inverse]

    def predict_classes(self, logits: Tensor, mask: Tensor) -> Tensor:
        """``select_classes`` with this model's gamma and max_classes."""
        return select_classes(logits, mask, self.config.gamma, self.config.max_classes)

    def encode_attribute(self, images: Tensor, attr_ids: Tensor) -> Tensor:
        """L2-normalised attribute representations (B, D) of ``images`` for ``attr_ids`` (B,)."""
        out = self.forward(images, attr_ids, class_ids=torch.full_like(attr_ids, -1))
        return F.normalize(out.attribute_embeddings, dim=1)

    def encode_class(self, images: Tensor, attr_ids: Tensor, class_ids: Tensor) -> Tensor:
        """L2-normalised class representations (B, D), one class (B,) per image in its attribute."""
        return F.normalize(self.forward(images, attr_ids, class_ids).class_embeddings, dim=1)


def _build(
    classes_per_attribute: tuple[int, ...] | list[int], size: str, **overrides: object
) -> M3Net:
    """Shared body of the registered factories: preset sizes, then explicit overrides."""
    presets = {
        "small": dict(backbone="small_cnn", attention_dim=128, label_dim=128, head_hidden=128),
        "r50": dict(backbone="resnet50_c4", attention_dim=512, label_dim=512, head_hidden=512),
    }
    kwargs = {**presets[size], **overrides}
    return M3Net(M3NetConfig(classes_per_attribute=tuple(classes_per_attribute), **kwargs))


@register_model
def m3net_small(classes_per_attribute: tuple[int, ...], **overrides: object) -> M3Net:
    """M3-Net on the small CNN (cpu profile); ``overrides`` are ``M3NetConfig`` fields."""
    return _build(classes_per_attribute, "small", **overrides)


@register_model
def m3net_r50(classes_per_attribute: tuple[int, ...], **overrides: object) -> M3Net:
    """M3-Net on ResNet-50 c4 (paper): 1024-d representations."""
    return _build(classes_per_attribute, "r50", **overrides)


@register_model
def m3net_a_small(classes_per_attribute: tuple[int, ...], **overrides: object) -> M3Net:
    """M3-Net_a (attribute-conditional attention only) on the small CNN."""
    return _build(classes_per_attribute, "small", class_attention=False, **overrides)


@register_model
def m3net_a_r50(classes_per_attribute: tuple[int, ...], **overrides: object) -> M3Net:
    """M3-Net_a (attribute-conditional attention only) on ResNet-50 c4."""
    return _build(classes_per_attribute, "r50", class_attention=False, **overrides)


@register_model
def m3net_c_small(classes_per_attribute: tuple[int, ...], **overrides: object) -> M3Net:
    """M3-Net_c (class-conditional attention only) on the small CNN."""
    return _build(classes_per_attribute, "small", attribute_attention=False, **overrides)


@register_model
def m3net_c_r50(classes_per_attribute: tuple[int, ...], **overrides: object) -> M3Net:
    """M3-Net_c (class-conditional attention only) on ResNet-50 c4."""
    return _build(classes_per_attribute, "r50", attribute_attention=False, **overrides)
