"""The report of a study's workdir: tables (`tables.py`) and the paper's figures
(`figures.py`) from the records of `python -m experiments.study`.

`write_report(workdir)` (also `python -m experiments.study.report --workdir=...`) reads every
`records/*.jsonl` of the workdir with the settings of each run (`runs/`), and writes to
`workdir/report/` the tables of `tables.py`, runs.md (each run's id and the settings that
tell it apart), skipped.md, and the figures.

Records are never averaged across runs (settings): every table and figure groups by run.
"""

import glob
import os
import warnings

from eigjax.models import CONFIGS
from experiments.study import figures, records, tables
from experiments.study.config import ReportOptions

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


def _flat_settings(spec: dict) -> dict:
    flat = {k: v for k, v in spec.items() if k != "protocol"}
    flat.update(spec.get("protocol", {}))
    flat["dataset"] = ":".join([spec["dataset"]["kind"], *spec["dataset"]["paths"]])
    return flat


def run_labels(runs: dict[str, dict]) -> dict[str, str]:
    """{run id: label}: the model plus each setting that differs between the runs."""
    flat = {rid: _flat_settings(spec) for rid, spec in runs.items()}
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
    return f"{name} (control)" if config is not None and config.family == "control" else name


def _shown(key: str, value) -> str:
    """A setting's value in a run label: a params directory as its last two names
    (`finetune/params`), a weights fingerprint as its first 12 characters."""
    if key == "params" and isinstance(value, str):
        return "/".join(value.rstrip("/").split("/")[-2:]) or "none"
    if key == "weights" and isinstance(value, str):
        return value[:12]
    return str(value)


def groups(recs: list[dict], labels: dict[str, str]) -> dict[tuple[str, str, str], list[dict]]:
    """{(run label, group, policy): records}, skipped images left out."""
    out: dict = {}
    for r in recs:
        if "skipped" not in r and r["run"] in labels:
            out.setdefault((labels[r["run"]], r["group"], r["policy"]), []).append(r)
    return dict(sorted(out.items()))


BOX_STARTS = ("box", "noisy_box")  # A box is step 0's prompt, not a click.


def _cap(runs: dict, labels: dict) -> tuple[dict[str, tables.Length], str]:
    """{run label: its prompts and clicks}, and the NoC columns' cap note."""
    lengths = {}
    for rid, spec in runs.items():
        if rid in labels:
            box = spec.get("protocol", {}).get("start") in BOX_STARTS
            lengths[labels[rid]] = tables.Length(spec["steps"], spec["steps"] - box)
    clicks = {length.clicks for length in lengths.values()}
    if len(clicks) > 1:
        return lengths, " (≤ clicks)"
    return lengths, f", ≤ {next(iter(clicks), 0)} clicks"


def write_tables(recs, runs, labels, out: str) -> None:
    """Every table of the report (`tables.py`)."""
    grouped = groups(recs, labels)
    lengths, cap = _cap(runs, labels)
    tables.write_column_tables(grouped, lengths, tables.columns(cap), out)
    tables.write_miou(grouped, lengths, out)
    tables.write_curves(grouped, out)
    tables.write_paired(grouped, out)
    tables.write_eig_vs_random(grouped, out)
    tables.write_head_probs(tables.head_probabilities(recs, labels), out)
    tables.write_estimator(recs, labels, out)
    skipped = [r for r in recs if "skipped" in r and r["run"] in labels]
    if skipped:
        tables.write_table(
            os.path.join(out, "skipped"),
            ["run", "image", "reason"],
            [[labels[r["run"]], r["image_id"], r["skipped"]] for r in skipped],
        )
    tables.write_table(
        os.path.join(out, "runs"),
        ["run", "id", "settings"],
        [
            [labels[rid], rid, ", ".join(f"{k}={v}" for k, v in _flat_settings(spec).items())]
            for rid, spec in sorted(runs.items())
            if rid in labels
        ],
    )


def write_report(workdir: str, options: ReportOptions = ReportOptions()) -> str:
    """Writes the tables and figures of `workdir` to `workdir/report`; returns that path."""
    if not os.path.isdir(os.path.join(workdir, "records")):
        raise FileNotFoundError(f"{workdir}: no records/ here (run python -m experiments.study)")
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
        raise FileNotFoundError(
            f"{workdir}: no records to report (run python -m experiments.study)"
        )
    out = os.path.join(workdir, "report")
    os.makedirs(out, exist_ok=True)
    labels = run_labels(runs)
    write_tables(recs, runs, labels, out)
    grouped = groups(recs, labels)
    if grouped:
        figures.figure1(grouped, os.path.join(out, "fig1.png"), options.fig1_axis)
        figures.miou_plot(grouped, os.path.join(out, "miou.png"))
    shares = tables.head_probabilities(recs, labels)
    if shares:
        figures.head_probs(shares, os.path.join(out, "head_probs.png"))
    _example_figures(workdir, labels, options.fig2_example, out)
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
