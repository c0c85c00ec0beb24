"""The fine-tuning set as arrays: masks in the model's low-res frame and cached embeddings.

Each image is embedded once by the frozen encoder; the embedding is cached on disk under
`CACHE/embeddings/` (`experiments.embedding_cache`), so a second run (or a resumed one)
embeds nothing.
"""

import os
import subprocess
import sys

import numpy as np
from tqdm import tqdm

from eigjax.data import DataError
from eigjax.data import spec as dataset_spec
from eigjax.models import Model
from eigjax.training import targets
from experiments.embedding_cache import EmbeddingCache, model_key

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILDER = os.path.join(ROOT, "scripts", "build_training_set.py")


def offline_root(cache_dir: str) -> str:
    """The offline training set's directory, built (`scripts/build_training_set.py`) when
    missing."""
    root = os.path.join(cache_dir, "training_set")
    if not os.path.exists(os.path.join(root, "image2label.json")):
        print(f"building the offline training set in {root} (once)", file=sys.stderr)
        proc = subprocess.run([sys.executable, BUILDER, f"--output={root}"])
        if proc.returncode:
            raise DataError(f"{root}: building the offline training set failed (above)")
    return root


def dataset_of(cfg) -> dataset_spec.DatasetSpec:
    """`--dataset` → its spec ("offline": the built set, in the SA-Med2D layout)."""
    if cfg.dataset == "offline":
        return dataset_spec.parse(f"sa_med2d:{offline_root(cfg.cache_dir)}")
    return dataset_spec.parse(cfg.dataset)


def load_examples(cfg, model: Model, fingerprint: str) -> tuple[dict, list[str]]:
    """The non-empty masks of `cfg`'s dataset as arrays, and their sample ids:
    {"features" [I, h, w, C] (SAM 2 also "s0", "s1") per image, "image" int [N] (each
    mask's image), "gt", "region" bool [N, r, r]}.

    Raises DataError when the dataset has no non-empty mask.
    """
    spec = dataset_of(cfg)
    refs = dataset_spec.index(
        spec, cfg.num_images, cfg.seed, cfg.sub_datasets, cfg.labels, cfg.categories
    )
    cache = EmbeddingCache(os.path.join(cfg.cache_dir, "embeddings"))
    key = model_key(cfg.model, fingerprint)
    images: dict[str, int] = {}
    per_image: dict[str, list] = {}
    per_mask: dict[str, list] = {"image": [], "gt": [], "region": []}
    ids = []
    for ref in tqdm(refs, desc="embedding the training images", unit="mask"):
        sample = ref.read()
        gt, region = targets.low_res_target(sample.mask, model.config)
        if not gt.any():  # Empty, or smaller than one low-res cell: nothing to learn.
            continue
        if ref.image_path not in images:  # Masks of one image share its embedding.
            images[ref.image_path] = len(images)
            for name, a in cache.arrays(key, model, sample.image).items():
                per_image.setdefault(name, []).append(a)
        for name, a in (("image", images[ref.image_path]), ("gt", gt), ("region", region)):
            per_mask[name].append(a)
        ids.append(sample.id)
    if not ids:
        where = spec.paths[0] if spec.paths else cfg.dataset
        raise DataError(f"{where}: no non-empty masks to train on ({len(refs)} indexed)")
    arrays = {name: np.stack(a) for name, a in {**per_image, **per_mask}.items()}
    return arrays, ids
