"""Build eigjax's offline point fine-tuning set (SA-Med2D layout) from installable packages.

  python scripts/build_training_set.py --output=workspace/cache/training_set

`python -m experiments.finetune` runs this on first use. Fetches two wheels with
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
The NIfTI volumes are read with numpy (no nibabel needed). Deterministic: the same
output on every run; `PROVENANCE.md` beside the images says where each came from.
"""

import gzip
import io
import json
import os
import shutil
import sys
import tempfile

import numpy as np
from absl import app, flags
from PIL import Image
from scipy import ndimage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build_samples import WHEELS, fetch, pad_to, to_uint8  # noqa: E402

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


def read_nifti(data: bytes) -> np.ndarray:
    """A gzipped NIfTI-1 volume → float64 [X, Y, Z], scaled by scl_slope/scl_inter."""
    raw = gzip.decompress(data)
    endian = "<" if np.frombuffer(raw[:4], "<i4")[0] == 348 else ">"
    dim = np.frombuffer(raw[40:56], endian + "i2")
    code = int(np.frombuffer(raw[70:72], endian + "i2")[0])
    offset = int(np.frombuffer(raw[108:112], endian + "f4")[0])
    slope, inter = np.frombuffer(raw[112:120], endian + "f4")
    dtypes = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4"}
    if code not in dtypes:
        raise ValueError(f"NIfTI datatype {code} is not one this reader knows")
    shape = tuple(int(d) for d in dim[1 : 1 + dim[0]])
    count = int(np.prod(shape))
    volume = np.frombuffer(raw, endian + dtypes[code], count, offset).reshape(shape, order="F")
    volume = volume.astype(np.float64)
    if slope not in (0, 1) or inter != 0:
        volume = volume * (slope if slope else 1) + inter
    return volume


def mni_volumes(files: dict) -> tuple[np.ndarray, dict]:
    """The T1 template scaled to [0, 1] and its three masks, as the bundled samples'."""
    vols = {}
    for key in ("t1", "gm", "wm"):
        member = next(m for m in files if f"_{key}_tal" in m)
        data = read_nifti(files[member])
        vols[key] = data / data.max()
    masks = {
        "brain": vols["t1"] > 0.2,
        "grey_matter": ndimage.binary_closing(vols["gm"] > 0.2, iterations=2),
        "white_matter": vols["wm"] > 0.2,
    }
    return vols["t1"], masks


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


def mni_slices(files: dict, split: str):
    t1, masks = mni_volumes(files)
    takes = {
        "axial": (2, lambda v, i: v[:, :, i]),
        "coronal": (1, lambda v, i: v[:, i, :]),
        "sagittal": (0, lambda v, i: v[i, :, :]),
    }
    for view, (axis, take) in takes.items():
        for index in split_slices(view, t1.shape[axis], split):
            brain = take(masks["brain"], index)
            if brain.mean() < MIN_BRAIN_SHARE:
                continue
            orient = lambda s: pad_to(np.flipud(s.T))  # noqa: E731  as build_samples does
            image = to_uint8(orient(take(t1, index)))
            slice_masks = {k: orient(take(m, index)) for k, m in masks.items()}
            yield f"mni152_{view}_{index:03d}", image, slice_masks


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
        for stem, image, masks in [*mni_slices(files, split), *nuclei(files, split)]:
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
