"""Draw a fine-tune's learning curve from a study report: EIG-guided − random Dice AUC and
the EIG-error AUROC, with their 95 % CIs, against training steps, a panel row per group.

  python scripts/learning_curve.py --report=workspace/finetune_eval/report \
    --params=params/litemedsam,params_at/300,params_at/1000,finetune_long/params \
    --steps=0,300,1000,1500
    --other=finetune/params@300 --output=docs/finetune_learning_curve.png

Reads the report's `eig_vs_random.csv` and `eig_error.csv`. A run is the row whose label
ends with `params=P` (the study's label for a params directory: its last two names, e.g.
`params/litemedsam` for the converted weights in the cache), not the control's; the
calibrated control's values are drawn as a dashed line per group where the report has
them.
"""

import csv
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("report", None, "The study's report folder.", required=True)
flags.DEFINE_list("params", None, "Each checkpoint's params as run labels end.", required=True)
flags.DEFINE_list("steps", None, "Each checkpoint's training steps (0: before).", required=True)
flags.DEFINE_list("groups", None, "The report's groups to draw (default: all).")
flags.DEFINE_string("other", None, "Another run drawn apart, as PARAMS@STEPS (e.g. a shorter run).")
flags.DEFINE_string("output", "learning_curve.png", "The figure (.png).")

CONTROL = "calibrated (control)"
PANELS = (  # (file, policy or None, column, y label, chance line)
    ("eig_vs_random", None, "Δ Dice AUC (EIG − random)", "Δ Dice AUC, EIG − random", 0.0),
    ("eig_error", "eig", "EIG-error AUROC", "EIG-error AUROC (EIG-guided)", 0.5),
)


def read(report: str, name: str) -> list[dict]:
    """The rows of `report/name.csv`; a clear error where the report lacks it."""
    path = os.path.join(report, f"{name}.csv")
    if not os.path.isfile(path):
        raise SystemExit(f"{path}: not found (a study report with EIG-guided and random runs)")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def value(row: dict, column: str) -> tuple[float, float, float]:
    """(mean, CI low, CI high) of `column` in a report row."""
    return tuple(float(row[c]) for c in (column, f"{column} CI low", f"{column} CI high"))


def in_panel(rows, group, policy) -> list[dict]:
    """The rows of `group` (and of `policy`, where the table has one per policy)."""
    return [r for r in rows if r["group"] == group and (policy is None or r["policy"] == policy)]


def curve(rows, column, params) -> list:
    """Per checkpoint, the (mean, low, high) of its run among `rows`, or None."""
    out = []
    for p in params:
        hit = [
            r for r in rows if r["run"].endswith(f"params={p}") and not r["run"].startswith(CONTROL)
        ]
        out.append(value(hit[0], column) if hit else None)
    return out


def draw(ax, steps, points, style, label) -> None:
    """The points found (mean with its CI as an error bar) at their training steps."""
    found = [(s, p) for s, p in zip(steps, points, strict=True) if p]
    if found:
        xs, ys = zip(*found, strict=True)
        err = [[y[0] - y[1] for y in ys], [y[2] - y[0] for y in ys]]
        ax.errorbar(xs, [y[0] for y in ys], yerr=err, fmt=style, ms=8, capsize=3, label=label)


def main(argv):
    del argv
    if len(FLAGS.params) != len(FLAGS.steps):
        raise SystemExit("--params and --steps: one training step count per checkpoint")
    steps = [int(s) for s in FLAGS.steps]
    other, at = FLAGS.other.rsplit("@", 1) if FLAGS.other else (None, None)
    tables = {name: read(FLAGS.report, name) for name, *_ in PANELS}
    groups = FLAGS.groups or sorted({r["group"] for r in tables["eig_vs_random"]})
    fig, axes = plt.subplots(
        len(groups), len(PANELS), figsize=(4.2 * len(PANELS), 3 * len(groups)), squeeze=False
    )
    for row, group in zip(axes, groups, strict=True):
        for ax, (name, policy, column, ylabel, chance) in zip(row, PANELS, strict=True):
            rows = in_panel(tables[name], group, policy)
            points = curve(rows, column, FLAGS.params)
            draw(ax, steps, points, "o-", "checkpoints (0: the given weights)")
            if other:
                draw(ax, [int(at)], curve(rows, column, [other]), "*", f"{other} ({at} steps)")
            control = [r for r in rows if r["run"].startswith(CONTROL)]
            if control:
                ax.axhline(value(control[0], column)[0], ls="--", c="C2", label=CONTROL)
            ax.axhline(chance, c="grey", lw=0.8)
            ax.set(title=f"{group}", xlabel="training steps", ylabel=ylabel)
            ax.set_xticks(steps)
        row[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FLAGS.output, dpi=120)
    print(f"learning curve → {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
