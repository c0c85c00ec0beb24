"""Segment one image with a SAM-family model from point and box prompts.

  python -m experiments.predict --model=litemedsam \
    --image=../shared/data/sam-med2d-demo/data_demo/images/amos_0004_75.png \
    --box=120,170,290,360 --output=workspace/predict

Writes `mask.png` (the chosen token's mask at the original resolution) and
`overlay.png`, and prints every token's predicted IoU.
"""

import os

import numpy as np
from absl import app, flags, logging
from PIL import Image

from eigjax import models

_MODEL = flags.DEFINE_enum("model", "litemedsam", sorted(models.CONFIGS), "Model name.")
_PARAMS = flags.DEFINE_string(
    "params", None, "Converted params directory; not needed for litemedsam (bundled)."
)
_IMAGE = flags.DEFINE_string("image", None, "Image file (any format PIL reads).", required=True)
_POINTS = flags.DEFINE_list(
    "points", [], "Clicks as x:y:label (label 1 pos, 0 neg), e.g. 150:140:1."
)
_BOX = flags.DEFINE_list("box", None, "Box as x0,y0,x1,y1 in image pixels.")
_TOKEN = flags.DEFINE_integer(
    "token",
    None,
    "Mask token to save; default the best predicted IoU among 1-3, or 0 with a box only.",
)
_OUTPUT = flags.DEFINE_string("output", "workspace/predict", "Output directory.")


def parse_points(specs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """["x:y:label", ...] → points float [N, 2], labels int [N]."""
    rows = []
    for spec in specs:
        parts = spec.split(":")
        if len(parts) != 3:
            raise app.UsageError(f"--points entry {spec!r} is not x:y:label")
        rows.append([float(parts[0]), float(parts[1]), int(parts[2])])
    arr = np.array(rows, np.float32).reshape(-1, 3)
    return arr[:, :2], arr[:, 2].astype(np.int32)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax logs every step at INFO.
    model = models.load(_MODEL.value, _PARAMS.value)
    try:
        image = np.asarray(Image.open(_IMAGE.value).convert("RGB"))
    except OSError as e:
        raise app.UsageError(f"{_IMAGE.value}: cannot read the image ({e})") from e
    points, labels = parse_points(_POINTS.value)
    box = None if _BOX.value is None else np.array([float(v) for v in _BOX.value], np.float32)
    out = model.predict(model.embed(image), points, labels, box)
    iou = np.asarray(out.iou)
    token = _TOKEN.value
    if token is None:
        token = 0 if (box is not None and len(points) == 0) else 1 + int(np.argmax(iou[1:]))
    mask = np.asarray(out.logits[token]) > 0
    os.makedirs(_OUTPUT.value, exist_ok=True)
    Image.fromarray((mask * 255).astype(np.uint8)).save(os.path.join(_OUTPUT.value, "mask.png"))
    overlay = image.astype(np.float32)
    overlay[mask] = 0.5 * overlay[mask] + 0.5 * np.array([255, 64, 32])
    Image.fromarray(overlay.astype(np.uint8)).save(os.path.join(_OUTPUT.value, "overlay.png"))
    print(
        f"{_MODEL.value}: predicted IoU per token {np.round(iou, 3).tolist()}; token {token} "
        f"covers {int(mask.sum())} px → {_OUTPUT.value}/mask.png, overlay.png"
    )


if __name__ == "__main__":
    app.run(main)
