"""The per-step fields of a click sequence, declared once.

Each `StepField` names a number recorded after every step, says how it is computed on
the device (from a `StepView` of the step) and how the report aggregates it. The device
trace (`Trace`), the record (`Record`), its JSON and the report's tables are all built by
iterating `FIELDS`: a new metric is one entry here plus the function that computes it.
"""

import dataclasses
from collections.abc import Callable
from typing import Literal, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp

from eigjax import eig as eig_lib
from eigjax import metrics, ranking
from eigjax.assess import HEAD_BINS, Assessment, best_unclicked

NO_CLICK = -1  # (x, y, label) of a step without a click: a box start, or no error left.
# A click is recorded as (x, y, label); x == NO_CLICK marks none, label -1 at a real (x, y)
# is SAM's "not a point" (a padding token, SAM-Med2D's draw when no error is left).


class StepView(NamedTuple):
    """What the fields of step s are computed from (one image, traced)."""

    before: Assessment | None  # the prediction the click was chosen on; None at step 0
    after: Assessment  # the prediction after step s's prompt
    click: jax.Array  # int [3]: (x, y, label), NO_CLICK x 3 when the step clicked nowhere
    clicked: jax.Array  # bool [G]: grid points taken before the click
    grid: jax.Array  # int [G, 2]: the candidate grid (x, y)
    gt: jax.Array  # bool [H, W]
    key: jax.Array  # PRNG key of the step's own draws (the NMC check)
    settings: object  # protocol.Settings
    candidate_dice: jax.Array | None = None  # float [G]: the Oracle's search, if it searched


@dataclasses.dataclass(frozen=True)
class StepField:
    """A number per step: its name, its meaning, how it is computed and reported.

    value:   StepView → float [] (or [bins]) on the device (NaN where the step has none)
    curve:   the report writes its mean per step (`<name>_per_step.md/.csv`)
    summary: the report's column for it: its value after the last step ("last"), or its
             mean over the steps that have one ("mean"); None: no column
    table:   the report table holding that column (`<table>.md/.csv`)
    """

    name: str
    help: str
    value: Callable[[StepView], jax.Array]
    curve: bool = True
    summary: Literal["last", "mean"] | None = None
    label: str = ""  # Column title in the report; default the name.
    table: str = "summary"
    bins: int = 0  # A vector of this length per step (a histogram); 0: a number.
    per_token: bool = False  # A vector with one value per mask token of the model.

    @property
    def title(self) -> str:
        return self.label or self.name


def _nan() -> jax.Array:
    return jnp.array(jnp.nan, jnp.float32)


def _grid_eig(view: StepView) -> jax.Array:
    """EIG [G] of the grid points before the click."""
    return view.before.eig_map[view.grid[:, 1], view.grid[:, 0]]


def _max_eig(view: StepView) -> jax.Array:
    if view.before is None:
        return _nan()
    value = best_unclicked(_grid_eig(view), view.clicked)[1]
    return jnp.where(jnp.isfinite(value), value, jnp.nan)  # None left: no value, not -inf.


def _eig_at_click(view: StepView) -> jax.Array:
    if view.before is None:
        return _nan()
    x, y, label = view.click
    return jnp.where((x != NO_CLICK) & (label >= 0), view.before.eig_map[y, x], jnp.nan)


def _eig_after_click(view: StepView) -> jax.Array:
    x, y, _ = view.click
    return jnp.where(_clicked_pixel(view), view.after.eig_map[y, x], jnp.nan)


def _eig_error_auroc(view: StepView) -> jax.Array:
    """AUROC of the EIG map before the click at ranking the unclicked grid points the
    proposed mask gets wrong above those it gets right; NaN at step 0 or when either set
    is empty."""
    if view.before is None:
        return _nan()
    gx, gy = view.grid[:, 0], view.grid[:, 1]
    wrong = view.before.pred[gy, gx] != view.gt[gy, gx]
    return ranking.auroc(_grid_eig(view), wrong, ~view.clicked).astype(jnp.float32)


def _clicked_pixel(view: StepView) -> jax.Array:
    """Whether the step clicked a pixel (not nowhere, not a -1 padding point)."""
    return (view.click[0] != NO_CLICK) & (view.click[2] >= 0)


def _click_inside(view: StepView) -> jax.Array:
    x, y, _ = view.click
    return jnp.where(_clicked_pixel(view), view.gt[y, x].astype(jnp.float32), jnp.nan)


