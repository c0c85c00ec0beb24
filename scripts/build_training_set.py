"""Build eigjax's offline point fine-tuning set (SA-Med2D layout) from installable packages.

  python scripts/build_training_set.py --output=workspace/cache/training_set

`eigjax-finetune` runs this on first use. Fetches two wheels with
`pip download --no-deps` (nothing is installed; `build_samples.fetch`) and takes:
  - nilearn 0.14.1: the MNI152 2009c T1 template and its grey/white-matter maps; every
    8th slice in all three orientations where the brain covers at least 5 % of the
    slice, with brain / grey-matter / white-matter masks made as the bundled samples'
    (nested structures: a click in white matter is honestly ambiguous). Kept from
    training: axial slices within 29 of the bundled slice 90, coronal within 29 of 126.
  - stardist 0.9.2: the DSB 2018 fluorescence image, cut into 128×128 tiles; ten of the
    twelve around its central 256×256 crop (the bundled sample); the nuclei wholly inside
    a tile, at least 20 pixels.

`--split=held_out` builds the evaluation set instead: every 5th slice within 20 of the
bundled axial and coronal slices (each ≥ 10 slices from any training slice), the four
tiles of the central crop and two more (`HELD_OUT_TILES`), masks made the same way.
The NIfTI volumes are read and cut by `eigjax.data.nifti` (nibabel), as `nifti:` datasets
are. Deterministic: the same
output on every run; `PROVENANCE.md` beside the images says where each came from.
"""

import io
import json
import os
import shutil
import sys
import tempfile

import numpy as np
from absl import app, flags
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build_samples import WHEELS, fetch, mni_volumes, pad_to, to_uint8  # noqa: E402

from eigjax.data import nifti  # noqa: E402

# Bands around the bundled samples' slices and their crop, never trained on: the
# held-out split takes every EVAL_STEP-th slice within EVAL_REACH of the centre, and
# training slices keep HELD_OUT_MARGIN away, so each is ≥ 10 slices from every one.
HELD_OUT_SLICES = {"axial": 90, "coronal": 126}
HELD_OUT_MARGIN = 29
EVAL_REACH = 20
EVAL_STEP = 5
SPLITS = ("train", "held_out")
HELD_OUT_CROP = (128, 384)  # Rows and columns of the DSB image.
HELD_OUT_TILES = ((384, 0), (384, 128))  # Two more, for ≥ 30 held-out nuclei.
SLICE_STEP = 8
MIN_BRAIN_SHARE = 0.05
TILE = 128
MIN_NUCLEUS = 20
MIN_MASK = 50

PROVENANCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "training_set_PROVENANCE.md")


def held_out(view: str, index: int) -> bool:
    """Whether slice `index` of `view` is within the margin of a bundled slice."""
    return view in HELD_OUT_SLICES and abs(index - HELD_OUT_SLICES[view]) <= HELD_OUT_MARGIN


def split_slices(view: str, size: int, split: str) -> list[int]:
    """The slice indices of `view` (of `size`) in `split`."""
    if split == "train":
        return [i for i in range(0, size, SLICE_STEP) if not held_out(view, i)]
    if view not in HELD_OUT_SLICES:
        return []
    centre = HELD_OUT_SLICES[view]
    return list(range(centre - EVAL_REACH, centre + EVAL_REACH + 1, EVAL_STEP))


def mni_slices(files: dict, split: str, tmp: str):
    t1, masks = mni_volumes(files, tmp)
    for view in ("axial", "coronal", "sagittal"):
        for index in split_slices(view, t1.shape[nifti.AXES[view]], split):
            if np.take(masks["brain"], index, nifti.AXES[view]).mean() < MIN_BRAIN_SHARE:
                continue
            take = lambda v: pad_to(nifti.display(v, view, index))  # noqa: E731, B023
            image = to_uint8(take(t1))
            yield f"mni152_{view}_{index:03d}", image, {k: take(m) for k, m in masks.items()}


def tiles(split: str):
    """(row, col) of the 128×128 tiles of a 512×512 image in `split`: "held_out" is the
    crop's four and HELD_OUT_TILES, "train" the other ten."""
    lo, hi = HELD_OUT_CROP
    for r in range(0, 512, TILE):
        for c in range(0, 512, TILE):
            held = (lo <= r < hi and lo <= c < hi) or (r, c) in HELD_OUT_TILES
            if held == (split == "held_out"):
                yield r, c


def nuclei(files: dict, split: str):
    img = np.asarray(Image.open(io.BytesIO(files["stardist/data/images/img2d.tif"])))
    lab = np.asarray(Image.open(io.BytesIO(files["stardist/data/images/mask2d.tif"])))
    for r, c in tiles(split):
        tile_img, tile_lab = img[r : r + TILE, c : c + TILE], lab[r : r + TILE, c : c + TILE]
        border = np.concatenate([tile_lab[0], tile_lab[-1], tile_lab[:, 0], tile_lab[:, -1]])
        ids = [i for i in np.unique(tile_lab[tile_lab > 0]) if i not in set(border)]
        masks = {f"nucleus_{k}": tile_lab == i for k, i in enumerate(ids)}
        masks = {k: m for k, m in masks.items() if m.sum() >= MIN_NUCLEUS}
        if masks:
            yield f"dsb2018_tile_{r:03d}_{c:03d}", to_uint8(tile_img), masks


def build(output: str, split: str = "train") -> None:
    """Writes `split` of the set to `output` (replaced), `image2label.json` last."""
    if split not in SPLITS:
        raise ValueError(f"--split: unknown {split!r}; valid: {', '.join(SPLITS)}")
    tmp_out = output + ".partial"
    shutil.rmtree(tmp_out, ignore_errors=True)
    for sub in ("images", "masks"):
        os.makedirs(os.path.join(tmp_out, sub))
    index = {}
    with tempfile.TemporaryDirectory() as tmp:
        wanted = {k: WHEELS[k] for k in ("nilearn", "stardist")}
        files = fetch(tmp, wanted)
        for stem, image, masks in [*mni_slices(files, split, tmp), *nuclei(files, split)]:
            rel = f"images/{stem}.png"
            kept = []
            for label, m in masks.items():
                if m.sum() < MIN_MASK and not stem.startswith("dsb"):
                    continue
                mrel = f"masks/{stem}_{label}_000.png"
                Image.fromarray((m * 255).astype(np.uint8)).save(os.path.join(tmp_out, mrel))
                kept.append(mrel)
            if kept:
                Image.fromarray(image).save(os.path.join(tmp_out, rel))
                index[rel] = kept
    shutil.copy(PROVENANCE, os.path.join(tmp_out, "PROVENANCE.md"))
    with open(os.path.join(tmp_out, "image2label.json"), "w") as f:
        json.dump(index, f, indent=1)
    shutil.rmtree(output, ignore_errors=True)
    os.replace(tmp_out, output)
    masks = sum(map(len, index.values()))
    print(f"wrote {masks} masks of {len(index)} images to {output}", file=sys.stderr)


FLAGS = flags.FLAGS


def main(argv):
    del argv
    build(os.path.abspath(FLAGS.output), FLAGS.split)


if __name__ == "__main__":
    flags.DEFINE_string("output", "workspace/cache/training_set", "Where the set goes.")
    flags.DEFINE_enum("split", "train", SPLITS, "train: the fine-tune's; held_out: evaluation.")
    app.run(main)
