"""Run profiles: one name chooses data size, backbone size and training length everywhere.

`smoke` is for tests and CI (every notebook in seconds), `cpu` is the reference run the book shows
(a 2-core machine, about an hour per part), `gpu` is one GPU on the proxy world, `paper` is the
papers' settings on the real datasets under `data_root`. Chapters read only the fields they need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fashion_lib.errors import ConfigError


@dataclass(frozen=True)
class DataScale:
    """How much proxy data a profile generates (ignored when `Profile.proxy` is False).

    Counts are images per dataset, before the ASEN-style 8:1:1 split; FashionGen counts products,
    each rendered in `views_per_product` poses.
    """

    image_size: int = 64
    deepfashion_images: int = 300
    fashionai_images: int = 300
    darn_images: int = 300
    fashiongen_products: int = 60
    views_per_product: int = 2
    fashioniq_images: int = 60
    fashioniq_pairs: int = 60


@dataclass(frozen=True)
class Profile:
    """A named bundle of settings; `proxy` says whether data comes from the procedural world, `gpu`
    whether the profile's training expects a GPU (`book.preflight.require_gpu`)."""

    name: str
    description: str
    proxy: bool = True
    gpu: bool = False
    seed: int = 0
    data: DataScale = field(default_factory=DataScale)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="a few hundred tiny proxy images; every notebook end to end in seconds",
        data=DataScale(),
    ),
    "cpu": Profile(
        name="cpu",
        description="the reference run of the book: proxy data, small models, a 2-core machine",
        data=DataScale(
            image_size=64,
            deepfashion_images=12_000,
            fashionai_images=8_000,
            darn_images=8_000,
            fashiongen_products=2_000,
            views_per_product=2,
            fashioniq_images=1_500,
            fashioniq_pairs=3_000,
        ),
    ),
    "gpu": Profile(
        name="gpu",
        description="one GPU: a larger proxy world and the papers' backbones at 224-256 px",
        gpu=True,
        data=DataScale(
            image_size=224,
            deepfashion_images=60_000,
            fashionai_images=40_000,
            darn_images=40_000,
            fashiongen_products=12_000,
            views_per_product=3,
            fashioniq_images=6_000,
            fashioniq_pairs=12_000,
        ),
    ),
    "paper": Profile(
        name="paper",
        description="the papers' settings on the real datasets under data_root (multi-GPU, torchrun)",
        proxy=False,
        gpu=True,
    ),
}


def get_profile(name: str) -> Profile:
    """Return the profile called `name`, or raise a ConfigError that lists the valid names."""
    try:
        return PROFILES[name]
    except KeyError:
        valid = ", ".join(PROFILES)
        raise ConfigError(f"unknown profile {name!r}; choose one of: {valid}") from None
