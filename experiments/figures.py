"""The study's figures, drawn from grouped records (`summarize.groups`) and Fig. 2 maps.

figure1    the paper's Fig. 1: a row per group, a column per run; Dice of every policy
           (mean, interquartile band) on the left axis, the EIG-guided sequence's max
           EIG on its own right axis in nats; n per panel; the legend below
miou_plot  RITM-style mIoU vs clicks, every run and policy on one axis per group
figure2    the paper's Fig. 2 for one image: per step, the EIG map before the click
           (own colour scale per row, with a colour bar), the ground-truth outline, the
           proposed mask, the clicks (newest ringed) and the box of a box start
"""

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from eigjax.protocol.policies import EIG_GUIDED, PAPER, POLICIES  # noqa: E402
from experiments import records  # noqa: E402

POLICY_NAMES = {name: p.label for name, p in POLICIES.items()}
PALETTE = ("C0", "C1", "C2", "C4", "C7", "C5", "C6", "C8", "C9")  # "C3" is max EIG's.
COLOURS = dict(zip(POLICIES, PALETTE, strict=False))


def _band(ax, x, values, colour, label, style="-o"):
    """Mean curve with the interquartile range across images as a band."""
    with warnings.catch_warnings():  # Step 0 has no max EIG: an all-NaN column.
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
        lo, hi = np.nanpercentile(values, 25, axis=0), np.nanpercentile(values, 75, axis=0)
    ax.fill_between(x, lo, hi, color=colour, alpha=0.15, lw=0)
    return ax.plot(x, mean, style, color=colour, ms=3, label=label)[0]