def _click_boundary_distance(view: StepView) -> jax.Array:
    x, y, _ = view.click
    distance = metrics.boundary_distance(view.gt, x, y)
    return jnp.where(_clicked_pixel(view), distance, jnp.nan)


def _ranking(score: Callable) -> Callable[[StepView], jax.Array]:
    """A ranking score (`eigjax.ranking`) of the Oracle's candidates at this step: their EIG
    before the click against their Dice gains; NaN where the step ran no search."""

    def value(view: StepView) -> jax.Array:
        if view.candidate_dice is None or view.before is None:
            return _nan()
        gain = view.candidate_dice - view.before.dice
        return score(_grid_eig(view), gain, ~view.clicked).astype(jnp.float32)

    return value


# The paper's estimator (Eq. 8) at a few budgets (N outer, M inner; √N = M as Rainforth et
# al. advise) against the exact value, where `Settings.nmc_check` asks for it.
NMC_BUDGETS = ((16, 4), (64, 8), (256, 16), (1024, 32))


def _nmc_check(view: StepView) -> tuple[jax.Array, jax.Array]:
    """(max EIG by NMC − exact max EIG, whether their grid argmax agrees) [budgets] of the
    unclicked grid before the click; NaN without a check or at step 0."""
    nan = jnp.full(len(NMC_BUDGETS), jnp.nan, jnp.float32)
    if view.before is None or not view.settings.nmc_check:
        return nan, nan
    probs, unclicked = view.before.grid_probs, ~view.clicked
    weights = view.before.head_weights
    exact_i, exact = best_unclicked(eig_lib.eig_exact(probs, weights), view.clicked)
    errors, agrees = [], []
    for b, (n, m) in enumerate(NMC_BUDGETS):
        key = jax.random.fold_in(view.key, b)
        estimate = eig_lib.eig_nmc(key, probs, n, m, weights=weights)
        i, value = best_unclicked(estimate, ~unclicked)
        errors.append(value - exact)
        agrees.append((i == exact_i).astype(jnp.float32))
    return jnp.stack(errors), jnp.stack(agrees)


FIELDS: tuple[StepField, ...] = (
    StepField(
        "dice",
        "Dice of the proposed mask after the step.",
        lambda v: v.after.dice,
        True,
        "last",
        "last Dice",
    ),
    StepField(
        "iou",
        "IoU of the proposed mask after the step.",
        lambda v: v.after.iou,
        True,
        "last",
        "last IoU",
    ),
    StepField(
        "dice_token0", "Dice of token 0 (the single-mask output).", lambda v: v.after.dice_token0
    ),
    StepField(
        "dice_mean_theta",
        "Dice of the mean-θ mask (mean_k θ_k > 0.5 over the EIG heads).",
        lambda v: v.after.dice_mean_theta,
    ),
    StepField(
        "max_eig", "Max EIG over the unclicked grid before the step's click (nats).", _max_eig
    ),
    StepField("eig_at_click", "EIG at the clicked pixel before the click (nats).", _eig_at_click),
    StepField(
        "eig_after_click",
        "EIG at the clicked pixel after the click (nats): whether the click settles the heads.",
        _eig_after_click,
        summary="mean",
        label="EIG after the click",
        table="eig_error",
    ),
    StepField(
        "eig_error_auroc",
        "AUROC of the EIG map (before the click, unclicked grid) at ranking the pixels the "
        "proposed mask gets wrong above those it gets right.",
        _eig_error_auroc,
        summary="mean",
        label="EIG-error AUROC",
        table="eig_error",
    ),
    StepField(
        "token",
        "The mask token proposed (and scored) after the step.",
        lambda v: v.after.token.astype(jnp.float32),
        curve=False,
    ),
    StepField(
        "head_dice",
        "Dice of every mask token after the step (token 0 first).",
        lambda v: v.after.token_dice.astype(jnp.float32),
        curve=False,
        per_token=True,
    ),
    StepField(
        "iou_pred",
        "The model's predicted IoU of every mask token after the step (token 0 first).",
        lambda v: v.after.predicted_iou.astype(jnp.float32),
        curve=False,
        per_token=True,
    ),
    StepField(
        "iou_pred_error",
        "Predicted minus true IoU of every mask token after the step (token 0 first).",
        lambda v: (v.after.predicted_iou - v.after.token_iou).astype(jnp.float32),
        curve=False,
        per_token=True,
    ),
    StepField(
        "object_score",
        "SAM 3's object-score logit after the step (none for a model without the head).",
        lambda v: v.after.object_score.astype(jnp.float32),
        curve=False,
    ),
    StepField(
        "eig_gain_spearman",
        "Oracle steps: Spearman correlation of the candidates' EIG and their Dice gains.",
        _ranking(ranking.spearman),
        summary="mean",
        label="EIG-gain Spearman",
        table="eig_ranking",
    ),
    StepField(
        "eig_regret",
        "Oracle steps: (best gain − gain of the EIG argmax) / best gain.",
        _ranking(ranking.regret),
        summary="mean",
        label="EIG regret",
        table="eig_ranking",
    ),
    StepField(
        "eig_top_decile_hit",
        "Oracle steps: share of the top-10 %-gain candidates in EIG's top 10 %.",
        _ranking(ranking.top_decile_hit),
        summary="mean",
        label="EIG top-decile hit",
        table="eig_ranking",
    ),
    StepField(
        "click_inside",
        "Whether the step's click lies inside the object (1) or outside (0).",
        _click_inside,
        summary="mean",
        label="clicks inside",
        table="plausibility",
    ),
    StepField(
        "click_boundary_distance",
        "Pixels from the step's click to the object's boundary.",
        _click_boundary_distance,
        summary="mean",
        label="click to boundary (px)",
        table="plausibility",
    ),
    StepField(
        "nmc_max_eig_error",
        "With nmc_check: max EIG by the paper's NMC minus the exact one, per budget.",
        lambda v: _nmc_check(v)[0],
        curve=False,
        bins=len(NMC_BUDGETS),
    ),
    StepField(
        "nmc_argmax_agrees",
        "With nmc_check: whether NMC's grid argmax is the exact one's, per budget.",
        lambda v: _nmc_check(v)[1],
        curve=False,
        bins=len(NMC_BUDGETS),
    ),
    StepField(
        "head_hist",
        f"Share of the EIG heads' probabilities in each of {HEAD_BINS} bins of [0, 1].",
        lambda v: v.after.head_hist.astype(jnp.float32),
        curve=False,
        bins=HEAD_BINS,
    ),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)


