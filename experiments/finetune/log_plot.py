"""A fine-tuning run's log.csv drawn: the loss, and the true IoU after the first prompt
for click-first and box-first steps (moving averages)."""

import csv

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _moving(values: np.ndarray, width: int = 25) -> np.ndarray:
    """The trailing mean over up to `width` values."""
    sums = np.cumsum(np.insert(values, 0, 0.0))
    n = np.minimum(np.arange(1, len(values) + 1), width)
    return (sums[1:] - sums[np.arange(len(values)) + 1 - n]) / n


def training_log(log_path: str, path: str) -> None:
    """Loss and first-prompt IoU per step of a fine-tuning log (`training.py`)."""
    with open(log_path, newline="") as f:
        rows = list(csv.DictReader(f))
    step = np.array([int(r["step"]) for r in rows])
    loss = np.array([float(r["loss"]) for r in rows])
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(step, loss, color="C7", alpha=0.4, lw=0.8, label="per step")
    a.plot(step, _moving(loss), color="C0", label="moving mean (25 steps)")
    a.set(xlabel="step", ylabel="loss (20 focal + Dice + IoU error)", title="loss")
    a.legend()
    for kind, colour in (("click", "C1"), ("box", "C2")):
        keep = np.array([r["first_prompt"] == kind for r in rows])
        if keep.any():
            iou = np.array([float(r["first_iou"]) for r in rows])[keep]
            b.plot(step[keep], _moving(iou), color=colour, label=f"{kind} first")
    b.set(xlabel="step", ylabel="IoU", ylim=(0, 1), title="IoU after the first prompt")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
