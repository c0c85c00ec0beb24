"""The study's figures, drawn from the report's groups (`view.View.groups`) and kept maps.

figure1      the paper's Fig. 1: a row per group, a column per run; Dice of every policy
             (mean, interquartile band) and the EIG-guided sequence's max EIG in nats;
             axis "shared" (the paper: all on one y-axis, so EIG levels compare across
             panels) or "twin" (max EIG on a right axis with one scale for the figure)
miou_plot    RITM-style mIoU vs clicks, every run and policy on one axis per group
figure2      the paper's Fig. 2 as a comparison on one example: a row per run × policy
             (EIG-guided, Oracle), a column per step; the EIG map before each click, the
             ground truth's outline, the proposed mask, the clicks and a box start's box
eig_vs_gain  one Oracle step of the example per run: every candidate's EIG against its Dice
             gain, the Oracle's and EIG's choices marked
head_probs   the distribution of the EIG heads' probabilities per run (log scale)
"""

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from eigjax import clicks as click_rules  # noqa: E402
from eigjax.protocol.policies import EIG_GUIDED, PAPER, POLICIES  # noqa: E402

POLICY_NAMES = {name: p.label for name, p in POLICIES.items()}
PALETTE = ("C0", "C1", "C2", "C4", "C7", "C5", "C6", "C8", "C9")  # "C3" is max EIG's.
COLOURS = dict(zip(POLICIES, PALETTE, strict=False))
MAX_EIG = "EIG-guided max EIG (nats)"


def _band(ax, x, values, colour, label, style="-o"):
    """Mean curve with the interquartile range across images as a band."""
    with warnings.catch_warnings():  # Step 0 has no max EIG: an all-NaN column.
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
        lo, hi = np.nanpercentile(values, 25, axis=0), np.nanpercentile(values, 75, axis=0)
    ax.fill_between(x, lo, hi, color=colour, alpha=0.15, lw=0)
    return ax.plot(x, mean, style, color=colour, ms=3, label=label)[0]


