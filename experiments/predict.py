"""Segment one image with a SAM-family model from point and box prompts.

  python -m experiments.predict --model=litemedsam \
    --image=../shared/data/sam-med2d-demo/data_demo/images/amos_0004_75.png \
    --box=120,170,290,360 --output=workspace/predict

Writes `mask.png` (the chosen token's mask at the original resolution) and
`overlay.png`, and prints every token's predicted IoU.
"""

import os
import sys

import numpy as np
from absl import app, flags, logging
from PIL import Image

from eigjax import models
from eigjax.data import read_image
from eigjax.models import tokens
from eigjax.models.prompt import Prompt

_MODEL = flags.DEFINE_enum("model", "litemedsam", sorted(models.CONFIGS), "Model name.")
_PARAMS = flags.DEFINE_string(
    "params", None, "Converted params directory; not needed for litemedsam (bundled)."
)
_IMAGE = flags.DEFINE_string(
    "image", None, "Image file (any format PIL reads; eigjax/data/images.py).", required=True
)
_POINTS = flags.DEFINE_list(
    "points", [], "Clicks as x:y:label (label 1 pos, 0 neg), e.g. 150:140:1."
)
_BOX = flags.DEFINE_list("box", None, "Box as x0,y0,x1,y1 in image pixels.")
_TOKEN = flags.DEFINE_integer(
    "token",
    None,
    "Mask token to save; default the one the model proposes (its config's mask rule).",
)
_OUTPUT = flags.DEFINE_string("output", "workspace/predict", "Output directory.")


def parse_points(specs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """["x:y:label", ...] → points float [N, 2], labels int [N]."""
    points, labels = [], []
    for spec in specs:
        parts = spec.split(":")
        try:
            points.append([float(parts[0]), float(parts[1])])
            labels.append(int(parts[2]))
            if len(parts) != 3:
                raise ValueError
        except (ValueError, IndexError):
            raise ValueError(f"--points: entry {spec!r} is not x:y:label") from None
    return np.array(points, np.float32).reshape(-1, 2), np.array(labels, np.int32)


def parse_box(values: list[str]) -> np.ndarray:
    """["x0", "y0", "x1", "y1"] → float [4]."""
    try:
        box = np.array([float(v) for v in values], np.float32)
    except ValueError:
        box = np.zeros(0)
    if box.shape != (4,):
        raise ValueError(f"--box: expected x0,y0,x1,y1, got {','.join(values)}")
    return box


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax logs every step at INFO.
    try:
        image = read_image(_IMAGE.value)  # The datasets' reading rule (eigjax/data/images.py).
        points, labels = parse_points(_POINTS.value)
        box = None if _BOX.value is None else parse_box(_BOX.value)
        model = models.load(_MODEL.value, _PARAMS.value)
        prompt = Prompt.create(points, labels, box)
        out = model.predict_prompt(model.embed(image), prompt)
    except (ValueError, models.CheckpointError) as e:  # DataError, bad prompts, bad params.
        sys.exit(f"error: {e}")
    iou = np.asarray(out.iou)
    token = _TOKEN.value
    if token is None:
        token = int(tokens.proposed_token(out.iou, model.config.mask_rule, prompt))
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