def width(field: StepField, tokens: int) -> tuple[int, ...]:
    """The shape of one step's value: () for a number, (bins,) or (tokens,) for a vector."""
    if field.per_token:
        return (tokens,)
    return (field.bins,) if field.bins else ()


@flax.struct.dataclass
class Trace:
    """Per-step results of one image in C (capacity) slots; slot s is step s."""

    clicks: jax.Array  # int32 [C, 3]
    values: dict[str, jax.Array]  # float32 [C] per field of FIELDS
    eig_maps: jax.Array | None  # float [C, H, W] (the map before each click) or None
    masks: jax.Array | None  # bool [C, H, W] or None
    candidate_dice: jax.Array | None  # float [C, G]: the Oracle's search per step, with maps

    @classmethod
    def empty(
        cls, capacity: int, size: tuple[int, int], grid_size: int, settings, tokens: int
    ) -> "Trace":
        """NaN fields for `capacity` steps of an image of `size`, a model of `tokens` mask
        tokens."""
        shapes = {f.name: (capacity, *width(f, tokens)) for f in FIELDS}
        return cls(
            clicks=jnp.full((capacity, 3), NO_CLICK, jnp.int32),
            values={name: jnp.full(shape, jnp.nan, jnp.float32) for name, shape in shapes.items()},
            eig_maps=jnp.full((capacity, *size), jnp.nan) if settings.keep_maps else None,
            masks=jnp.zeros((capacity, *size), bool) if settings.keep_masks else None,
            candidate_dice=(
                jnp.full((capacity, grid_size), jnp.nan) if settings.keep_maps else None
            ),
        )

    def write(self, s, view: StepView) -> "Trace":
        """Step s: its click and every field of `view`."""
        eig_map = jnp.full(view.after.eig_map.shape, jnp.nan)
        if view.before is not None:
            eig_map = view.before.eig_map
        return Trace(
            clicks=self.clicks.at[s].set(view.click),
            values={f.name: self.values[f.name].at[s].set(f.value(view)) for f in FIELDS},
            eig_maps=None if self.eig_maps is None else self.eig_maps.at[s].set(eig_map),
            masks=None if self.masks is None else self.masks.at[s].set(view.after.pred),
            candidate_dice=self._searched(s, view),
        )

    def _searched(self, s, view: StepView):
        if self.candidate_dice is None or view.candidate_dice is None:
            return self.candidate_dice
        return self.candidate_dice.at[s].set(view.candidate_dice)
