"""Run profiles: one name chooses data size, backbone size and training length everywhere.

`smoke` is for tests and CI (every notebook in seconds), `cpu` is the reference run the book shows
(a 2-core machine, about an hour per part), `gpu` is one GPU on the proxy world, `paper` is the
papers' settings on the real datasets under `data_root`. Chapters read only the fields they need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fashion_lib.errors import ConfigError


@dataclass(frozen=True)
class SplitSizes:
    """Images of one ASEN-protocol proxy dataset per split; in valid and test one image in five is
    a query and the rest are candidates (ASEN's 1:4)."""

    train: int
    valid: int
    test: int

    @classmethod
    def asen(cls, n: int) -> SplitSizes:
        """`n` images split 8:1:1, ASEN's proportions."""
        n_train, n_valid = round(0.8 * n), round(0.1 * n)
        return cls(n_train, n_valid, n - n_train - n_valid)

    @property
    def total(self) -> int:
        """Images over all three splits."""
        return self.train + self.valid + self.test


@dataclass(frozen=True)
class DataScale:
    """How much proxy data a profile generates (ignored when `Profile.proxy` is False).

    DeepFashion, FashionAI and DARN give their images per split (`SplitSizes`). The proxy's test
    splits of FashionAI and DARN are larger than 8:1:1 would give, so that every attribute has at
    least 1,000 candidates in the cpu and gpu profiles (1,040; the real test sets have about
    1,800 per attribute) and Recall@100 / MAP@100 are not saturated. The cpu validation splits,
    where learning rates and lengths are chosen, have half as many: 520 candidates and 130
    queries per attribute, five times the 100 that the top-100 metrics read. Training keeps its
    8:1:1 size. The smoke counts are the least that give every attribute a query and a candidate
    in each evaluation split. FashionGen counts products, each rendered in `views_per_product`
    poses; a tenth of them, and at least 101, validate (FashionSAP's subset test ranks 101); the
    cpu and gpu worlds validate on at least 1,000 products, so that the full protocol's chance
    level is at most 0.1%. FashionIQ counts images (families of five related garments, one family
    in five validates); each category's validation images are the gallery TMIR ranks, 500 in the
    cpu world, so that a random ranking's R@50 (10%) leaves room for a model to show more than
    three times it (the real galleries hold about 3,800-6,300 images).
    """

    image_size: int = 64
    deepfashion: SplitSizes = SplitSizes(240, 30, 30)
    fashionai: SplitSizes = SplitSizes(240, 40, 40)
    darn: SplitSizes = SplitSizes(240, 45, 45)
    fashiongen_products: int = 160
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
            deepfashion=SplitSizes.asen(12_000),
            fashionai=SplitSizes(6_400, 5_200, 10_400),
            darn=SplitSizes(6_400, 5_850, 11_700),
            fashiongen_products=10_000,  # 1,000 validate: full-protocol chance 0.1%
            views_per_product=2,
            fashioniq_images=7_500,  # 500 per category validate: random R@50 is 10%
            fashioniq_pairs=6_000,
        ),
    ),
    "gpu": Profile(
        name="gpu",
        description="one GPU: a larger proxy world and the papers' backbones at 224-256 px",
        gpu=True,
        data=DataScale(
            image_size=224,
            deepfashion=SplitSizes.asen(60_000),
            fashionai=SplitSizes(32_000, 10_400, 10_400),
            darn=SplitSizes(32_000, 11_700, 11_700),
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
