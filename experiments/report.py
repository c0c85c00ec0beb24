"""Tables and the paper's figures from the records of `experiments.eig_vs_oracle`.

  python -m experiments.report --workdir=workspace/eig_vs_oracle

Reads every `records/*.jsonl` of the workdir (one per process; merged by model, dataset,
policy and image id) and writes to `workdir/report/`:
  summary.md / .csv       per model, group, policy: images, NoC@85/90, Dice AUC, last Dice
  dice_per_step.md / .csv mean Dice after each click
  max_eig_per_step.md / .csv mean max-EIG before each click (nats)
  fig1.png                rows = groups (sub-datasets / categories), columns = models:
                          Oracle Dice, EIG-guided Dice and max EIG vs step, one y-axis
  fig2_<model>_<image>.png  the EIG map before each click with the clicks as stars, for
                          the EIG-guided and Oracle sequences (from `maps/`)
"""

import csv
import glob
import json
import os
import warnings

import numpy as np
from absl import app, flags

KEY = ("model", "dataset", "policy", "image_id")


def load_records(workdir: str) -> list[dict]:
    """All complete records of the workdir, one per (model, dataset, policy, image)."""
    merged = {}
    for path in sorted(glob.glob(os.path.join(workdir, "records", "*.jsonl"))):
        with open(path) as f:
            for line in f:
                if line.endswith("\n"):  # A line cut by a kill is not a record.
                    rec = json.loads(line)
                    merged[tuple(rec[k] for k in KEY)] = rec
    return [merged[k] for k in sorted(merged)]


def _mean_curve(recs: list[dict], field: str) -> np.ndarray:
    curves = [np.array([np.nan if v is None else v for v in r[field]], float) for r in recs]
    n = max(len(c) for c in curves)
    padded = np.full((len(curves), n), np.nan)
    for i, c in enumerate(curves):
        padded[i, : len(c)] = c
    with warnings.catch_warnings():  # Step 0 has no max EIG: an all-NaN column.
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(padded, axis=0)


def _groups(records: list[dict]) -> dict[tuple[str, str, str], list[dict]]:
    out: dict = {}
    for r in records:
        if "skipped" not in r:
            out.setdefault((r["model"], r["group"], r["policy"]), []).append(r)
    return out


def _write_table(path_stem: str, header: list[str], rows: list[list]) -> None:
    with open(path_stem + ".csv", "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    with open(path_stem + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")


def write_tables(records: list[dict], out: str) -> None:
    groups = _groups(records)
    summary = []
    for (model, group, policy), recs in sorted(groups.items()):
        summary.append(
            [
                model,
                group,
                policy,
                len(recs),
                float(np.mean([r["noc85"] for r in recs])),
                float(np.mean([r["noc90"] for r in recs])),
                float(np.mean([r["dice_auc"] for r in recs])),
                float(np.mean([r["dice"][-1] for r in recs])),
            ]
        )
    skipped = [r for r in records if "skipped" in r]
    _write_table(
        os.path.join(out, "summary"),
        ["model", "group", "policy", "images", "NoC@85", "NoC@90", "Dice AUC", "last Dice"],
        summary,
    )
    for field, name in (("dice", "dice_per_step"), ("max_eig", "max_eig_per_step")):
        rows, steps = [], 0
        for (model, group, policy), recs in sorted(groups.items()):
            curve = _mean_curve(recs, field)
            steps = max(steps, len(curve))
            rows.append([model, group, policy, *[float(v) for v in curve]])
        _write_table(
            os.path.join(out, name),
            ["model", "group", "policy", *[f"step {s}" for s in range(steps)]],
            rows,
        )
    if skipped:
        _write_table(
            os.path.join(out, "skipped"),
            ["model", "image", "reason"],
            [[r["model"], r["image_id"], r["skipped"]] for r in skipped],
        )


