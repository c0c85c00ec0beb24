"""One image's prompt sequence under one policy, on the host, and its JSON form.

The per-step values are those of `fields.FIELDS` (`rec.dice` is `rec.values["dice"]`);
the per-image numbers of the field (NoC, NoF, Dice AUC) derive from them.
"""

import dataclasses

import numpy as np

from eigjax import metrics
from eigjax.protocol.fields import FIELD_NAMES, Trace


@dataclasses.dataclass
class Record:
    """One image's sequence of S steps (step 0 is the start)."""

    policy: str
    clicks: np.ndarray  # int [S, 3]: x, y, label; (-1, -1, -1): no click at that step
    box: np.ndarray | None  # float [4] (x0, y0, x1, y1): the box prompt of a box start
    values: dict[str, np.ndarray]  # float [S] per field of FIELDS
    seconds_per_click: float  # the sequence's wall time / S (the start included), no compiles
    seconds_per_later_step: float  # the steps after the start / (S - 1); NaN for a device loop
    eig_maps: np.ndarray | None = None  # float [S, H, W] if Settings.keep_maps
    masks: np.ndarray | None = None  # bool [S, H, W] if Settings.keep_masks
    candidate_dice: np.ndarray | None = None  # float [S, G] with keep_maps (Oracle steps)

    def __getattr__(self, name: str) -> np.ndarray:
        """A per-step field by name (`rec.dice`, `rec.max_eig`, …)."""
        if name in FIELD_NAMES and "values" in self.__dict__:
            return self.__dict__["values"][name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @classmethod
    def from_trace(cls, policy: str, trace: Trace, i: int, steps: int, box, seconds):
        """Image i's first `steps` steps of a batched host `trace` [B, C, ...]; `seconds`:
        (per click, per later step)."""

        def take(x):
            return None if x is None else np.asarray(x[i][:steps])

        return cls(
            policy=policy,
            clicks=take(trace.clicks).astype(np.int64),
            box=box,
            values={name: take(trace.values[name]).astype(np.float64) for name in FIELD_NAMES},
            seconds_per_click=seconds[0],
            seconds_per_later_step=seconds[1],
            eig_maps=take(trace.eig_maps),
            masks=take(trace.masks),
            candidate_dice=take(trace.candidate_dice),
        )

    @property
    def box_start(self) -> bool:
        """Step 0 is a box (a prompt, not a click)."""
        return self.box is not None

    @property
    def noc(self) -> dict[str, int]:
        """NoC@85/90/95 on IoU, in clicks (a box start's box is none); the cap (the clicks
        run) when not reached."""
        return {
            f"noc{round(t * 100)}": metrics.noc(self.iou, t, self.box_start)
            for t in metrics.NOC_THRESHOLDS
        }

    @property
    def failed(self) -> dict[str, bool]:
        """RITM's failure at 85/90/95 %: NoC equals the cap (NoF counts these)."""
        return {
            f"fail{round(t * 100)}": metrics.failed(self.iou, t, self.box_start)
            for t in metrics.NOC_THRESHOLDS
        }

    @property
    def never(self) -> dict[str, bool]:
        """Whether IoU never reaches 85/90/95 % (the strict count)."""
        return {
            f"never{round(t * 100)}": metrics.never(self.iou, t) for t in metrics.NOC_THRESHOLDS
        }

    @property
    def dice_auc(self) -> float:
        return metrics.dice_auc(self.dice)

    def to_json(self) -> dict:
        """JSON-ready: lists, NaN as None; maps and masks are left out."""

        def clean(a):
            if a.ndim > 1:
                return [clean(row) for row in a]
            return [None if isinstance(v, float) and np.isnan(v) else v for v in a.tolist()]

        return {
            "policy": self.policy,
            "clicks": self.clicks.tolist(),
            "box": None if self.box is None else self.box.tolist(),
            **{name: clean(self.values[name]) for name in FIELD_NAMES},
            "seconds_per_click": self.seconds_per_click,
            "seconds_per_later_step": (
                None if np.isnan(self.seconds_per_later_step) else self.seconds_per_later_step
            ),
            **self.noc,
            **self.failed,
            **self.never,
            "dice_auc": self.dice_auc,
        }