def figure1(grouped: dict, path: str) -> None:
    runs = sorted({k[0] for k in grouped})
    rows = sorted({k[1] for k in grouped})
    fig, axes = plt.subplots(
        len(rows), len(runs), figsize=(4.2 * len(runs), 3.2 * len(rows) + 0.8), squeeze=False
    )
    handles = {}
    for i, group in enumerate(rows):
        for j, run in enumerate(runs):
            ax = axes[i][j]
            n = set()
            for policy in POLICY_NAMES:
                recs = grouped.get((run, group, policy))
                if not recs:
                    continue
                n.add(len(recs))
                dice = records.per_step(recs, "dice")
                x = np.arange(dice.shape[1])
                handles[f"{POLICY_NAMES[policy]} Dice"] = _band(
                    ax, x, dice, COLOURS[policy], f"{POLICY_NAMES[policy]} Dice"
                )
            eig_recs = grouped.get((run, group, EIG_GUIDED.name))
            if eig_recs:
                right = ax.twinx()
                max_eig = records.per_step(eig_recs, "max_eig")
                x = np.arange(max_eig.shape[1])
                handles["EIG-guided max EIG (right axis)"] = _band(
                    right, x, max_eig, "C3", "EIG-guided max EIG (right axis)", "--^"
                )
                right.set_ylim(bottom=0)
                right.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
                right.tick_params(axis="y", colors="C3", labelsize=7)
                if j == len(runs) - 1:
                    right.set_ylabel("max EIG (nats)", color="C3")
            ax.set_ylim(0, 1.02)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            size = "/".join(str(v) for v in sorted(n))
            ax.set_title(f"{run}\n{group} (n = {size})", fontsize=8)
            if j == 0:
                ax.set_ylabel("Dice")
            if i == len(rows) - 1:
                ax.set_xlabel("step (0 = start)")
    fig.legend(
        handles.values(),
        handles.keys(),
        loc="lower center",
        ncol=min(len(handles), 4),
        fontsize=8,
        frameon=False,
        title="lines: mean over images; bands: interquartile range",
        title_fontsize=7,
    )
    fig.tight_layout(rect=(0, 0.12 if len(rows) == 1 else 0.06, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def miou_plot(grouped: dict, path: str) -> None:
    rows = sorted({k[1] for k in grouped})
    fig, axes = plt.subplots(1, len(rows), figsize=(5 * len(rows) + 3.5, 4.2), squeeze=False)
    runs = sorted({k[0] for k in grouped})
    styles = ["-", "--", ":", "-."]
    for ax, group in zip(axes[0], rows, strict=True):
        for (run, g, policy), recs in grouped.items():
            if g != group:
                continue
            iou = records.per_step(recs, "iou")
            clicks = np.arange(1, iou.shape[1] + 1)
            ax.plot(
                clicks,
                np.nanmean(iou, axis=0),
                styles[runs.index(run) % 4],
                marker="o",
                ms=3,
                color=COLOURS[policy],
                label=f"{run} · {POLICY_NAMES[policy]} (n={len(recs)})",
            )
        ax.set_xlabel("number of clicks (the start counts as one)")
        ax.set_ylabel("mIoU")
        ax.set_ylim(0, 1.02)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.set_title(group)
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _draw_prompt(ax, image, gt, mask, clicks, box) -> None:
    """One panel's picture: the image, the ground truth's outline (cyan), the proposed mask
    (yellow), the box of a box start (dashed) and the clicks so far, the last one ringed."""
    ax.imshow(image, cmap="gray")
    ax.contour(gt, levels=[0.5], colors="cyan", linewidths=0.8)
    if mask.any():
        ax.contour(mask, levels=[0.5], colors="yellow", linewidths=0.8)
    if not np.isnan(box).any():
        x0, y0, x1, y1 = box
        rect = plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="white", lw=0.8, ls="--")
        ax.add_patch(rect)
    for j, (x, y, label) in enumerate(clicks):
        if label < 0:
            continue
        newest = j == len(clicks) - 1
        ax.plot(
            x,
            y,
            "*",
            ms=13 if newest else 8,
            color="lime" if label else "red",
            mec="white" if newest else "black",
            mew=1.2 if newest else 0.4,
        )
    ax.axis("off")


def _figure2_row(fig, axes, data, policy: str) -> None:
    """One policy's sequence: a panel per step, the EIG map before its click under it (own
    colour scale per row: models and sequences differ by orders of magnitude)."""
    maps = data[f"{policy}_maps"].astype(np.float32)
    steps = maps.shape[0]
    vmax = max(float(np.nanmax(maps[1:])) if steps > 1 else 0.0, 1e-12)
    heat = None
    for s in range(steps):
        ax = axes[s]
        clicks = data[f"{policy}_clicks"][: s + 1]
        _draw_prompt(
            ax, data["image"], data["gt"], data[f"{policy}_masks"][s], clicks, data[f"{policy}_box"]
        )
        if s > 0:  # The EIG map before click s; none before the start.
            heat = ax.imshow(maps[s], cmap="inferno", alpha=0.6, vmin=0, vmax=vmax)
        max_eig = data[f"{policy}_max_eig"][s]
        eig_text = "" if np.isnan(max_eig) else f", max EIG {max_eig:.2g}"
        dice = data[f"{policy}_dice"][s]
        ax.set_title(f"{POLICY_NAMES[policy]} {s}: Dice {dice:.2f}{eig_text}", fontsize=7)
    cax = axes[steps]
    if heat is not None:
        fig.colorbar(heat, cax=cax).set_label("EIG (nats)", fontsize=7)
        cax.tick_params(labelsize=6)
    else:
        cax.axis("off")


def figure2(maps_path: str, run: str, path: str) -> None:
    data = np.load(maps_path)
    policies = [p for p in PAPER if f"{p}_maps" in data]
    steps = data[f"{policies[0]}_maps"].shape[0]
    fig, axes = plt.subplots(
        len(policies),
        steps + 1,
        figsize=(2.5 * steps + 0.5, 2.7 * len(policies) + 0.4),
        squeeze=False,
        gridspec_kw={"width_ratios": [1] * steps + [0.06]},
    )
    for i, policy in enumerate(policies):
        _figure2_row(fig, axes[i], data, policy)
    box_note = ", box (dashed)" if not np.isnan(data[f"{policies[0]}_box"]).any() else ""
    fig.suptitle(
        f"{run}: ground truth (cyan), proposed mask (yellow), clicks (green: "
        f"positive, red: negative; the newest large, ringed white){box_note}",
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
