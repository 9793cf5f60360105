"""Chapter 01's tables and figures of a world (proxy or real copy), read through the readers.

The taxonomies as tables, the first lines of every dataset file, each attribute's evaluation
gallery sizes beside the real value counts, DARN's value shares, DeepFashion's class
co-occurrence and the learnability probe's table: what a reader needs to judge a world, kept out
of the chapter so that its page shows the calls and their results.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from fashion_lib import paths
from fashion_lib.data import taxonomy
from fashion_lib.data.atelier import invariants
from fashion_lib.data.atelier.make import MANIFEST
from fashion_lib.data.atelier.probe import probe_learnability
from fashion_lib.data.formats import darn, deepfashion, fashionai, fashiongen, fashioniq


def fashionai_table() -> pd.DataFrame:
    """FashionAI's attributes: number of values and their names."""
    return pd.DataFrame(
        [
            {"attribute": a.name, "values": a.num_values, "names": ", ".join(a.value_names)}
            for a in taxonomy.FASHIONAI.attributes
        ]
    ).set_index("attribute")


def retrieval_sizes() -> pd.DataFrame:
    """Attributes and values of the three retrieval datasets (the real taxonomies)."""
    sets = (taxonomy.DEEPFASHION, taxonomy.FASHIONAI, taxonomy.DARN)
    return pd.DataFrame(
        [
            {"dataset": s.dataset, "attributes": len(s.attributes), "values": sum(s.counts)}
            for s in sets
        ]
    ).set_index("dataset")


def symbols_by_category() -> str:
    """Each fashion symbol and the FashionGen categories it stands for, one line each."""
    symbols = pd.Series(taxonomy.CATEGORY_TO_SYMBOL).rename_axis("category").rename("symbol")
    return symbols.groupby(symbols).apply(lambda s: ", ".join(s.index)).to_string()


def world_counts(root: Path) -> str:
    """Images per dataset and the knobs of a generated world (its ``atelier.json``)."""
    manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    counts = pd.Series(manifest["images"], name="images").to_string()
    return f"{counts}\nknobs: {manifest['knobs']}"


def format_tour(root: Path) -> str:
    """The first two lines of every text file, a FashionGen row and a FashionIQ caption."""
    files = sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix in (".txt", ".csv", ".json")
    )
    lines = []
    for path in files:
        first = path.read_text(encoding="utf-8").splitlines()[:2]
        lines.append(f"{path.relative_to(root)!s:<48} {' | '.join(x[:60] for x in first)}")
    with fashiongen.FashionGenFile(fashiongen.h5_path(root / "FashionGen", "train")) as f:
        item = f.item(0)
    lines.append(f"\nFashionGen row 0: {item.category} / {item.subcategory}: {item.description}")
    captions = fashioniq.read_fashioniq(root / "FashionIQ").captions["dress", "train"][0]
    lines.append(f"FashionIQ: {captions}")
    return "\n".join(lines)


def gallery_table(root: Path) -> pd.DataFrame:
    """Queries and candidates per attribute and evaluation split, beside the value counts."""
    rows = []
    for name, real in (("FashionAI", taxonomy.FASHIONAI), ("DARN", taxonomy.DARN)):
        if name == "DARN":
            splits = darn.read_darn(root / name)
        else:
            splits = fashionai.read_fashionai(root / name).splits
        sizes = pd.DataFrame(invariants.gallery_sizes(splits)).pivot(
            index="attribute", columns="split", values=["queries", "candidates"]
        )
        for a, attribute in enumerate(splits.meta.attributes):
            row = sizes.loc[attribute]
            rows.append(
                {
                    "dataset": name,
                    "attribute": attribute,
                    "values": splits.meta.counts[a],
                    "values (real)": real.counts[a],
                    **{
                        f"{s} {k}": row[k, s]
                        for s in ("valid", "test")
                        for k in ("queries", "candidates")
                    },
                }
            )
    return pd.DataFrame(rows).set_index(["dataset", "attribute"])


def loaders_needs(root: Path) -> str:
    """What the papers' own loaders need of the world (`invariants.world_problems`), in a line."""
    problems = invariants.world_problems(root)
    return "official loaders' needs: " + ("all met" if not problems else "; ".join(problems))


def darn_value_shares(root: Path) -> Figure:
    """Box plot of each value's share within its attribute, DARN training split."""
    splits = darn.read_darn(root / "DARN")
    rows = [
        {"attribute": splits.meta.attributes[p.attr], "value": p.value}
        for r in splits.train_labels
        for p in r.labels
    ]
    freq = pd.DataFrame(rows).groupby("attribute")["value"].value_counts(normalize=True)
    fig, ax = plt.subplots(figsize=(10, 3))
    sns.boxplot(data=freq.reset_index(), x="attribute", y="proportion", ax=ax)
    ax.set_title("DARN: share of each value within its attribute, training split")
    ax.tick_params(axis="x", rotation=30)
    return fig


def cooccurrence(root: Path) -> tuple[Figure, float]:
    """DeepFashion's P(column class | row class) as a heat map, and the share of (image, type)
    pairs with more than one positive class."""
    df = deepfashion.read_deepfashion(root / "DeepFashion")
    names = [f"{a.name} ({taxonomy.DEEPFASHION_TYPES[a.type_id - 1]})" for a in df.attributes]
    onehot = np.zeros((len(df.images), len(df.attributes)))  # (images, classes)
    for i, image in enumerate(df.images):
        onehot[i, list(image.positives)] = 1
    co = onehot.T @ onehot  # (classes, classes)
    conditional = co / np.maximum(np.diag(co)[:, None], 1)
    fig, ax = plt.subplots(figsize=(11, 9))
    sns.heatmap(
        pd.DataFrame(conditional, index=names, columns=names),
        cmap="viridis",
        ax=ax,
        xticklabels=True,
        yticklabels=True,
    )
    ax.set_title("DeepFashion: P(column class | row class)")
    types = np.array([a.type_id for a in df.attributes])
    per_type = np.stack([onehot[:, types == t + 1].sum(1) for t in range(5)], 1)  # (images, 5)
    return fig, float((per_type > 1).mean())


def learnability(root: Path, epochs: int, seed: int) -> pd.DataFrame:
    """`probe.probe_learnability` on FashionAI and DARN, as one table."""
    rows = []
    for name in ("FashionAI", "DARN"):
        r = probe_learnability(root / name, name, epochs=epochs, seed=seed)
        for k, attribute in enumerate(r.attributes):
            rows.append(
                {
                    "dataset": name,
                    "attribute": attribute,
                    "held-out accuracy": r.accuracy[k],
                    "majority rate": r.majority[k],
                    "1/K": r.uniform[k],
                    "held-out images": r.n_heldout[k],
                }
            )
    return pd.DataFrame(rows).set_index(["dataset", "attribute"])


def relative(path: Path) -> str:
    """`path` under the data root, without the machine's own folders."""
    return f"<data root>/{path.relative_to(paths.data_root()).as_posix()}"
