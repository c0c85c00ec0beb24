"""NIfTI volumes (the FLARE, AMOS and MSD layouts) as 2-D samples, read with nibabel.

  nifti:IMAGES:LABELS[:KEY=VALUE,...]

IMAGES holds image volumes and LABELS label volumes, matched by name (`case.nii.gz` with
`case.nii.gz`; nnU-Net's channel suffix `_0000` on an image name is dropped to match).
Each volume is turned to RAS (`nibabel.as_closest_canonical`, so the file's affine, not
its storage order, decides what is up) and cut along `axis`; a slice is shown as viewers
show it, superior or anterior at the top (`display`). One sample per slice and label
value present in it, with id `<case>_<axis>_<slice:03d>_<label name>`.

  axis=axial|coronal|sagittal   the cut (default axial)
  window=LOW..HIGH              intensities LOW..HIGH → 0..255, clipped (e.g. -160..240 for
                                abdominal CT); default: each slice's own min..max
  names=FILE                    label names: a JSON with a "labels" map, MSD's
                                {"1": "liver"} or nnU-Net's {"liver": 1}; default
                                IMAGES/../dataset.json if there, else `label_<value>`
  step=N                        every N-th slice (default 1)
  min_pixels=N                  a label with fewer pixels in a slice is left out (default 1)
"""

import dataclasses
import functools
import json
import os

import nibabel as nib
import numpy as np

from eigjax.data.images import DataError, Sample, SampleRef

AXES = {"sagittal": 0, "coronal": 1, "axial": 2}  # RAS: R, A, S.
SUFFIXES = (".nii.gz", ".nii")
OPTIONS = ("axis", "window", "names", "step", "min_pixels")


@dataclasses.dataclass(frozen=True)
class Settings:
    axis: str = "axial"
    window: tuple[float, float] | None = None
    names: str = ""
    step: int = 1
    min_pixels: int = 1


def settings(options: dict[str, str], where: str) -> Settings:
    """`Settings` from the spec's options; DataError naming `where` when malformed."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise DataError(f"{where}: unknown options {unknown}; valid: {list(OPTIONS)}")
    try:
        axis = options.get("axis", "axial")
        if axis not in AXES:
            raise ValueError(f"axis={axis}: valid: {list(AXES)}")
        window = None
        if "window" in options:
            low, high = (float(v) for v in options["window"].split(".."))
            if not low < high:
                raise ValueError(f"window={options['window']}: LOW must be below HIGH")
            window = (low, high)
        step, min_pixels = int(options.get("step", 1)), int(options.get("min_pixels", 1))
        if step < 1 or min_pixels < 1:
            raise ValueError("step and min_pixels are at least 1")
    except ValueError as e:
        raise DataError(f"{where}: {e}") from None
    return Settings(axis, window, options.get("names", ""), step, min_pixels)


def read_volume(path: str) -> np.ndarray:
    """float64 [R, A, S]: the volume turned to RAS, scaled by its header (DataError naming
    the file when nibabel cannot read it)."""
    try:
        image = nib.as_closest_canonical(nib.load(path))
        if len(image.shape) != 3:
            raise ValueError(f"a {len(image.shape)}-D volume; eigjax reads 3-D ones")
        return np.asarray(image.get_fdata(), np.float64)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except Exception as e:  # nibabel's errors have no common base.
        raise DataError(f"{path}: unreadable NIfTI volume ({e})") from None


def display(volume: np.ndarray, axis: str, index: int) -> np.ndarray:
    """[rows, cols]: slice `index` of a RAS volume along `axis`, superior/anterior on top."""
    return np.flipud(np.take(volume, index, axis=AXES[axis]).T)


def to_uint8(a: np.ndarray, window: tuple[float, float] | None) -> np.ndarray:
    """uint8: `a` windowed to 0..255 (its own min..max without a window), rounded."""
    low, high = window if window else (a.min(), a.max())
    scaled = (np.clip(a, low, high) - low) / max(high - low, 1e-8) * 255
    return np.round(scaled).astype(np.uint8)


def _stem(name: str) -> str:
    return next(name[: -len(s)] for s in SUFFIXES if name.endswith(s))


def pairs(images: str, labels: str) -> list[tuple[str, str, str]]:
    """(case, image path, label path) of every image volume, sorted; DataError naming the
    image whose label volume is missing."""
    found = []
    for folder in (images, labels):
        if not os.path.isdir(folder):
            raise DataError(f"{folder}: no such directory")
    for name in sorted(os.listdir(images)):
        if not name.endswith(SUFFIXES) or name.startswith("."):
            continue
        case = _stem(name).removesuffix("_0000")
        label = next(
            (
                os.path.join(labels, case + s)
                for s in SUFFIXES
                if os.path.exists(os.path.join(labels, case + s))
            ),
            None,
        )
        if label is None:
            raise DataError(
                f"{os.path.join(images, name)}: no label volume {case}.nii.gz in {labels}"
            )
        found.append((case, os.path.join(images, name), label))
    if not found:
        raise DataError(f"{images}: no .nii or .nii.gz volumes")
    return found


def label_names(path: str) -> dict[int, str]:
    """{value: name} from a JSON's "labels" map, in either direction."""
    try:
        with open(path) as f:
            labels = json.load(f)["labels"]
        return {
            int(v if isinstance(v, int) else k): str(k if isinstance(v, int) else v)
            for k, v in labels.items()
        }
    except (OSError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise DataError(f'{path}: expected a JSON with a "labels" map ({e})') from None


@functools.lru_cache(maxsize=2)  # A case's samples are read one after another.
def _volume(path: str) -> np.ndarray:
    return read_volume(path)


def index(images: str, labels: str, options: dict[str, str]) -> list[SampleRef]:
    """One `SampleRef` per (case, slice, label present); label volumes are read here, image
    volumes when a sample is."""
    where = f"nifti:{images}:{labels}"
    cfg = settings(options, where)
    names_file = cfg.names or os.path.join(os.path.dirname(os.path.abspath(images)), "dataset.json")
    names = label_names(names_file) if (cfg.names or os.path.exists(names_file)) else {}
    refs = []
    for case, image_path, label_path in pairs(images, labels):
        label = np.rint(read_volume(label_path)).astype(np.int64)
        axis = AXES[cfg.axis]
        for k in range(0, label.shape[axis], cfg.step):
            cut = np.take(label, k, axis=axis)
            size = cut.shape  # (width, height) as `display` shows the slice: transposed.
            values, counts = np.unique(cut, return_counts=True)
            for value in values[(values != 0) & (counts >= cfg.min_pixels)]:
                name = names.get(int(value), f"label_{value}")
                meta = {"label": name, "image": image_path, "mask": label_path, "slice": k}
                read = functools.partial(
                    _read, cfg, case, image_path, label_path, k, int(value), name
                )
                sample_id = f"{case}_{cfg.axis}_{k:03d}_{name}"
                refs.append(SampleRef(sample_id, meta, image_path, read, lambda s=size: s))
    return refs


def _read(cfg: Settings, case, image_path, label_path, k, value, name) -> Sample:
    volume, label = _volume(image_path), _volume(label_path)
    if volume.shape != label.shape:
        raise DataError(
            f"{label_path}: shape {label.shape} but its image {image_path} is {volume.shape}"
        )
    image = to_uint8(display(volume, cfg.axis, k), cfg.window)
    mask = display(np.rint(label) == value, cfg.axis, k)
    return Sample(
        np.repeat(image[..., None], 3, axis=-1), mask, f"{case}_{cfg.axis}_{k:03d}_{name}"
    )
