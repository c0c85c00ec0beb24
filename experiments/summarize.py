"""Tables and the paper's figures from the records of `experiments.eig_vs_oracle`.

`write_report(workdir)` (also `python -m experiments.report --workdir=...`) reads every
`records/*.jsonl` of the workdir with the settings of each run (`runs/`), and writes to
`workdir/report/`:
  runs.md                   each run's id and the settings that tell it apart
  summary.md / .csv         per run, group, policy: images, clicks (the NoC cap), the
                            summary of each field of `protocol.FIELDS` (last Dice and
                            IoU, …), NoC@85/90/95 on IoU with NoF, Dice AUC, seconds per
                            click; means with 95 % bootstrap CIs
  miou.md / .csv            mIoU@k for k in 1, 3, 5, 10, 20 (where run)
  per_image.csv             one row per record, the summary's columns
  <field>_per_step (.md / .csv)   mean per step, for each field with a curve
  fig1.png, miou.png, fig2_<run>_<image>.png   (`figures.py`)

Records are never averaged across runs (settings): every table and figure groups by run.
"""

import csv
import dataclasses
import glob
import os
import warnings
from collections.abc import Callable

import numpy as np
from scipy import stats

from eigjax import metrics
from eigjax.protocol import FIELDS
from experiments import figures, records

NOC = [round(t * 100) for t in metrics.NOC_THRESHOLDS]
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
    "feed_mask",
    "nmc_outer",
    "nmc_inner",
    "dataset",
    "params",
    "weights",
    "save_masks",
    "format",
)


def _flat_settings(spec: dict) -> dict:
    flat = {k: v for k, v in spec.items() if k != "protocol"}
    flat.update(spec.get("protocol", {}))
    flat["dataset"] = ":".join([spec["dataset"]["kind"], *spec["dataset"]["paths"]])
    return flat


def run_labels(runs: dict[str, dict]) -> dict[str, str]:
    """{run id: label}: the model plus each setting that differs between the runs."""
    flat = {rid: _flat_settings(spec) for rid, spec in runs.items()}
    varying = [k for k in LABEL_KEYS if len({str(f.get(k)) for f in flat.values()}) > 1]
    labels = {}
    for rid, f in flat.items():
        parts = [f["model"]] + [f"{k}={f.get(k)}" for k in varying if k != "model"]
        labels[rid] = " · ".join(parts)
    return labels


def groups(recs: list[dict], labels: dict[str, str]) -> dict[tuple[str, str, str], list[dict]]:
    """{(run label, group, policy): records}, skipped images left out."""
    out: dict = {}
    for r in recs:
        if "skipped" not in r and r["run"] in labels:
            out.setdefault((labels[r["run"]], r["group"], r["policy"]), []).append(r)
    return dict(sorted(out.items()))


def mean_ci(values) -> tuple[float, float, float]:
    """Mean and its 95 % bootstrap CI (percentile, 2000 resamples, seeded); NaN CI for n < 2."""
    v = np.asarray(values, float)
    mean = float(np.mean(v))
    if v.size < 2 or np.all(v == v[0]):
        return mean, (mean if v.size > 1 else np.nan), (mean if v.size > 1 else np.nan)
    res = stats.bootstrap(
        (v,),
        np.mean,
        confidence_level=0.95,
        n_resamples=2000,
        method="percentile",
        random_state=0,
    )
    return mean, float(res.confidence_interval.low), float(res.confidence_interval.high)


def _num(v: float) -> str:
    """Three decimals; small values (max EIG is often 1e-4 nats) in scientific notation."""
    return f"{v:.2e}" if 0 < abs(v) < 0.01 else f"{v:.3f}"


def _fmt(v) -> str:
    if isinstance(v, tuple):  # (mean, low, high)
        m, lo, hi = v
        return _num(m) if np.isnan(lo) else f"{_num(m)} [{_num(lo)}, {_num(hi)}]"
    return _num(v) if isinstance(v, float) else str(v)


