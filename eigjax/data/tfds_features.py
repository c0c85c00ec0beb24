"""The features of an eigjax-prepared tfds dataset: one example per sample (image, mask).

  id      Text                  the sample's id (unique; the study's records are keyed by it)
  group   Text                  the report's group: sub-dataset, COCO category or dataset name
  image   Image uint8 [H, W, 3] PNG: the pixels the models take (`images.read_image`'s rule
                                applied once, at preparation)
  mask    Image uint8 [H, W, 1] PNG: 255 where the object is, 0 elsewhere
  source  Text                  the image's path where it was prepared from
  meta    Text                  JSON: the direct reader's metadata (label, sub-dataset,
                                category, file paths, …)

Any tfds dataset with `id`, `image` and `mask` so encoded reads (`group`, `source` and
`meta` may be absent). An image shared by several masks is stored once per mask: random
access by sample, at the cost of that repetition.
Images and masks are kept as their PNG bytes by the reader and decoded by eigjax's own
rules (`images.read_image`, `images.read_mask`), so a prepared sample equals the direct
reader's pixel for pixel.
"""

import io
import json

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from eigjax.data.images import DataError, Sample, SampleRef, read_image, read_mask, read_size

VERSION = "1.0.0"  # Of these features: a change to them is a new version.
DESCRIPTION = "Interactive segmentation samples prepared by eigjax (eigjax/data/tfds_features.py)."
REQUIRED = ("id", "image", "mask")
PIXELS = ("image", "mask")  # Kept as PNG bytes when read (tfds.decode.SkipDecoding).


def features() -> tfds.features.FeaturesDict:
    return tfds.features.FeaturesDict(
        {
            "id": tfds.features.Text(),
            "group": tfds.features.Text(),
            "image": tfds.features.Image(shape=(None, None, 3), encoding_format="png"),
            "mask": tfds.features.Image(shape=(None, None, 1), encoding_format="png"),
            "source": tfds.features.Text(),
            "meta": tfds.features.Text(),
        }
    )


def png(a: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(a).save(buffer, format="PNG")
    return buffer.getvalue()


def example(ref: SampleRef) -> dict:
    """`ref` read (DataError naming its file) as an example of `features()`."""
    s = ref.read()
    meta = {k: v if isinstance(v, (int, float)) else str(v) for k, v in s.meta.items()}
    return {
        "id": s.id,
        "group": str(s.meta["group"]),
        "image": png(s.image),
        "mask": png(s.mask.astype(np.uint8) * 255),
        "source": ref.image_path,
        "meta": json.dumps(meta),  # In the direct reader's key order, as records keep it.
    }


def _text(record: dict, key: str, default: str = "") -> str:
    value = record.get(key, default)
    return value.decode() if isinstance(value, bytes) else str(value)


def sample_ref(record: dict, name: str, read_record) -> SampleRef:
    """A `SampleRef` of an example read with its pixels undecoded; `name` (e.g.
    "DIR[split][17]") is what errors name; `read_record()` reads the example again. The
    record given is used once, by the first `read()` or `size()`, then let go."""
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise DataError(f"{name}: no {missing} feature; eigjax reads {list(REQUIRED)}")
    meta = json.loads(_text(record, "meta", "{}"))
    sample_id = _text(record, "id")
    meta["group"] = _text(record, "group") or meta.get("group", "")
    source = _text(record, "source") or name
    held = [record]

    def fetch() -> dict:
        return held.pop() if held else read_record()

    def read() -> Sample:
        r = fetch()
        image = read_image(io.BytesIO(r["image"]), f"{name} (image)")
        mask = read_mask(io.BytesIO(r["mask"]), image.shape, name, f"{name} (mask)")
        return Sample(image, mask, sample_id)

    def size() -> tuple[int, int]:
        return read_size(io.BytesIO(fetch()["image"]), f"{name} (image)")

    return SampleRef(sample_id, meta, source, read, size)
