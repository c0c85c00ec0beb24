"""The report's tables, each from the records: every number here can be recomputed from
the JSONL lines (`tests/experiments/test_report.py` does).

  <table>.md / .csv      per run, group, policy: images, clicks (the NoC cap) and the
                         columns of that table (`columns`): "summary" (last Dice and IoU,
                         NoC@85/90/95 on IoU, NoF as RITM counts it and the strict "never
                         reached", Dice AUC, seconds), "eig_ranking" (EIG vs the Oracle's
                         gains), "plausibility" (where the clicks lie); means with 95 %
                         bootstrap CIs
  per_image.csv          one row per record, every column
  miou.md / .csv         mIoU@k for k in 1, 3, 5, 10, 20 (where run)
  <field>_per_step       the mean per step of each per-step field with a curve
  paired.md / .csv       EIG-guided − Oracle on the same images, per run and group
  head_probs.md / .csv   the distribution of the EIG heads' probabilities per run
  estimator.md / .csv    the paper's NMC estimator against the exact EIG, per budget
"""

import csv
import dataclasses
import os
import warnings
from collections.abc import Callable

import numpy as np
from scipy import stats

from eigjax import metrics
from eigjax.protocol import FIELDS
from eigjax.protocol.fields import NMC_BUDGETS
from eigjax.protocol.policies import EIG_GUIDED, POLICIES
from experiments import records

NOC = [round(t * 100) for t in metrics.NOC_THRESHOLDS]


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
        return _fmt(m) if np.isnan(lo) else f"{_num(m)} [{_num(lo)}, {_num(hi)}]"
    if isinstance(v, float):
        return "–" if np.isnan(v) else _num(v)
    return str(v)


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


def write_table(path_stem: str, header: list[str], rows: list[list]) -> None:
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
    """A per-image number: its title, its value in one record, and how a table totals it
    over images ("ci": mean with 95 % bootstrap CI over the images that have one, "mean",
    "count": how many are true)."""

    title: str
    value: Callable[[dict], float]
    total: str = "ci"


def steps_of(r: dict, name: str) -> np.ndarray:
    """float [S] (or [S, bins]) of a per-step field of one record, NaN for None."""
    return np.array(r[name], dtype=float)


def _field_value(name: str, how: str) -> Callable[[dict], float]:
    def value(r: dict) -> float:
        steps = steps_of(r, name)
        if how == "last":
            return float(steps[-1])
        with warnings.catch_warnings():  # A sequence with no value at all: NaN.
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(np.nanmean(steps))

    return value


def columns(cap: str) -> dict[str, list[Column]]:
    """{table: its columns}: each per-step field with a summary in its table, and in
    "summary" NoC and both failure counts at each threshold (NoC capped at `cap` clicks),
    the Dice AUC and the seconds."""
    out: dict[str, list[Column]] = {"summary": []}
    for f in FIELDS:
        if f.summary:
            out.setdefault(f.table, []).append(Column(f.title, _field_value(f.name, f.summary)))
    out["summary"] += [Column(f"NoC@{t}{cap}", lambda r, t=t: r[f"noc{t}"]) for t in NOC]
    out["summary"] += [Column(f"NoF@{t}", lambda r, t=t: int(r[f"fail{t}"]), "count") for t in NOC]
    out["summary"] += [
        Column(f"never@{t}", lambda r, t=t: int(r[f"never{t}"]), "count") for t in NOC
    ]
    out["summary"] += [Column("Dice AUC", lambda r: r["dice_auc"])]
    out["summary"] += [
        Column("s / step (all steps, the start's too)", lambda r: r["seconds_per_click"], "mean"),
        Column("s / step after the start", _later_step_seconds, "mean"),
    ]
    return out


def _later_step_seconds(r: dict) -> float:
    """The steps after the start, on their own (an Oracle row: the Oracle step's time);
    NaN for a policy whose sequence runs as one device loop."""
    value = r.get("seconds_per_later_step")
    return np.nan if value is None else value


def total(column: Column, recs: list[dict]):
    """The column over `recs`, as its `total` says (NaN values left out)."""
    values = np.array([column.value(r) for r in recs], float)
    if column.total == "count":
        return int(np.sum(values))
    values = values[~np.isnan(values)]
    if not values.size:
        return np.nan if column.total == "mean" else (np.nan, np.nan, np.nan)
    if column.total == "mean":
        return float(np.mean(values))
    return mean_ci(values)


def write_column_tables(grouped: dict, steps: dict, tables: dict, out: str) -> None:
    """Each table of `tables` ({name: columns}) as `<name>.md/.csv` (rows where every
    value is missing are left out), and per_image.csv with every column."""
    for name, cols in tables.items():
        rows = []
        for (label, group, policy), rs in grouped.items():
            cells = [total(c, rs) for c in cols]
            if name != "summary" and all(_missing(v) for v in cells):
                continue
            rows.append([label, group, policy, len(rs), steps[label], *cells])
        header = ["run", "group", "policy", "images", "clicks", *[c.title for c in cols]]
        write_table(os.path.join(out, name), header, rows)
    every = [c for cols in tables.values() for c in cols]
    with open(os.path.join(out, "per_image.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run", "run id", "group", "policy", "image", *[c.title for c in every]])
        for (label, group, policy), rs in grouped.items():
            for r in rs:
                row = [label, r["run"], group, policy, r["image_id"]]
                writer.writerow(row + [c.value(r) for c in every])