def _write_table(path_stem: str, header: list[str], rows: list[list]) -> None:
    """`.md` (CIs in brackets) and `.csv` (a column per mean and bound)."""
    csv_header, csv_rows = [], [[] for _ in rows]
    for j, h in enumerate(header):
        if rows and isinstance(rows[0][j], tuple):
            csv_header += [h, f"{h} CI low", f"{h} CI high"]
            for out, row in zip(csv_rows, rows, strict=True):
                out += list(row[j])
        else:
            csv_header.append(h)
            for out, row in zip(csv_rows, rows, strict=True):
                out.append(row[j])
    with open(path_stem + ".csv", "w", newline="") as f:
        csv.writer(f).writerows([csv_header, *csv_rows])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    with open(path_stem + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")


@dataclasses.dataclass(frozen=True)
class Column:
    """A per-image number of the summary and `per_image.csv`: its title, its value in one
    record, and how the summary totals it over images ("ci": mean with 95 % bootstrap CI,
    "mean", "count": how many are true)."""

    title: str
    value: Callable[[dict], float]
    total: str = "ci"


def _field_value(name: str, how: str) -> Callable[[dict], float]:
    def value(r: dict) -> float:
        steps = np.array([np.nan if v is None else v for v in r[name]], float)
        if how == "last":
            return float(steps[-1])
        with warnings.catch_warnings():  # A sequence with no value at all: NaN.
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(np.nanmean(steps))

    return value


def columns(cap: str) -> list[Column]:
    """The summary's columns: each field of `protocol.FIELDS` with a summary, NoC and NoF
    at each threshold (NoC capped at `cap` clicks), the Dice AUC, seconds per click."""
    out = [Column(f.title, _field_value(f.name, f.summary)) for f in FIELDS if f.summary]
    out += [Column(f"NoC@{t}{cap}", lambda r, t=t: r[f"noc{t}"]) for t in NOC]
    out += [Column(f"NoF@{t}", lambda r, t=t: int(r[f"fail{t}"]), "count") for t in NOC]
    out += [Column("Dice AUC", lambda r: r["dice_auc"])]
    out += [Column("s / click", lambda r: r["seconds_per_click"], "mean")]
    return out


def _total(column: Column, recs: list[dict]):
    values = [column.value(r) for r in recs]
    if column.total == "count":
        return int(sum(values))
    if column.total == "mean":
        return float(np.mean(values))
    return mean_ci(values)


def _cap(runs: dict, labels: dict) -> tuple[dict[str, int], str]:
    """{run label: steps}, and the NoC columns' cap note."""
    steps = {labels[rid]: spec["steps"] for rid, spec in runs.items() if rid in labels}
    if len(set(steps.values())) > 1:
        return steps, " (≤ clicks)"
    return steps, f", ≤ {next(iter(steps.values()), 0)} clicks"


def write_summary(grouped: dict, steps: dict, cols: list[Column], out: str) -> None:
    """summary.md / .csv and per_image.csv."""
    header = ["run", "group", "policy", "images", "clicks", *[c.title for c in cols]]
    rows, per_image = [], []
    for (label, group, policy), rs in grouped.items():
        rows.append([label, group, policy, len(rs), steps[label], *[_total(c, rs) for c in cols]])
        per_image += [
            [label, r["run"], group, policy, r["image_id"], *[c.value(r) for c in cols]] for r in rs
        ]
    _write_table(os.path.join(out, "summary"), header, rows)
    titles = [c.title for c in cols]
    with open(os.path.join(out, "per_image.csv"), "w", newline="") as f:
        csv.writer(f).writerows([["run", "run id", "group", "policy", "image", *titles]])
        csv.writer(f).writerows(per_image)


def write_miou(grouped: dict, steps: dict, out: str) -> None:
    """miou.md / .csv: mIoU@k for k in MIOU_AT up to the longest run."""
    ks = [k for k in metrics.MIOU_AT if k <= max(steps.values(), default=0)]
    rows = []
    for (label, group, policy), rs in grouped.items():
        iou = records.per_step(rs, "iou")
        cells = [float(np.mean(iou[:, k - 1])) if k <= steps[label] else "–" for k in ks]
        rows.append([label, group, policy, len(rs), *cells])
    header = ["run", "group", "policy", "images", *[f"mIoU@{k}" for k in ks]]
    _write_table(os.path.join(out, "miou"), header, rows)


def write_curves(grouped: dict, out: str) -> None:
    """<field>_per_step.md / .csv: the mean over images per step, for every field of
    `protocol.FIELDS` with a curve."""
    for field in (f for f in FIELDS if f.curve):
        rows, n = [], 0
        for (label, group, policy), rs in grouped.items():
            with warnings.catch_warnings():  # Step 0 has no max EIG: an all-NaN column.
                warnings.simplefilter("ignore", RuntimeWarning)
                curve = np.nanmean(records.per_step(rs, field.name), axis=0)
            n = max(n, len(curve))
            rows.append([label, group, policy, *[float(v) for v in curve]])
        rows = [r + ["–"] * (n + 3 - len(r)) for r in rows]
        header = ["run", "group", "policy", *[f"step {s}" for s in range(n)]]
        _write_table(os.path.join(out, f"{field.name}_per_step"), header, rows)


def write_tables(recs, runs, labels, out: str) -> None:
    """Every table of the report (module docstring)."""
    grouped = groups(recs, labels)
    steps, cap = _cap(runs, labels)
    write_summary(grouped, steps, columns(cap), out)
    write_miou(grouped, steps, out)
    write_curves(grouped, out)
    skipped = [r for r in recs if "skipped" in r and r["run"] in labels]
    if skipped:
        _write_table(
            os.path.join(out, "skipped"),
            ["run", "image", "reason"],
            [[labels[r["run"]], r["image_id"], r["skipped"]] for r in skipped],
        )
    _write_table(
        os.path.join(out, "runs"),
        ["run", "id", "settings"],
        [
            [labels[rid], rid, ", ".join(f"{k}={v}" for k, v in _flat_settings(spec).items())]
            for rid, spec in sorted(runs.items())
            if rid in labels
        ],
    )


def write_report(workdir: str) -> str:
    """Writes the tables and figures of `workdir` to `workdir/report`; returns that path."""
    if not os.path.isdir(os.path.join(workdir, "records")):
        raise FileNotFoundError(f"{workdir}: no records/ here (run experiments.eig_vs_oracle)")
    recs = records.load_records(workdir)
    runs = records.load_runs(workdir)
    used = {r["run"] for r in recs}
    orphans = sorted(used - set(runs))
    if orphans:
        warnings.warn(
            f"{workdir}: records of runs without settings skipped: {orphans}", stacklevel=2
        )
    runs = {rid: spec for rid, spec in runs.items() if rid in used}
    if not runs:
        raise FileNotFoundError(f"{workdir}: no records to report (run experiments.eig_vs_oracle)")
    out = os.path.join(workdir, "report")
    os.makedirs(out, exist_ok=True)
    labels = run_labels(runs)
    write_tables(recs, runs, labels, out)
    grouped = groups(recs, labels)
    if grouped:
        figures.figure1(grouped, os.path.join(out, "fig1.png"))
        figures.miou_plot(grouped, os.path.join(out, "miou.png"))
    for path in sorted(glob.glob(os.path.join(workdir, "maps", "*", "*.npz"))):
        run = os.path.basename(os.path.dirname(path))
        if run in labels:
            name = f"fig2_{run}_{os.path.basename(path)[:-4]}.png"
            figures.figure2(path, labels[run], os.path.join(out, name))
    return out
