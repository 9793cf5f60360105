"""Tables that look inside a model for the chapters: output shapes, parameters, gradient norms.

Each returns a pandas object a chapter displays as it is, so a page shows one call, not the loop.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import torch
from torch import nn

__all__ = ["grad_norms", "model_facts", "parameter_counts", "parameter_table", "tensor_shapes"]


def _shapes(prefix: str, obj: object) -> list[tuple[str, tuple[int, ...]]]:
    if isinstance(obj, torch.Tensor):
        return [(prefix, tuple(obj.shape))]
    if isinstance(obj, list | tuple):
        return [r for k, v in enumerate(obj) for r in _shapes(f"{prefix}[{k}]", v)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = dataclasses.fields(obj)
        return [r for f in fields for r in _shapes(f"{prefix}.{f.name}", getattr(obj, f.name))]
    return []


def tensor_shapes(obj: object, prefix: str = "out") -> pd.DataFrame:
    """The shape of every tensor inside a (nested) output dataclass, list or tuple.

    Args:
        obj: e.g. a `FashionSAPOutput`; fields that are None or not tensors are skipped.
        prefix: the name the rows start with.

    Returns:
        A frame indexed by the tensor's path (``out.fused.hidden``) with a ``shape`` column.
    """
    rows = _shapes(prefix, obj)
    return pd.DataFrame(rows, columns=["output", "shape"]).set_index("output")


def parameter_counts(model: nn.Module, skip_suffix: str = "_m") -> pd.Series:
    """Parameters per top-level module (and direct parameter), momentum copies (`_m`) left out.

    A parameter shared by two modules (a decoder tied to the embeddings) counts for the first one
    only, so the column sums to the model's own parameter count.
    """
    seen: set[int] = set()
    counts = {}
    parts = [(name, list(m.parameters())) for name, m in model.named_children()]
    parts += [(name, [p]) for name, p in model.named_parameters(recurse=False)]
    for name, params in parts:
        if name.endswith(skip_suffix):
            continue
        counts[name] = sum(p.numel() for p in params if id(p) not in seen)
        seen.update(id(p) for p in params)
    return pd.Series(counts, name="parameters")


def parameter_table(model: nn.Module, skip_suffix: str = "_m") -> pd.DataFrame:
    """`parameter_counts` beside the trainable part of each module (frozen parameters, such as a
    pre-trained image body, count as parameters but not as trainable), with a total row."""
    counts = parameter_counts(model, skip_suffix)
    seen: set[int] = set()
    trainable = {}
    for name, module in model.named_children():
        params = [p for p in module.parameters() if id(p) not in seen]
        seen.update(id(p) for p in params)
        if name in counts:
            trainable[name] = sum(p.numel() for p in params if p.requires_grad)
    for name, p in model.named_parameters(recurse=False):
        trainable[name] = p.numel() if p.requires_grad else 0
    table = pd.DataFrame({"parameters": counts, "trainable": pd.Series(trainable)})
    table.loc["total"] = table.sum()
    return table.astype(int)


def model_facts(model: nn.Module) -> pd.Series:
    """What a FashionSAP is built of, read from the model: image encoder, text and fusion layers,
    ITS width, queues, momentum and the PTP decoder's vocabulary (a chapter prints it as is)."""
    cfg, bert = model.config, model.text_encoder.config
    image = f"{cfg.image_encoder} at {cfg.image_size} px"
    if cfg.frozen_image:
        image += f", frozen; map pooled to {cfg.image_grid} x {cfg.image_grid} patch tokens"
    facts = {
        "image encoder": image,
        "text encoder": f"{bert.num_hidden_layers} BERT layers, width {bert.hidden_size}, "
        + ("from MiniLM" if cfg.text_pretrained else "random"),
        "fusion layers": len(model.fusion.layers),
        "ITS width": cfg.embed_dim,
    }
    if hasattr(model, "image_queue"):
        facts |= {"queue rows": model.image_queue.size, "momentum": cfg.momentum}
    if hasattr(model, "mlm_head"):
        facts["PTP/MLM decoder word pieces"] = model.mlm_head.bias.numel()
    return pd.Series(facts, name="value", dtype=object)


def grad_norms(model: nn.Module) -> pd.Series:
    """L2 norm of the gradients of each top-level module (and direct parameter) after ``backward``.

    Modules whose parameters received no gradient (momentum copies, switched-off heads) are left
    out; the norm of a module is that of all its parameters' gradients stacked together.
    """
    parts = [(name, list(m.parameters())) for name, m in model.named_children()]
    parts += [(name, [p]) for name, p in model.named_parameters(recurse=False)]
    norms = {}
    for name, params in parts:
        grads = [p.grad.detach().flatten() for p in params if p.grad is not None]
        if grads:
            norms[name] = torch.cat(grads).norm().item()
    return pd.Series(norms, name="gradient L2 norm", dtype=float)