def _missing(v) -> bool:
    return bool(np.isnan(v[0] if isinstance(v, tuple) else v))


def write_miou(grouped: dict, steps: dict, out: str) -> None:
    """miou.md / .csv: mIoU@k for k in MIOU_AT up to the longest run."""
    ks = [k for k in metrics.MIOU_AT if k <= max(steps.values(), default=0)]
    rows = []
    for (label, group, policy), rs in grouped.items():
        iou = records.per_step(rs, "iou")
        cells = [float(np.mean(iou[:, k - 1])) if k <= steps[label] else "–" for k in ks]
        rows.append([label, group, policy, len(rs), *cells])
    header = ["run", "group", "policy", "images", *[f"mIoU@{k}" for k in ks]]
    write_table(os.path.join(out, "miou"), header, rows)


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
        write_table(os.path.join(out, f"{field.name}_per_step"), header, rows)


PAIRED = (("Dice AUC", lambda r: r["dice_auc"]), ("last Dice", lambda r: steps_of(r, "dice")[-1]))


def paired_differences(grouped: dict) -> list[list]:
    """Rows (run, group, images, then per PAIRED number the mean of EIG-guided − Oracle
    over the images both ran, with its bootstrap CI)."""
    oracle = next(p for p in POLICIES.values() if p.runs == "step").name
    rows = []
    for (label, group, policy), rs in grouped.items():
        if policy != EIG_GUIDED.name or (label, group, oracle) not in grouped:
            continue
        theirs = {r["image_id"]: r for r in grouped[label, group, oracle]}
        pairs = [(r, theirs[r["image_id"]]) for r in rs if r["image_id"] in theirs]
        cells = [mean_ci([f(a) - f(b) for a, b in pairs]) for _, f in PAIRED]
        rows.append([label, group, len(pairs), *cells])
    return rows


def write_paired(grouped: dict, out: str) -> None:
    """paired.md / .csv: `paired_differences`."""
    header = ["run", "group", "images", *[f"Δ {name} (EIG − Oracle)" for name, _ in PAIRED]]
    write_table(os.path.join(out, "paired"), header, paired_differences(grouped))


def head_probabilities(recs: list[dict], labels: dict) -> dict[str, np.ndarray]:
    """{run label: float [bins]}: the share of the EIG heads' probabilities in each bin,
    averaged over every step of every record of the run."""
    hists: dict[str, list] = {}
    for r in recs:
        if "skipped" not in r and r["run"] in labels:
            hists.setdefault(labels[r["run"]], []).extend(steps_of(r, "head_hist"))
    return {label: np.nanmean(np.array(h), axis=0) for label, h in sorted(hists.items())}


def write_head_probs(shares: dict[str, np.ndarray], out: str) -> None:
    """head_probs.md / .csv: `head_probabilities`, a column per bin."""
    if not shares:
        return
    bins = len(next(iter(shares.values())))
    header = ["run", *[f"[{i / bins:.1f}, {(i + 1) / bins:.1f})" for i in range(bins)]]
    rows = [[label, *[float(v) for v in share]] for label, share in shares.items()]
    write_table(os.path.join(out, "head_probs"), header, rows)


def estimator_rows(recs: list[dict], labels: dict) -> list[list]:
    """Per run and NMC budget, over every checked step (`Settings.nmc_check`): steps, the
    mean exact max EIG there, how often NMC's grid argmax is the exact one's, and NMC's
    max-EIG error: its mean (bias) with CI, its standard deviation (spread)."""
    by_run: dict[str, list[dict]] = {}
    for r in recs:
        if "skipped" not in r and r["run"] in labels and "nmc_max_eig_error" in r:
            by_run.setdefault(labels[r["run"]], []).append(r)
    rows = []
    for label, rs in sorted(by_run.items()):
        errors = np.concatenate([steps_of(r, "nmc_max_eig_error") for r in rs])
        agrees = np.concatenate([steps_of(r, "nmc_argmax_agrees") for r in rs])
        exact = np.concatenate([steps_of(r, "max_eig") for r in rs])
        checked = ~np.isnan(errors[:, 0])
        if not checked.any():
            continue
        for b, (n, m) in enumerate(NMC_BUDGETS):
            e = errors[checked, b]
            rows.append(
                [
                    label,
                    f"N={n}, M={m}",
                    int(checked.sum()),
                    float(np.mean(exact[checked])),
                    mean_ci(agrees[checked, b]),
                    mean_ci(e),
                    float(np.std(e)),
                ]
            )
    return rows


def write_estimator(recs: list[dict], labels: dict, out: str) -> None:
    """estimator.md / .csv: `estimator_rows` (nothing without checked steps)."""
    rows = estimator_rows(recs, labels)
    if rows:
        header = [
            "run",
            "budget",
            "steps",
            "exact max EIG",
            "argmax agrees",
            "NMC − exact (bias)",
            "NMC − exact (sd)",
        ]
        write_table(os.path.join(out, "estimator"), header, rows)
