"""ASEN++'s dataset configs (``config/<Dataset>/<Dataset>.yaml`` of Maryeon/asenpp), written from a
`meta.json` entry so that ASEN++'s own code reads a copy with its real value counts or a proxy
world with the world's counts: ``python main.py --cfg <root>/asenpp/FashionAI.yaml
config/FashionAI/s1.yaml``. ``DATA.BASE_PATH`` holds the folder that contains the dataset
folders, so the config works from ASEN++'s checkout.

Functions: `config_text(meta, base_path)`, `config_path(root, dataset)`, `write_configs(root,
metas)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from fashion_lib import atomic
from fashion_lib.data.formats.asen import AsenMeta

FOLDER = "asenpp"


def config_text(meta: AsenMeta, base_path: str | Path) -> str:
    """The ASEN++ dataset config of `meta`, with ``DATA.BASE_PATH`` set to `base_path`."""
    data = {
        "DATA": {
            "BASE_PATH": str(base_path),
            "DATASET": meta.dataset,
            "NUM_ATTRIBUTES": len(meta.attributes),
            "ATTRIBUTES": {"NAME": list(meta.attributes), "NUM": list(meta.counts)},
            "PATH_FILE": {s.upper(): f"filenames_{s}.txt" for s in ("train", "valid", "test")},
            "GROUNDTRUTH": {
                "TRAIN": "label_train.txt",
                "QUERY": {"VALID": "query_valid.txt", "TEST": "query_test.txt"},
                "CANDIDATE": {"VALID": "candidate_valid.txt", "TEST": "candidate_test.txt"},
            },
        }
    }
    return yaml.safe_dump(data, sort_keys=False, width=1000)


def config_path(root: str | Path, dataset: str) -> Path:
    """``<root>/asenpp/<dataset>.yaml``."""
    return Path(root) / FOLDER / f"{dataset}.yaml"


def write_configs(root: str | Path, metas: Iterable[AsenMeta], base_path: str | Path) -> None:
    """Write one config per meta into ``<root>/asenpp/``, each pointing at `base_path`."""
    for meta in metas:
        atomic.write_text(config_path(root, meta.dataset), config_text(meta, base_path))
