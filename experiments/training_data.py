"""The fine-tuning set as arrays: masks in the model's low-res frame and cached embeddings.

Each image is embedded once by the frozen encoder; the embedding is cached on disk under
`CACHE/embeddings/<model>-<weights fingerprint>/<image hash>.npz`, so a second run (or a
resumed one) embeds nothing.
"""

import hashlib
import os
import subprocess
import sys

import numpy as np
from tqdm import tqdm

from eigjax.data import DataError
from eigjax.data import spec as dataset_spec
from eigjax.models import Model
from eigjax.training import targets

BUILDER = os.path.join(os.path.dirname(__file__), "..", "scripts", "build_training_set.py")


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


def image_hash(image: np.ndarray) -> str:
    """SHA-256 of an image's shape, dtype and pixels."""
    h = hashlib.sha256(f"{image.shape}{image.dtype}".encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


def _embedding(model: Model, image: np.ndarray, directory: str) -> dict:
    """{"features", and SAM 2's "s0", "s1"} float32 arrays of `image`, from the cache or
    computed and cached (written to a temporary name, then renamed)."""
    path = os.path.join(directory, image_hash(image)[:32] + ".npz")
    if os.path.exists(path):
        try:
            with np.load(path) as z:
                return dict(z)
        except (OSError, ValueError, EOFError):
            os.remove(path)  # A damaged entry: computed again below.
    e = model.embed(image)
    arrays = {"features": np.asarray(e.features)}
    if e.high_res is not None:
        arrays.update(s0=np.asarray(e.high_res[0]), s1=np.asarray(e.high_res[1]))
    tmp = f"{path}.tmp-{os.getpid()}.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return arrays


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
    directory = os.path.join(cfg.cache_dir, "embeddings", f"{cfg.model}-{fingerprint[:16]}")
    os.makedirs(directory, exist_ok=True)
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
            for name, a in _embedding(model, sample.image, directory).items():
                per_image.setdefault(name, []).append(a)
        for name, a in (("image", images[ref.image_path]), ("gt", gt), ("region", region)):
            per_mask[name].append(a)
        ids.append(sample.id)
    if not ids:
        where = spec.paths[0] if spec.paths else cfg.dataset
        raise DataError(f"{where}: no non-empty masks to train on ({len(refs)} indexed)")
    arrays = {name: np.stack(a) for name, a in {**per_image, **per_mask}.items()}
    return arrays, ids
