"""The protocol's settings: every knob of a click sequence, with its help text and checks.

`Settings` is one frozen value: the study embeds it (`experiments/config.py` derives its
flags from these fields), the web page takes the fields it uses, and a run's identity is
`Settings.identity()`, the fields that change a number.
"""

import dataclasses
from typing import Literal

from eigjax.models.layers import Precision

# Every value of a setting, with what it means; help texts and checks read these tables.
STARTS = {
    "center": "a positive click at the mask pixel farthest from its boundary",
    "box": "the mask's bounding box, kept in every later prompt",
    "noisy_box": "the box jittered as SAM-Med2D jitters it",
}
MASK_RULES = {
    "best_iou": "the multimask token (1-3) of best predicted IoU",
    "token0": "token 0, the single-mask output",
}
HEADS = {"multimask": "tokens 1-3", "all": "all four tokens"}
ESTIMATORS = {"exact": "the exact mutual information", "nmc": "the paper's Eq. 8 (sampled)"}


def _choices(table: dict[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in table.items())


def _knob(default, help: str, affects_results: bool = True, flag: bool = True):
    """A setting with its help text; `affects_results=False`: speed or output only."""
    metadata = {"help": help, "affects_results": affects_results, "flag": flag}
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The protocol's knobs; defaults as the paper's (Chung & Moyer, Sec. 3) where it says.

    Fields marked `affects_results=False` change speed or what is kept, never a number
    of a record (`identity()` leaves them out).
    """

    grid: int = _knob(30, "Candidate clicks: centres of a grid x grid partition of the image.")
    start: Literal["center", "box", "noisy_box"] = _knob(
        "center", f"First prompt. {_choices(STARTS)}."
    )
    mask_rule: Literal["best_iou", "token0"] = _knob(
        "best_iou", f"Proposed mask. {_choices(MASK_RULES)}."
    )
    heads: Literal["multimask", "all"] = _knob("multimask", f"EIG heads θ_k. {_choices(HEADS)}.")
    eig: Literal["exact", "nmc"] = _knob("exact", f"EIG estimator. {_choices(ESTIMATORS)}.")
    nmc_outer: int = _knob(1024, "NMC outer samples N.")
    nmc_inner: int = _knob(32, "NMC inner samples M.")
    feed_mask: bool = _knob(False, "Feed the previous proposed low-res mask back in.")
    precision: Precision = _knob(
        "highest", "Decoder arithmetic: highest (float32, parity), default, or bfloat16."
    )
    oracle_chunk: int = _knob(
        0,
        "Oracle candidates evaluated at once; 0: chosen from the device (protocol.oracle_chunk).",
        affects_results=False,
    )
    keep_maps: bool = _knob(False, "EIG maps per step.", affects_results=False, flag=False)
    keep_masks: bool = _knob(False, "Masks per step.", affects_results=False, flag=False)

    def identity(self) -> dict:
        """The fields that change a record's numbers, as a JSON-ready dict."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.metadata.get("affects_results", True)
        }

    def check(self, steps: int) -> None:
        """Raises ValueError naming the first invalid knob (or `steps`)."""
        if self.grid < 1:
            raise ValueError(f"grid must be at least 1, got {self.grid}")
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        for name, table in (
            ("start", STARTS),
            ("mask_rule", MASK_RULES),
            ("heads", HEADS),
            ("eig", ESTIMATORS),
        ):
            if getattr(self, name) not in table:
                raise ValueError(
                    f"{name} must be one of {list(table)}, got {getattr(self, name)!r}"
                )
        if self.oracle_chunk < 0:
            raise ValueError(f"oracle_chunk must be 0 (automatic) or more, got {self.oracle_chunk}")
        if self.eig == "nmc" and min(self.nmc_outer, self.nmc_inner) < 1:
            raise ValueError("nmc_outer and nmc_inner must be at least 1")
