"""The report's one reading of a study's records, built once and handed to the tables
(`tables.py`) and the figures (`figures.py`), which never go back to the records.

`build(recs, runs)` labels each run (its model and the settings that tell it from the
others), groups the records by (run label, group, policy) and lays out each group's
per-step numbers as arrays. Records are never averaged across runs: every table and
figure groups by run.
"""

import dataclasses

import numpy as np

from eigjax.models import CONFIGS, families
from eigjax.protocol import FIELDS

# Settings shown in run labels when they differ between runs, in this order.
LABEL_KEYS = (
    "model",
    "start",
    "mask_rule",
    "grid",
    "heads",
    "eig",
    "steps",
    "seed",
    "mask_feedback",
    "nmc_outer",
    "nmc_inner",
    "dataset",
    "params",
    "weights",
    "save_masks",
    "format",
)
BOX_STARTS = ("box", "noisy_box")  # A box is step 0's prompt, not a click.
# The per-step fields with one number per step: a group holds each as [images, S].
STEP_NUMBERS = tuple(f.name for f in FIELDS if not f.bins and not f.per_token)


@dataclasses.dataclass(frozen=True)
class Length:
    """A run's sequences: prompts (steps, the start's among them) and clicks (a box
    start's box is a prompt, not a click)."""

    prompts: int
    clicks: int

    @property
    def first_click_step(self) -> int:
        """The step of click 1: 0 after a centre start (it is click 1), 1 after a box."""
        return self.prompts - self.clicks


@dataclasses.dataclass(frozen=True)
class Group:
    """The records of one (run label, group, policy) and their per-step numbers.

    steps: {field of STEP_NUMBERS: float [images, S]}, NaN where a record has none (None,
      or a shorter sequence).
    """

    records: list[dict]
    steps: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.records)


@dataclasses.dataclass(frozen=True)
class View:
    """A workdir's records as the report reads them.

    runs: {run id: settings} of the runs with records; labels: {run id: label}.
    groups: {(run label, group, policy): Group}, sorted, skipped images left out.
    lengths: {run label: Length}; cap: the NoC columns' note on the click cap.
    by_run: {run label: its records, every group and policy}; skipped: the skipped ones.
    """

    runs: dict[str, dict]
    labels: dict[str, str]
    groups: dict[tuple[str, str, str], Group]
    lengths: dict[str, Length]
    cap: str
    by_run: dict[str, list[dict]]
    skipped: list[dict]


def per_step(recs: list[dict], field: str) -> np.ndarray:
    """float [images, S] of a per-step field of records (NaN where absent or None)."""
    rows = [[np.nan if v is None else v for v in r[field]] for r in recs]
    n = max(len(r) for r in rows)
    return np.array([r + [np.nan] * (n - len(r)) for r in rows], float)


def group(recs: list[dict]) -> Group:
    """`recs` with their per-step numbers laid out."""
    return Group(recs, {n: per_step(recs, n) for n in STEP_NUMBERS})


def flat_settings(spec: dict) -> dict:
    """A run's settings in one level: the protocol's beside the study's, the dataset as
    `kind:path`."""
    flat = {k: v for k, v in spec.items() if k != "protocol"}
    flat.update(spec.get("protocol", {}))
    flat["dataset"] = ":".join([spec["dataset"]["kind"], *spec["dataset"]["paths"]])
    return flat


def run_labels(runs: dict[str, dict]) -> dict[str, str]:
    """{run id: label}: the model plus each setting that differs between the runs."""
    flat = {rid: flat_settings(spec) for rid, spec in runs.items()}
    varying = [k for k in LABEL_KEYS if len({str(f.get(k)) for f in flat.values()}) > 1]
    if "params" in varying and "weights" in varying:  # The params say which weights.
        varying.remove("weights")
    labels = {}
    for rid, f in flat.items():
        parts = [_model_title(f["model"])]
        parts += [f"{k}={_shown(k, f.get(k))}" for k in varying if k != "model"]
        labels[rid] = " · ".join(parts)
    return labels


def _model_title(name: str) -> str:
    """A model's name in a label; the calibrated control says it is one (it knows the
    ground truth's hypotheses: a calibration standard, not a segmenter)."""
    config = CONFIGS.get(name)
    control = config is not None and families.family(config).needs_ground_truth
    return f"{name} (control)" if control else name


def _shown(key: str, value) -> str:
    """A setting's value in a run label: a params directory as its last two names
    (`finetune/params`), a weights fingerprint as its first 12 characters."""
    if key == "params" and isinstance(value, str):
        return "/".join(value.rstrip("/").split("/")[-2:]) or "none"
    if key == "weights" and isinstance(value, str):
        return value[:12]
    return str(value)


def _lengths(runs: dict, labels: dict) -> tuple[dict[str, Length], str]:
    """{run label: its prompts and clicks}, and the NoC columns' cap note."""
    lengths = {}
    for rid, spec in runs.items():
        box = spec.get("protocol", {}).get("start") in BOX_STARTS
        lengths[labels[rid]] = Length(spec["steps"], spec["steps"] - box)
    clicks = {length.clicks for length in lengths.values()}
    if len(clicks) > 1:
        return lengths, " (≤ clicks)"
    return lengths, f", ≤ {next(iter(clicks), 0)} clicks"


def build(recs: list[dict], runs: dict[str, dict]) -> View:
    """The view of `recs` (every record of a workdir) under `runs` (the settings of the
    runs to report: records of other runs are left out)."""
    labels = run_labels(runs)
    kept = [r for r in recs if r["run"] in labels]
    by_key: dict = {}
    by_run: dict = {}
    for r in kept:
        if "skipped" not in r:
            by_key.setdefault((labels[r["run"]], r["group"], r["policy"]), []).append(r)
            by_run.setdefault(labels[r["run"]], []).append(r)
    lengths, cap = _lengths(runs, labels)
    return View(
        runs=runs,
        labels=labels,
        groups={k: group(rs) for k, rs in sorted(by_key.items())},
        lengths=lengths,
        cap=cap,
        by_run=dict(sorted(by_run.items())),
        skipped=[r for r in kept if "skipped" in r],
    )
