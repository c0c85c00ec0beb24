"""Segment one image with a SAM-family model from point and box prompts.

  eigjax-predict --model=litemedsam --image=scan.png --box=120,170,290,360
  eigjax-predict --model=sam_vit_b --image=photo.jpg --points=150:140:1,200:90:0

Writes `mask.png` (the chosen token's mask at the original resolution) and
`overlay.png`, and prints every token's predicted IoU.
"""

import dataclasses
import os

import numpy as np
from PIL import Image

from eigjax import models
from eigjax.data import read_image
from eigjax.models import tokens
from eigjax.models.prompt import Prompt
from experiments import cli, config_flags
from experiments.config import Script, field


@dataclasses.dataclass(frozen=True)
class PredictConfig(Script):
    """One image, one prompt (`eigjax-predict`)."""

    model: str = field("litemedsam", "Model name.")
    params: str = field(
        "", "Converted params directory ('': the cached conversion, fetched on first use)."
    )
    image: str = field("", "Image file (any format PIL reads; eigjax/data/images.py).")
    points: tuple[str, ...] = field((), "Clicks as x:y:label (label 1 pos, 0 neg), e.g. 150:140:1.")
    box: tuple[str, ...] = field((), "Box as x0,y0,x1,y1 in image pixels ('' for none).")
    token: int = field(-1, "Mask token to save; -1: the one the model proposes (its mask rule).")
    output: str = field("workspace/predict", "Output directory.")

    def check(self) -> None:
        if self.model not in models.CONFIGS:
            raise ValueError(f"--model: unknown {self.model!r}; valid: {sorted(models.CONFIGS)}")
        if not self.image:
            raise ValueError("--image: required (the image file to segment)")
        if not -1 <= self.token < models.CONFIGS[self.model].num_mask_tokens:
            raise ValueError(f"--token: -1 or a token of {self.model}, got {self.token}")


config_flags.define(PredictConfig)


def parse_points(specs: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
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


def parse_box(values: tuple[str, ...]) -> np.ndarray:
    """["x0", "y0", "x1", "y1"] → float [4]."""
    try:
        box = np.array([float(v) for v in values], np.float32)
    except ValueError:
        box = np.zeros(0)
    if box.shape != (4,):
        raise ValueError(f"--box: expected x0,y0,x1,y1, got {','.join(values)}")
    return box


def check_prompt(points: np.ndarray, box: np.ndarray | None, size: tuple[int, int]) -> None:
    """ValueError naming the flag unless there is a prompt inside the image: no clicks and
    no box, a click or a box corner outside the H × W image, or a box of no area."""
    h, w = size
    if len(points) == 0 and box is None:
        raise ValueError("no prompt: give --points, --box or both")
    for i, (x, y) in enumerate(points.tolist()):
        if not (0 <= x < w and 0 <= y < h):
            raise ValueError(f"--points: click {i + 1} ({x:g}, {y:g}) is outside the {w}×{h} image")
    if box is not None:
        x0, y0, x1, y1 = box.tolist()
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
            raise ValueError(
                f"--box: expected 0 <= x0 < x1 <= {w} and 0 <= y0 < y1 <= {h} (a box inside "
                f"the image, of some area), got {x0:g},{y0:g},{x1:g},{y1:g}"
            )


def predict(cfg: PredictConfig) -> None:
    """Segments `cfg.image` with `cfg`'s prompt; writes the mask and the overlay."""
    image = read_image(cfg.image)  # The datasets' reading rule (eigjax/data/images.py).
    points, labels = parse_points(cfg.points)
    box = parse_box(cfg.box) if cfg.box else None
    check_prompt(points, box, image.shape[:2])
    if os.path.exists(cfg.output) and not os.path.isdir(cfg.output):
        raise ValueError(f"--output={cfg.output}: is a file, not a directory")
    model = models.load(cfg.model, cfg.params or None)
    prompt = Prompt.create(points, labels, box)
    out = model.predict_prompt(model.embed(image), prompt)
    token = cfg.token
    if token < 0:
        token = int(
            tokens.proposed_token(out.iou, model.config.mask_rule, prompt, out.low_res_logits)
        )
    mask = np.asarray(out.logits[token]) > 0
    os.makedirs(cfg.output, exist_ok=True)
    Image.fromarray((mask * 255).astype(np.uint8)).save(os.path.join(cfg.output, "mask.png"))
    overlay = image.astype(np.float32)
    overlay[mask] = 0.5 * overlay[mask] + 0.5 * np.array([255, 64, 32])
    Image.fromarray(overlay.astype(np.uint8)).save(os.path.join(cfg.output, "overlay.png"))
    iou = [round(float(v), 3) for v in out.iou]
    score = "" if out.object_score is None else f"; object score {float(out.object_score):.3f}"
    print(
        f"{cfg.model}: predicted IoU per token {iou}{score}; token {token} covers "
        f"{int(mask.sum())} px → {cfg.output}/mask.png, overlay.png"
    )


def main(argv):
    cli.run_main(
        argv,
        lambda: predict(config_flags.config(PredictConfig)),
        (ValueError, models.CheckpointError),  # DataError, bad prompts, bad params.
        kept="nothing else was written",
        stopped="nothing else was written",
    )


def run() -> None:
    """The `eigjax-predict` command."""
    cli.entry(main, __doc__)


if __name__ == "__main__":
    run()
