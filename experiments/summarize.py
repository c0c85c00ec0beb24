"""Tables and the paper's figures from the records of `experiments.eig_vs_oracle`.

`write_report(workdir)` (also `python -m experiments.report --workdir=...`) reads every
`records/*.jsonl` of the workdir with the settings of each run (`runs/`), and writes to
`workdir/report/`:
  runs.md                   each run's id and the settings that tell it apart
  summary.md / .csv         per run, group, policy: images, clicks (the NoC cap), last
                            Dice and IoU, NoC@85/90/95 on IoU with NoF, Dice AUC,
                            seconds per click; means with 95 % bootstrap CIs
  miou.md / .csv            mIoU@k for k in 1, 3, 5, 10, 20 (where run)
  per_image.csv             one row per record
  dice_per_step, iou_per_step, max_eig_per_step (.md / .csv)   mean per step
  fig1.png, miou.png, fig2_<run>_<image>.png   (`figures.py`)

Records are never averaged across runs (settings): every table and figure groups by run.
"""

import csv
import glob
import os
import warnings

import numpy as np
from scipy import stats

from eigjax import metrics
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


def write_tables(recs, runs, labels, out: str) -> None:
    grouped = groups(recs, labels)
    steps = {labels[rid]: spec["steps"] for rid, spec in runs.items() if rid in labels}
    cap = (
        " (≤ clicks)"
        if len(set(steps.values())) > 1
        else f", ≤ {next(iter(steps.values()), 0)} clicks"
    )
    header = ["run", "group", "policy", "images", "clicks", "last Dice", "last IoU"]
    header += [f"NoC@{t}{cap}" for t in NOC] + [f"NoF@{t}" for t in NOC]
    header += ["Dice AUC", "s / click"]
    summary, miou_rows, per_image = [], [], []
    ks = [k for k in metrics.MIOU_AT if k <= max(steps.values(), default=0)]
    for (label, group, policy), rs in grouped.items():
        summary.append(
            [
                label,
                group,
                policy,
                len(rs),
                steps[label],
                mean_ci([r["dice"][-1] for r in rs]),
                mean_ci([r["iou"][-1] for r in rs]),
                *[mean_ci([r[f"noc{t}"] for r in rs]) for t in NOC],
                *[int(sum(r[f"fail{t}"] for r in rs)) for t in NOC],
                mean_ci([r["dice_auc"] for r in rs]),
                float(np.mean([r["seconds_per_click"] for r in rs])),
            ]
        )
        iou = records.per_step(rs, "iou")
        miou_rows.append(
            [
                label,
                group,
                policy,
                len(rs),
                *[float(np.mean(iou[:, k - 1])) if k <= steps[label] else "–" for k in ks],
            ]
        )
        for r in rs:
            per_image.append(
                [
                    label,
                    r["run"],
                    group,
                    policy,
                    r["image_id"],
                    r["dice"][-1],
                    r["iou"][-1],
                    *[r[f"noc{t}"] for t in NOC],
                    *[int(r[f"fail{t}"]) for t in NOC],
                    r["dice_auc"],
                    r["seconds_per_click"],
                ]
            )
    _write_table(os.path.join(out, "summary"), header, summary)
    _write_table(
        os.path.join(out, "miou"),
        ["run", "group", "policy", "images", *[f"mIoU@{k}" for k in ks]],
        miou_rows,
    )
    with open(os.path.join(out, "per_image.csv"), "w", newline="") as f:
        csv.writer(f).writerows(
            [
                [
                    "run",
                    "run id",
                    "group",
                    "policy",
                    "image",
                    "last Dice",
                    "last IoU",
                    *[f"NoC@{t}" for t in NOC],
                    *[f"failed@{t}" for t in NOC],
                    "Dice AUC",
                    "s / click",
                ],
                *per_image,
            ]
        )
    for field in ("dice", "iou", "max_eig"):
        rows, n = [], 0
        for (label, group, policy), rs in grouped.items():
            with warnings.catch_warnings():  # Step 0 has no max EIG: an all-NaN column.
                warnings.simplefilter("ignore", RuntimeWarning)
                curve = np.nanmean(records.per_step(rs, field), axis=0)
            n = max(n, len(curve))
            rows.append([label, group, policy, *[float(v) for v in curve]])
        rows = [r + ["–"] * (n + 3 - len(r)) for r in rows]
        _write_table(
            os.path.join(out, f"{field}_per_step"),
            ["run", "group", "policy", *[f"step {s}" for s in range(n)]],
            rows,
        )
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
