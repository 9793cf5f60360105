"""Tables of the M3-Net chapters (02-05) that would otherwise be loops on the page.

Each function returns a pandas object a chapter displays as it is, so the page shows one call.
"""

from __future__ import annotations

import pandas as pd

from fashion_lib.models import create_model, list_models

__all__ = ["ROW_MODELS", "row_models"]

#: Registry name of each row of Tables 2-4 -> (row, granularity, what differs).
ROW_MODELS = {
    "asen_small": ("ASEN", "attribute", "SCA (1x1 conv + tanh score) + CCA, one-hot labels"),
    "asenv2_small": ("ASENv2", "attribute", "shared attribute embedding, BatchNorm in SCA"),
    "asenpp_small": ("ASEN++", "attribute", "global + local branch on an attention crop"),
    "modc_small": ("MODC", "attribute, classes at test", "ASEN++ global branch + online clusters"),
    "m3net_a_small": ("M3-Net_a", "attribute", "SCA-A/CCA-A + multi-label head, no class branch"),
    "m3net_c_small": ("M3-Net_c", "class", "1x1 conv per attribute + head + SCA-C/CCA-C"),
    "m3net_small": ("M3-Net", "attribute + class", "SCA-A/CCA-A, head, SCA-C/CCA-C (Eq. 1-6)"),
}


def row_models(classes_per_attribute: tuple[int, ...]) -> pd.DataFrame:
    """The seven small models of Tables 2-4 built for a taxonomy, with their parameter counts.

    "head parameters" counts everything but the backbone(s); MODC's memory is sized for 100
    training images (it holds buffers, not parameters).
    """
    missing = set(ROW_MODELS) - set(list_models("*_small"))
    if missing:
        raise KeyError(f"not in the model registry: {sorted(missing)}")
    rows = []
    for name, (label, granularity, what) in ROW_MODELS.items():
        kwargs = {"num_samples": 100} if name.startswith("modc") else {}
        built = create_model(name, classes_per_attribute=classes_per_attribute, **kwargs)
        total = sum(p.numel() for p in built.parameters())
        backbones = sum(p.numel() for n, p in built.named_parameters() if "backbone" in n)
        rows.append(
            {
                "model": label,
                "registry name": name,
                "parameters": total,
                "head parameters": total - backbones,
                "granularity": granularity,
                "what differs": what,
            }
        )
    return pd.DataFrame(rows).set_index("model")
