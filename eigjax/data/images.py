"""Reading images and masks into the arrays the models take, with errors naming the file.

Images: the pixels as the file's format means them (`decode`: the EXIF orientation
applied, a palette as its colours, CMYK and other colour spaces as RGB through PIL's own
conversions), then the rule of `eigjax.pixels.to_uint8_rgb` (16-bit and float scaled to
0..255; a float image with a NaN or infinite pixel refused, naming the file). The page
shows and the models segment the same pixels: both read through `read_image`.
Conversion rule for masks (`mask_from_pil`), foreground = True:
  1-bit, L, 16-bit (I;16), I, F   → value ≠ 0
  RGB                             → any channel ≠ 0 (black is background)
  LA, RGBA                        → the gray / colour channels as above; alpha is ignored
                                    unless it is the only channel that varies over the
                                    image (a shape drawn in alpha alone), then alpha ≠ 0
  P (palette), PA                 → its colours (and alpha), then the RGB(A) rule: what
                                    the image looks like, whatever the palette order
  any other mode                  → PIL's RGB conversion, then the RGB rule
A mask saved lossily (JPEG, lossy WebP) has compression noise around its edges and in
its background, which "≠ 0" would count as foreground: such a file is read as gray and
thresholded at half its range (≥ 128 of 255 is foreground), with a warning naming it.
A file that is missing is a `MissingFile` (a DataError); an image with no pixels, a
DataError.
"""

import dataclasses
import os
import warnings
from collections.abc import Callable
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from eigjax.pixels import to_uint8_rgb


class DataError(ValueError):
    """An input file is missing, unreadable or inconsistent; the message names it."""


class MissingFile(DataError):
    """An input file is not there (any more)."""


LOSSY_FORMATS = ("JPEG", "MPO", "WEBP")


@dataclasses.dataclass
class Sample:
    image: np.ndarray  # uint8 [H, W, 3]
    mask: np.ndarray  # bool [H, W]
    id: str  # unique within its dataset; records are keyed by it
    meta: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class SampleRef:
    """A sample not yet read: its id, its metadata (the report's "group" among them) and its
    image's path (or, for a prepared dataset, the record's name); `read()` reads it, its
    metadata included (DataError naming the file); `size()` is the image's (width, height),
    from `sizer` when given, else from the file's header."""

    id: str
    meta: dict
    image_path: str
    reader: Callable[[], Sample]
    sizer: Callable[[], tuple[int, int]] | None = None

    def read(self) -> Sample:
        sample = self.reader()
        sample.meta.update(self.meta)
        return sample

    def size(self) -> tuple[int, int]:
        return self.sizer() if self.sizer else read_size(self.image_path)


# Modes whose arrays `to_uint8_rgb` and `mask_from_pil` read as they are; any other (CMYK,
# YCbCr, LAB, HSV, …) goes through PIL's RGB conversion, a palette through its colours.
ARRAY_MODES = ("1", "L", "LA", "I;16", "I;16B", "I;16L", "I", "F", "RGB", "RGBA")
ORIENTATION = 0x0112  # The EXIF tag; values 5 to 8 turn the picture by 90 degrees.


def decode(im: Image.Image) -> Image.Image:
    """A PIL image as its format means it.

    Args:
      im: an opened PIL image.

    Returns:
      The image with its EXIF orientation applied (`ImageOps.exif_transpose`), a palette
      (P, PA) as its RGBA colours, a mode outside `ARRAY_MODES` as RGB.
    """
    im = ImageOps.exif_transpose(im)
    if im.mode in ("P", "PA"):
        return im.convert("RGBA")
    return im if im.mode in ARRAY_MODES else im.convert("RGB")