def _max_eig_top(grouped: dict) -> float:
    """The largest interquartile top of any panel's max-EIG curve (one scale for all)."""
    tops = [0.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for (_, _, policy), g in grouped.items():
            if policy == EIG_GUIDED.name:
                tops.append(float(np.nanmax(np.nanpercentile(g.steps["max_eig"], 75, axis=0))))
    return max(t for t in tops if np.isfinite(t)) or 1e-12


def _figure1_panel(ax, grouped, run, group, axis, eig_top, handles) -> set:
    """One panel: every policy's Dice and the max-EIG curve; returns the panels' n."""
    n = set()
    for policy in POLICY_NAMES:
        g = grouped.get((run, group, policy))
        if g:
            n.add(len(g))
            dice = g.steps["dice"]
            label = f"{POLICY_NAMES[policy]} Dice"
            handles[label] = _band(ax, np.arange(dice.shape[1]), dice, COLOURS[policy], label)
    eig_guided = grouped.get((run, group, EIG_GUIDED.name))
    if eig_guided:
        target = ax.twinx() if axis == "twin" else ax
        max_eig = eig_guided.steps["max_eig"]
        handles[MAX_EIG] = _band(target, np.arange(max_eig.shape[1]), max_eig, "C3", MAX_EIG, "--^")
        if axis == "twin":
            target.set_ylim(0, 1.05 * eig_top)
            target.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
            target.tick_params(axis="y", colors="C3", labelsize=7)
            target.set_ylabel("max EIG (nats)", color="C3", fontsize=8)
    top = 1.02 if axis == "twin" else max(1.02, 1.05 * eig_top)
    ax.set_ylim(0, top)
    return n


def figure1(grouped: dict, path: str, axis: str = "shared") -> None:
    """The paper's Fig. 1 (`axis`: "shared" as the paper draws it, or "twin")."""
    runs = sorted({k[0] for k in grouped})
    rows = sorted({k[1] for k in grouped})
    fig, axes = plt.subplots(
        len(rows), len(runs), figsize=(4.4 * len(runs), 3.3 * len(rows) + 0.9), squeeze=False
    )
    handles: dict = {}
    eig_top = _max_eig_top(grouped)
    for i, group in enumerate(rows):
        for j, run in enumerate(runs):
            ax = axes[i][j]
            n = _figure1_panel(ax, grouped, run, group, axis, eig_top, handles)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            size = "/".join(str(v) for v in sorted(n))
            ax.set_title(f"{run}\n{group} (n = {size})", fontsize=8)
            if j == 0:
                ax.set_ylabel("Dice" if axis == "twin" else "Dice; max EIG (nats)")
            if i == len(rows) - 1:
                ax.set_xlabel("step (0 = start)")
    note = (
        "one y-axis for every quantity, as the paper"
        if axis == "shared"
        else ("max EIG on the right axis, one scale for every panel")
    )
    ncol = min(len(handles), 2 * len(runs))  # Two entries per column of panels fit.
    fig.legend(
        handles.values(),
        handles.keys(),
        loc="lower center",
        ncol=ncol,
        fontsize=8,
        frameon=False,
        title=f"lines: mean over images; bands: interquartile range;\n{note}",
        title_fontsize=7,
    )
    legend_inches = 0.45 + 0.2 * -(-len(handles) // ncol)  # Its title and its rows.
    fig.tight_layout(rect=(0, legend_inches / fig.get_figheight(), 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def miou_plot(grouped: dict, path: str) -> None:
    rows = sorted({k[1] for k in grouped})
    fig, axes = plt.subplots(1, len(rows), figsize=(5 * len(rows) + 3.5, 4.2), squeeze=False)
    runs = sorted({k[0] for k in grouped})
    styles = ["-", "--", ":", "-."]
    for ax, group in zip(axes[0], rows, strict=True):
        for (run, name, policy), g in grouped.items():
            if name != group:
                continue
            iou = g.steps["iou"]
            clicks = np.arange(1, iou.shape[1] + 1)
            ax.plot(
                clicks,
                np.nanmean(iou, axis=0),
                styles[runs.index(run) % 4],
                marker="o",
                ms=3,
                color=COLOURS[policy],
                label=f"{run} · {POLICY_NAMES[policy]} (n={len(g)})",
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
    if min(gt.shape) < 2:  # Too small for a contour: the regions themselves, tinted.
        for region, colour in ((gt, (0, 1, 1, 0.4)), (mask, (1, 1, 0, 0.4))):
            ax.imshow(np.where(region[..., None], colour, 0.0))
    else:
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


def _comparison_row(fig, axes, data, policy: str, label: str) -> None:
    """One run's sequence under one policy: a panel per step with the EIG map before its
    click (the row's colour scale: its maximum over all pixels of the row's maps)."""
    maps = data[f"{policy}_maps"].astype(np.float32)
    steps = maps.shape[0]
    vmax = max(float(np.nanmax(maps[1:])) if steps > 1 else 0.0, 1e-12)
    heat = None
    for s in range(steps):
        ax = axes[s]
        clicks = data[f"{policy}_clicks"][: s + 1]
        box = data[f"{policy}_box"]
        _draw_prompt(ax, data["image"], data["gt"], data[f"{policy}_masks"][s], clicks, box)
        if s > 0:  # The EIG map before click s; none before the start.
            heat = ax.imshow(maps[s], cmap="inferno", alpha=0.6, vmin=0, vmax=vmax)
        max_eig = data[f"{policy}_max_eig"][s]
        eig_text = "" if np.isnan(max_eig) else f"\ngrid max EIG {max_eig:.2g}"
        ax.set_title(f"step {s}: Dice {data[f'{policy}_dice'][s]:.2f}{eig_text}", fontsize=7)
    axes[0].text(
        -0.08,
        0.5,
        f"{label.replace(' · ', chr(10))}\n{POLICY_NAMES[policy]}",
        transform=axes[0].transAxes,
        rotation=90,
        ha="right",
        va="center",
        fontsize=7,
    )
    cax = axes[steps]
    if heat is not None:
        fig.colorbar(heat, cax=cax).set_label("EIG (nats); top: row max, all pixels", fontsize=6)
        cax.tick_params(labelsize=6)
    else:
        cax.axis("off")


def figure2(examples: dict[str, str], example: str, path: str) -> None:
    """The comparison on one example: `examples` {run label: its maps file (.npz)}."""
    rows = [(label, np.load(f), p) for label, f in sorted(examples.items()) for p in PAPER]
    rows = [(label, data, p) for label, data, p in rows if f"{p}_maps" in data]
    steps = max(data[f"{p}_maps"].shape[0] for _, data, p in rows)
    fig, axes = plt.subplots(
        len(rows),
        steps + 1,
        figsize=(2.3 * steps + 1.2, 2.5 * len(rows) + 0.6),
        squeeze=False,
        gridspec_kw={"width_ratios": [1] * steps + [0.06]},
        layout="constrained",
    )
    for i, (label, data, policy) in enumerate(rows):
        for ax in axes[i][data[f"{policy}_maps"].shape[0] : steps]:
            ax.axis("off")
        _comparison_row(fig, axes[i], data, policy, label)
    fig.suptitle(
        f"{example}: ground truth (cyan), proposed mask (yellow), clicks (green: positive, "
        "red: negative;\nthe newest large, ringed), a box start's box (dashed); heat: the "
        "EIG map before each click",
        fontsize=8,
    )
    fig.savefig(path, dpi=120)
    plt.close(fig)


def eig_vs_gain(examples: dict[str, str], example: str, step: int, path: str) -> bool:
    """Oracle step `step` of the example in each run: candidates' EIG (before the click)
    against their Dice gain; the Oracle's click and EIG's argmax marked. False when no run
    kept that step's search."""
    panels = []
    for label, f in sorted(examples.items()):
        data = np.load(f)
        key = f"{PAPER[1]}_candidate_dice"
        if key in data and data[key].shape[0] > step and not np.isnan(data[key][step]).all():
            panels.append((label, data))
    if not panels:
        return False
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False, layout="constrained"
    )
    for ax, (label, data) in zip(axes[0], panels, strict=True):
        _scatter(ax, data, step)
        ax.set_title(f"{label}\n{example}, Oracle step {step}", fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _scatter(ax, data, step: int) -> None:
    oracle = PAPER[1]
    gt = data["gt"]
    grid = click_rules.grid_points(*gt.shape, int(data["grid"]))
    eig = data[f"{oracle}_maps"][step].astype(np.float64)[grid[:, 1], grid[:, 0]]
    gain = data[f"{oracle}_candidate_dice"][step] - data[f"{oracle}_dice"][step - 1]
    taken = np.zeros(len(grid), bool)
    for x, y, _ in data[f"{oracle}_clicks"][:step]:
        taken |= (grid[:, 0] == x) & (grid[:, 1] == y)
    ax.scatter(eig[~taken], gain[~taken], s=6, alpha=0.5, color="C7", label="candidates")
    best, chosen = (
        np.argmax(np.where(taken, -np.inf, gain)),
        np.argmax(np.where(taken, -np.inf, eig)),
    )
    ax.scatter(eig[best], gain[best], s=60, marker="D", color="C1", label="Oracle's click")
    ax.scatter(eig[chosen], gain[chosen], s=80, marker="*", color="C0", label="EIG's argmax")
    ax.set_xlabel("EIG before the click (nats)")
    ax.set_ylabel("Dice gain of the click")
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def head_probs(shares: dict[str, np.ndarray], path: str) -> None:
    """Per run, the share of the EIG heads' probabilities in each bin (log scale)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6), layout="constrained")
    bins = len(next(iter(shares.values())))
    width = 0.8 / len(shares)
    for i, (label, share) in enumerate(shares.items()):
        x = np.arange(bins) + (i - (len(shares) - 1) / 2) * width
        ax.bar(x, np.where(share > 0, share, np.nan), width, label=label)  # No bar: none.
    ax.set_yscale("log")
    ax.set_xticks(
        np.arange(bins), [f"{i / bins:.1f}–{(i + 1) / bins:.1f}" for i in range(bins)], fontsize=7
    )
    ax.set_xlabel("probability θ_k(d) of a head at a pixel")
    ax.set_ylabel("share of pixels × heads")
    ax.set_title("How extreme are the heads? (every step of every image)", fontsize=9)
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=120)
    plt.close(fig)
