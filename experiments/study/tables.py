"""The report's tables, each from the report's view of the records (`view.py`): every number
here can be recomputed from the JSONL lines (`tests/experiments/study/test_report.py` does).

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
  eig_vs_random.md/.csv  EIG-guided − random on the same images (Dice AUC, last Dice), and
                         the share of the random → Oracle gap EIG-guided closes
  head_probs.md / .csv   the distribution of the EIG heads' probabilities per run
  estimator.md / .csv    the paper's NMC estimator against the exact EIG, per budget
  iou_calibration.md/.csv  the IoU head against the true IoU per run: how often its
                         predicted IoU picks the best multimask token, the IoU that costs,
                         and its error per token
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
from eigjax.protocol.policies import EIG_GUIDED, RANDOM_GRID
from eigjax.protocol.policies import ORACLE as ORACLE_POLICY
from experiments.study.view import View

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


def write_table(path_stem: str, header: list[str], rows: list[list], note: str = "") -> None:
    """`.md` (CIs in brackets; `note` below the table) and `.csv` (a column per mean and
    bound)."""
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
    if note:
        lines += ["", note]
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


NOTES = {
    "eig_ranking": "EIG regret is (best gain − gain of EIG's own click) / best gain: 0 when "
    "EIG picks the Oracle's click, 1 when its click gains nothing, above 1 when its click "
    "loses Dice (a negative gain), as a model whose EIG points away from its errors does.",
    "eig_error": "EIG-error AUROC: how well the EIG map before a click ranks the unclicked "
    "grid points the proposed mask gets wrong above those it gets right (0.5: chance). "
    "EIG after the click: the EIG left at the clicked pixel once the click is in (near 0: "
    "the click settled the heads there).",
}


def write_column_tables(view: View, tables: dict, out: str) -> None:
    """Each table of `tables` ({name: columns}) as `<name>.md/.csv` (rows where every
    value is missing are left out), and per_image.csv with every column."""
    for name, cols in tables.items():
        rows = []
        for (label, group, policy), g in view.groups.items():
            cells = [total(c, g.records) for c in cols]
            if name != "summary" and all(_missing(v) for v in cells):
                continue
            length = view.lengths[label]
            rows.append([label, group, policy, len(g), length.prompts, length.clicks, *cells])
        header = ["run", "group", "policy", "images", "prompts", "clicks"]
        header += [c.title for c in cols]
        write_table(os.path.join(out, name), header, rows, NOTES.get(name, ""))
    every = [c for cols in tables.values() for c in cols]
    with open(os.path.join(out, "per_image.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run", "run id", "group", "policy", "image", *[c.title for c in every]])
        for (label, group, policy), g in view.groups.items():
            for r in g.records:
                row = [label, r["run"], group, policy, r["image_id"]]
                writer.writerow(row + [c.value(r) for c in every])


def _missing(v) -> bool:
    return bool(np.isnan(v[0] if isinstance(v, tuple) else v))


def write_miou(view: View, out: str) -> None:
    """miou.md / .csv: mIoU@k (the IoU after click k) for k in MIOU_AT up to the longest
    run; after a box start click k is step k."""
    longest = max((n.clicks for n in view.lengths.values()), default=0)
    ks = [k for k in metrics.MIOU_AT if k <= longest]
    rows = []
    for (label, group, policy), g in view.groups.items():
        iou, n = g.steps["iou"], view.lengths[label]
        step = n.first_click_step - 1
        cells = [float(np.mean(iou[:, k + step])) if k <= n.clicks else "–" for k in ks]
        rows.append([label, group, policy, len(g), *cells])
    header = ["run", "group", "policy", "images", *[f"mIoU@{k}" for k in ks]]
    write_table(os.path.join(out, "miou"), header, rows)


def write_curves(view: View, out: str) -> None:
    """<field>_per_step.md / .csv: the mean over images per step, for every field of
    `protocol.FIELDS` with a curve."""
    for field in (f for f in FIELDS if f.curve):
        rows, n = [], 0
        for (label, group, policy), g in view.groups.items():
            with warnings.catch_warnings():  # Step 0 has no max EIG: an all-NaN column.
                warnings.simplefilter("ignore", RuntimeWarning)
                curve = np.nanmean(g.steps[field.name], axis=0)
            n = max(n, len(curve))
            rows.append([label, group, policy, *[float(v) for v in curve]])
        rows = [r + ["–"] * (n + 3 - len(r)) for r in rows]
        header = ["run", "group", "policy", *[f"step {s}" for s in range(n)]]
        write_table(os.path.join(out, f"{field.name}_per_step"), header, rows)


ORACLE = ORACLE_POLICY.name


def paired(recs: list[dict], others: list[dict]) -> list[tuple[dict, dict]]:
    """(record, the other policy's record of the same image) for each image both ran."""
    theirs = {r["image_id"]: r for r in others}
    return [(r, theirs[r["image_id"]]) for r in recs if r["image_id"] in theirs]


PAIRED = (("Dice AUC", lambda r: r["dice_auc"]), ("last Dice", lambda r: steps_of(r, "dice")[-1]))


def paired_differences(view: View) -> list[list]:
    """Rows (run, group, images, then per PAIRED number the mean of EIG-guided − Oracle
    over the images both ran, with its bootstrap CI)."""
    rows, grouped = [], view.groups
    for (label, group, policy), g in grouped.items():
        if policy != EIG_GUIDED.name or (label, group, ORACLE) not in grouped:
            continue
        pairs = paired(g.records, grouped[label, group, ORACLE].records)
        cells = [mean_ci([f(a) - f(b) for a, b in pairs]) for _, f in PAIRED]
        rows.append([label, group, len(pairs), *cells])
    return rows


def write_paired(view: View, out: str) -> None:
    """paired.md / .csv: `paired_differences`."""
    header = ["run", "group", "images", *[f"Δ {name} (EIG − Oracle)" for name, _ in PAIRED]]
    write_table(os.path.join(out, "paired"), header, paired_differences(view))


def _gap_closed(eig, rand, oracle, axis=-1):
    """(mean EIG − mean random) / (mean Oracle − mean random) over images (`axis`)."""
    gap = np.mean(oracle, axis) - np.mean(rand, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap > 0, (np.mean(eig, axis) - np.mean(rand, axis)) / gap, np.nan)


def gap_closed_ci(eig, rand, oracle) -> tuple[float, float, float]:
    """`_gap_closed` of per-image Dice AUCs [n] and its 95 % paired bootstrap CI (images
    resampled together; NaN for n < 2 or no gap)."""
    value = float(_gap_closed(np.asarray(eig), np.asarray(rand), np.asarray(oracle)))
    if len(eig) < 2 or np.isnan(value):
        return value, np.nan, np.nan
    res = stats.bootstrap(
        (np.asarray(eig), np.asarray(rand), np.asarray(oracle)),
        _gap_closed,
        paired=True,
        vectorized=True,
        confidence_level=0.95,
        n_resamples=2000,
        method="percentile",
        random_state=0,
    )
    ci = res.confidence_interval
    return value, float(ci.low), float(ci.high)


def eig_vs_random_rows(view: View) -> list[list]:
    """Rows (run, group, images, Δ Dice AUC and Δ last Dice of EIG-guided − random with
    bootstrap CIs over the images both ran, images the Oracle ran too, and the share of
    the random → Oracle Dice-AUC gap that EIG-guided closes there, with its CI)."""
    rows, grouped = [], view.groups
    for (label, group, policy), g in grouped.items():
        random = RANDOM_GRID.name
        if policy != EIG_GUIDED.name or (label, group, random) not in grouped:
            continue
        pairs = paired(g.records, grouped[label, group, random].records)
        cells = [mean_ci([f(a) - f(b) for a, b in pairs]) for _, f in PAIRED]
        oracle = grouped.get((label, group, ORACLE))
        best = {r["image_id"]: r for r in (oracle.records if oracle else [])}
        triples = [
            (a["dice_auc"], b["dice_auc"], best[a["image_id"]]["dice_auc"])
            for a, b in pairs
            if a["image_id"] in best
        ]
        closed = gap_closed_ci(*zip(*triples, strict=True)) if triples else (np.nan,) * 3
        rows.append([label, group, len(pairs), *cells, len(triples), closed])
    return rows


EIG_VS_RANDOM_NOTE = (
    "Criteria, stated before the numbers (docs/control.md, the calibrated control's "
    "criteria): EIG guides a model when Δ Dice AUC (EIG − random) > 0 with a CI above 0 "
    "and EIG-guided closes at least half of the random → Oracle gap (gap closed ≥ 0.5). "
    "Gap closed = (mean EIG-guided − mean random) / (mean Oracle − mean random) Dice AUC "
    "over the images all three ran; CIs: 95 % paired bootstrap over images."
)


def write_eig_vs_random(view: View, out: str) -> None:
    """eig_vs_random.md / .csv: `eig_vs_random_rows` (nothing without both policies)."""
    rows = eig_vs_random_rows(view)
    if not rows:
        return
    header = ["run", "group", "images"]
    header += [f"Δ {name} (EIG − random)" for name, _ in PAIRED]
    header += ["images with the Oracle", "random → Oracle gap closed"]
    write_table(os.path.join(out, "eig_vs_random"), header, rows, EIG_VS_RANDOM_NOTE)


def head_probabilities(view: View) -> dict[str, np.ndarray]:
    """{run label: float [bins]}: the share of the EIG heads' probabilities in each bin,
    averaged over every step of every record of the run."""
    return {
        label: np.nanmean(np.concatenate([steps_of(r, "head_hist") for r in rs]), axis=0)
        for label, rs in view.by_run.items()
    }


def write_head_probs(shares: dict[str, np.ndarray], out: str) -> None:
    """head_probs.md / .csv: `head_probabilities`, a column per bin."""
    if not shares:
        return
    bins = len(next(iter(shares.values())))
    header = ["run", *[f"[{i / bins:.1f}, {(i + 1) / bins:.1f})" for i in range(bins)]]
    rows = [[label, *[float(v) for v in share]] for label, share in shares.items()]
    write_table(os.path.join(out, "head_probs"), header, rows)


def estimator_rows(view: View) -> list[list]:
    """Per run and NMC budget, over every checked step (`Settings.nmc_check`): steps, the
    mean exact max EIG there, how often NMC's grid argmax is the exact one's, and NMC's
    max-EIG error: its mean (bias) with CI, its standard deviation (spread)."""
    rows = []
    for label, every in view.by_run.items():
        rs = [r for r in every if "nmc_max_eig_error" in r]
        if not rs:
            continue
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


def write_estimator(view: View, out: str) -> None:
    """estimator.md / .csv: `estimator_rows` (nothing without checked steps)."""
    rows = estimator_rows(view)
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


IOU_CALIBRATION_NOTE = (
    "Over every step of every record (the paper's heads and the mask rule read the same "
    "IoU head); each click sequence's (an image under one policy) steps are averaged first, "
    "and the CIs are over sequences. "
    "*picks best*: the multimask token (1–3) of best predicted IoU has the best true IoU "
    "(ties count as picked); *IoU lost*: best true IoU of tokens 1–3 minus that of the "
    "pick; *error*: predicted minus true IoU (its mean is the head's bias, its mean "
    "magnitude the calibration error), for tokens 1–3 and token 0. Records written "
    "before `iou_pred_error` existed are left out."
)


def iou_calibration_rows(view: View) -> list[list]:
    """Per run: click sequences (image × policy), steps, how often the predicted IoU picks
    the best multimask token, the true IoU lost by its pick, and predicted − true IoU
    (bias and magnitude) for tokens 1–3 and token 0, each a per-sequence mean with a CI
    over sequences."""
    rows = []
    for label, every in view.by_run.items():
        rs = [r for r in every if "iou_pred_error" in r]
        per_image = []
        for r in rs:
            pred, error = steps_of(r, "iou_pred"), steps_of(r, "iou_pred_error")
            kept = ~np.isnan(error).any(axis=1)
            if not kept.any() or pred.shape[1] < 2:
                continue
            pred, true = pred[kept], pred[kept] - error[kept]
            pick = 1 + np.argmax(pred[:, 1:], axis=1)
            best = np.max(true[:, 1:], axis=1)
            chosen = true[np.arange(len(true)), pick]
            multi = error[kept][:, 1:]
            per_image.append(
                [
                    int(kept.sum()),
                    np.mean(chosen >= best),
                    np.mean(best - chosen),
                    np.mean(multi),
                    np.mean(np.abs(multi)),
                    np.mean(error[kept][:, 0]),
                    np.mean(np.abs(error[kept][:, 0])),
                ]
            )
        if not per_image:
            continue
        v = np.array(per_image, float)
        rows.append([label, len(v), int(v[:, 0].sum()), *[mean_ci(v[:, j]) for j in range(1, 7)]])
    return rows


def write_iou_calibration(view: View, out: str) -> None:
    """iou_calibration.md / .csv: `iou_calibration_rows` (nothing without such records)."""
    rows = iou_calibration_rows(view)
    if rows:
        header = [
            "run",
            "sequences",
            "steps",
            "picks best",
            "IoU lost",
            "error 1–3 (bias)",
            "abs error 1–3",
            "error 0 (bias)",
            "abs error 0",
        ]
        write_table(os.path.join(out, "iou_calibration"), header, rows, IOU_CALIBRATION_NOTE)
