"""The report of a study's workdir: tables (`tables.py`) and the paper's figures
(`figures.py`) from the records of `eigjax-study`.

`write_report(workdir)` (also `eigjax-study --report_only --workdir=...`) reads every
`records/*.jsonl` of the workdir with the settings of each run (`runs/`) once, into the
report's view (`view.py`), and writes to `workdir/report/` the tables of `tables.py`,
runs.md (each run's id and the settings that tell it apart), skipped.md, and the figures.
"""

import glob
import os
import warnings

from experiments.study import figures, records, tables
from experiments.study.config import ReportOptions
from experiments.study.view import View, build, flat_settings


def write_tables(view: View, out: str) -> None:
    """Every table of the report (`tables.py`)."""
    tables.write_column_tables(view, tables.columns(view.cap), out)
    tables.write_miou(view, out)
    tables.write_curves(view, out)
    tables.write_paired(view, out)
    tables.write_eig_vs_random(view, out)
    tables.write_head_probs(tables.head_probabilities(view), out)
    tables.write_estimator(view, out)
    tables.write_iou_calibration(view, out)
    if view.skipped:
        tables.write_table(
            os.path.join(out, "skipped"),
            ["run", "image", "reason"],
            [[view.labels[r["run"]], r["image_id"], r["skipped"]] for r in view.skipped],
        )
    tables.write_table(
        os.path.join(out, "runs"),
        ["run", "id", "settings"],
        [
            [view.labels[rid], rid, ", ".join(f"{k}={v}" for k, v in flat_settings(spec).items())]
            for rid, spec in sorted(view.runs.items())
        ],
    )


def write_report(workdir: str, options: ReportOptions = ReportOptions()) -> str:
    """Writes the tables and figures of `workdir` to `workdir/report`; returns that path."""
    if not os.path.isdir(os.path.join(workdir, "records")):
        raise FileNotFoundError(f"{workdir}: no records/ here (run eigjax-study)")
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
        raise FileNotFoundError(f"{workdir}: no records to report (run eigjax-study)")
    out = os.path.join(workdir, "report")
    os.makedirs(out, exist_ok=True)
    view = build(recs, runs)
    write_tables(view, out)
    if view.groups:
        figures.figure1(view.groups, os.path.join(out, "fig1.png"), options.fig1_axis)
        figures.miou_plot(view.groups, os.path.join(out, "miou.png"))
    shares = tables.head_probabilities(view)
    if shares:
        figures.head_probs(shares, os.path.join(out, "head_probs.png"))
    _example_figures(workdir, view.labels, options.fig2_example, out)
    return out


def kept_maps(workdir: str, labels: dict[str, str]) -> dict[str, dict[str, str]]:
    """{sample id: {run label: its maps file}} of every sample whose maps a run kept."""
    kept: dict[str, dict[str, str]] = {}
    for path in sorted(glob.glob(os.path.join(workdir, "maps", "*", "*.npz"))):
        run = os.path.basename(os.path.dirname(path))
        if run in labels:
            kept.setdefault(os.path.basename(path)[:-4], {})[labels[run]] = path
    return kept


def _example_figures(workdir: str, labels: dict, example: str, out: str) -> None:
    """Fig. 2 and the EIG-vs-gain scatter on `example` (default: the first sample every
    run kept maps for, else the one kept by the most runs)."""
    kept = kept_maps(workdir, labels)
    if not kept:
        return
    if example and example not in kept:
        raise ValueError(f"--fig2_example={example}: no kept maps; kept: {sorted(kept)}")
    example = example or max(sorted(kept), key=lambda k: len(kept[k]))
    figures.figure2(kept[example], example, os.path.join(out, "fig2.png"))
    figures.eig_vs_gain(kept[example], example, 1, os.path.join(out, "eig_vs_gain.png"))