def figure1(records: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    groups = _groups(records)
    models = sorted({m for m, _, _ in groups})
    rows = sorted({g for _, g, _ in groups})
    fig, axes = plt.subplots(
        len(rows),
        len(models),
        figsize=(3.6 * len(models), 2.8 * len(rows)),
        sharey=True,
        squeeze=False,
    )
    for i, group in enumerate(rows):
        for j, model in enumerate(models):
            ax = axes[i][j]
            for policy, field, label, style in (
                ("oracle", "dice", "Oracle Dice", "-o"),
                ("eig", "dice", "EIG-guided Dice", "-s"),
                ("eig", "max_eig", "max EIG (nats)", "--^"),
            ):
                recs = groups.get((model, group, policy))
                if recs:
                    curve = _mean_curve(recs, field)
                    ax.plot(np.arange(len(curve)), curve, style, ms=3, label=label)
            ax.set_ylim(0, 1)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(model)
            if j == 0:
                ax.set_ylabel(group)
            if i == len(rows) - 1:
                ax.set_xlabel("step (click)")
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def figure2(maps_path: str, path: str) -> None:
    """EIG maps before each click with stars at the clicks, EIG-guided over Oracle."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = np.load(maps_path)
    policies = [p for p in ("eig", "oracle") if f"{p}_maps" in data]
    steps = data[f"{policies[0]}_maps"].shape[0]
    fig, axes = plt.subplots(
        len(policies), steps, figsize=(2.4 * steps, 2.6 * len(policies)), squeeze=False
    )
    image = data["image"]
    # One colour scale per figure, up to its largest EIG: models differ by orders of
    # magnitude (a box-trained model's heads barely disagree), the titles give values.
    vmax = max(float(np.nanmax([np.nanmax(data[f"{p}_maps"][1:]) for p in policies])), 1e-9)
    for i, policy in enumerate(policies):
        maps, clicks = data[f"{policy}_maps"], data[f"{policy}_clicks"]
        dice, max_eig = data[f"{policy}_dice"], data[f"{policy}_max_eig"]
        for s in range(steps):
            ax = axes[i][s]
            ax.imshow(image, cmap="gray")
            if s > 0:  # No EIG map before the first click.
                eig_map = maps[s].astype(np.float32)
                alpha = np.clip(eig_map / vmax, 0, 1) * 0.8  # Zero EIG leaves the image as is.
                ax.imshow(eig_map, cmap="inferno", alpha=alpha, vmin=0, vmax=vmax)
            done = clicks[: s + 1]
            for x, y, label in done:
                if label >= 0:
                    ax.plot(x, y, "*", ms=9, mec="k", mew=0.5, color="lime" if label else "red")
            eig_text = "" if np.isnan(max_eig[s]) else f", max EIG {max_eig[s]:.2g}"
            ax.set_title(
                f"{'EIG-guided' if policy == 'eig' else 'Oracle'} {s}: Dice {dice[s]:.2f}{eig_text}",
                fontsize=7,
            )
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(workdir: str) -> str:
    out = os.path.join(workdir, "report")
    os.makedirs(out, exist_ok=True)
    records = load_records(workdir)
    if not records:
        raise FileNotFoundError(f"{workdir}: no records to report (run experiments.eig_vs_oracle)")
    write_tables(records, out)
    if _groups(records):
        figure1(records, os.path.join(out, "fig1.png"))
    for maps in sorted(glob.glob(os.path.join(workdir, "maps", "*.npz"))):
        figure2(maps, os.path.join(out, "fig2_" + os.path.basename(maps)[:-4] + ".png"))
    return out


def main(argv):
    del argv
    print(f"report → {write_report(flags.FLAGS.workdir)}")


if __name__ == "__main__":
    # Defined here: experiments.eig_vs_oracle imports this module and has its own --workdir.
    flags.DEFINE_string("workdir", "workspace/eig_vs_oracle", "Experiment directory.")
    app.run(main)
