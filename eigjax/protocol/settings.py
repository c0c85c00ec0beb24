"""The protocol's settings: every knob of a click sequence, with its help text and checks.

`Settings` is one frozen value: the study embeds it (`experiments/config.py` derives its
flags from these fields), the web page takes the fields it uses, and a run's identity is
`Settings.identity()`, the fields that change a number.
"""

import dataclasses
from typing import Literal

from eigjax.models.configs import ModelConfig
from eigjax.models.layers import Precision

# Every value of a setting, with what it means; help texts and checks read these tables.
STARTS = {
    "center": "a positive click at the mask pixel farthest from its boundary",
    "box": "the mask's bounding box, kept in every later prompt",
    "noisy_box": "the box jittered as SAM-Med2D jitters it",
}
MASK_RULES = {
    "model": "the output the model was trained to give (its config's mask_rule: token0 for "
    "MedSAM and LiteMedSAM, best_iou_first for SAM, SAM 2 and SAM 3, best_iou for SAM-Med2D and "
    "the calibrated control)",
    "best_iou_first": "the multimask token (1-3) of best predicted IoU after a single click, "
    "token 0 once the prompt has two points or a box (SAM's and SAM 2's predictors)",
    "best_iou_first_stable": "as best_iou_first, but past a single click token 0 only while "
    "its stability score is at least 0.98, else the best multimask token (SAM 2's and SAM "
    "3's predictors with multimask_output=False)",
    "best_iou": "the multimask token (1-3) of best predicted IoU",
    "token0": "token 0, the single-mask output",
}
MASK_FEEDBACK = {
    "model": "the model's own loop (its config's mask_feedback: logits for SAM and SAM 2, "
    "sigmoid for SAM-Med2D, none for MedSAM, LiteMedSAM and the control)",
    "none": "no mask input",
    "logits": "the previous proposed low-res logits (SAM's and SAM 2's predictors)",
    "sigmoid": "their sigmoid (SAM-Med2D's test loop)",
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
    mask_rule: Literal["model", "best_iou_first", "best_iou_first_stable", "best_iou", "token0"] = (
        _knob("model", f"Proposed mask. {_choices(MASK_RULES)}.")
    )
    heads: Literal["multimask", "all"] = _knob("multimask", f"EIG heads θ_k. {_choices(HEADS)}.")
    eig: Literal["exact", "nmc"] = _knob("exact", f"EIG estimator. {_choices(ESTIMATORS)}.")
    nmc_outer: int = _knob(1024, "NMC outer samples N.")
    nmc_inner: int = _knob(32, "NMC inner samples M.")
    nmc_check: bool = _knob(
        False,
        "Also estimate each step's max EIG on the grid with the paper's sampler at a few "
        "budgets (protocol.fields.NMC_BUDGETS) and record how it differs from the exact value.",
    )
    box_jitter: int = _knob(
        5, "noisy_box: SAM-Med2D's max_pixel (5 as in its training; 0 as in its test.py)."
    )
    mask_feedback: Literal["model", "none", "logits", "sigmoid"] = _knob(
        "model", f"What each step feeds back as the next mask input. {_choices(MASK_FEEDBACK)}."
    )
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

    def resolved(self, config: ModelConfig) -> "Settings":
        """The settings as they run on the model of `config`: mask_rule and mask_feedback
        "model" become the config's own (what a run records)."""
        rule = config.mask_rule if self.mask_rule == "model" else self.mask_rule
        fed = config.mask_feedback if self.mask_feedback == "model" else self.mask_feedback
        return dataclasses.replace(self, mask_rule=rule, mask_feedback=fed)

    @property
    def feeds_mask(self) -> bool:
        """Whether each step feeds a mask back (resolved settings only)."""
        if self.mask_feedback == "model":
            raise ValueError("mask_feedback 'model': resolve it for the model first")
        return self.mask_feedback != "none"

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
            ("mask_feedback", MASK_FEEDBACK),
        ):
            if getattr(self, name) not in table:
                raise ValueError(
                    f"{name} must be one of {list(table)}, got {getattr(self, name)!r}"
                )
        if self.box_jitter < 0:
            raise ValueError(f"box_jitter must be 0 or more, got {self.box_jitter}")
        if self.oracle_chunk < 0:
            raise ValueError(f"oracle_chunk must be 0 (automatic) or more, got {self.oracle_chunk}")
        if self.eig == "nmc" and min(self.nmc_outer, self.nmc_inner) < 1:
            raise ValueError("nmc_outer and nmc_inner must be at least 1")