def read_size(path: str | BinaryIO, name: str = "") -> tuple[int, int]:
    """An image's size as `read_image` decodes it, from its header alone.

    Args:
      path: an image file, or its bytes as a file object.
      name: what errors call it (default: `path`).

    Returns:
      (width, height), turned where its EXIF orientation turns it.

    Raises:
      MissingFile: no such file.
      DataError: an unreadable image.
    """
    name = name or str(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
            turned = im.getexif().get(ORIENTATION, 1) in (5, 6, 7, 8)
    except FileNotFoundError:
        raise MissingFile(f"{name}: no such file") from None
    except OSError as e:
        raise DataError(f"{name}: unreadable image ({e})") from None
    return (h, w) if turned else (w, h)


def _open(path: str | BinaryIO, name: str) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(decode(im))
    except FileNotFoundError:
        raise MissingFile(f"{name}: no such file") from None
    except (OSError, ValueError) as e:
        raise DataError(f"{name}: unreadable image ({e})") from None


def inside(root: str, relative: str, where: str) -> str:
    """A dataset's path, contained in its root.

    Args:
      root: the dataset's folder.
      relative: a path an index gives.
      where: the index file and entry that gave it (named by the error).

    Returns:
      `root`/`relative`, normalised.

    Raises:
      DataError: the path resolves outside `root`, symbolic links followed.
    """
    path = os.path.normpath(os.path.join(root, relative))
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
        raise DataError(f"{where}: {relative!r} lies outside {root}; refused")
    return path


def read_image(path: str | BinaryIO, name: str = "") -> np.ndarray:
    """An image by eigjax's one reading rule (the module's docstring): the pixels every
    dataset, upload and command reads.

    Args:
      path: any image file PIL reads, or its bytes as a file object.
      name: what errors call it (default: `path`).

    Returns:
      uint8 [H, W, 3].

    Raises:
      MissingFile: no such file.
      DataError: naming the file: unreadable, no pixels, or non-finite float pixels.
    """
    name = name or str(path)
    try:
        image = to_uint8_rgb(_open(path, name))
        if image.size == 0:
            raise DataError(f"{name}: the image has no pixels ({image.shape[0]}x{image.shape[1]})")
        return image
    except ValueError as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{name}: {e}") from None


def mask_from_pil(im: Image.Image) -> np.ndarray:
    """A mask by the module's mask rule (decoded as images are).

    Args:
      im: an opened PIL image.

    Returns:
      bool [H, W].
    """
    im = decode(im)
    a = np.asarray(im)
    if a.ndim == 2:
        return a != 0
    colour, alpha = (a[..., :-1], a[..., -1]) if im.mode in ("LA", "RGBA") else (a, None)
    if alpha is not None and _constant(colour) and not _constant(alpha):
        return alpha != 0
    return np.any(colour != 0, axis=-1)


def _lossy_mask(path: str, im: Image.Image) -> np.ndarray:
    """A lossily saved mask, by the module's rule: gray ≥ 128 is foreground."""
    warnings.warn(
        f"{path}: a {im.format} mask is lossy; read as gray ≥ 128 of 255 (eigjax/data/images.py)",
        stacklevel=3,
    )
    return np.asarray(decode(im).convert("L")) >= 128


def _constant(a: np.ndarray) -> bool:
    return bool(np.all(a == a.reshape(-1, *a.shape[2:])[0]))


def read_mask(
    path: str | BinaryIO,
    image_shape: tuple[int, ...] | None = None,
    image_path: str = "",
    name: str = "",
) -> np.ndarray:
    """A mask by the module's mask rule (a lossy one thresholded at 128, with a warning).

    Args:
      path: a mask file, or its bytes as a file object.
      image_shape: its image's shape [H, W, ...], checked if given.
      image_path: its image's path, named when the sizes differ.
      name: what errors call it (default: `path`).

    Returns:
      bool [H, W].

    Raises:
      MissingFile: no such file.
      DataError: an unreadable mask, or one whose size is not its image's.
    """
    name = name or str(path)
    try:
        with Image.open(path) as im:
            m = _lossy_mask(name, im) if im.format in LOSSY_FORMATS else mask_from_pil(im)
    except FileNotFoundError:
        raise MissingFile(f"{name}: no such file") from None
    except (OSError, ValueError) as e:
        raise DataError(f"{name}: unreadable mask ({e})") from None
    if image_shape is not None and m.shape != tuple(image_shape[:2]):
        raise DataError(
            f"{name}: mask is {m.shape[0]}x{m.shape[1]} but its image {image_path} is "
            f"{image_shape[0]}x{image_shape[1]}"
        )
    return m
