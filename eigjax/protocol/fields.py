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

from eigjax.assess import Assessment, best_unclicked

NO_CLICK = -1  # (x, y, label) of a step without a click: a box start, or no error left.


class StepView(NamedTuple):
    """What the fields of step s are computed from (one image, traced)."""

    before: Assessment | None  # the prediction the click was chosen on; None at step 0
    after: Assessment  # the prediction after step s's prompt
    click: jax.Array  # int [3]: (x, y, label), NO_CLICK x 3 when the step clicked nowhere
    clicked: jax.Array  # bool [G]: grid points taken before the click
    grid: jax.Array  # int [G, 2]: the candidate grid (x, y)


@dataclasses.dataclass(frozen=True)
class StepField:
    """A number per step: its name, its meaning, how it is computed and reported.

    value:   StepView → float [] on the device (NaN where the step has none)
    curve:   the report writes its mean per step (`<name>_per_step.md/.csv`)
    summary: the report's summary column: its value after the last step ("last"), or its
             mean over the steps that have one ("mean"); None: no column
    """

    name: str
    help: str
    value: Callable[[StepView], jax.Array]
    curve: bool = True
    summary: Literal["last", "mean"] | None = None
    label: str = ""  # Column title in the report; default the name.

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
    return best_unclicked(_grid_eig(view), view.clicked)[1]


def _eig_at_click(view: StepView) -> jax.Array:
    if view.before is None:
        return _nan()
    x, y, label = view.click
    return jnp.where(label != NO_CLICK, view.before.eig_map[y, x], jnp.nan)


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
)
FIELD_NAMES = tuple(f.name for f in FIELDS)


@flax.struct.dataclass
class Trace:
    """Per-step results of one image in C (capacity) slots; slot s is step s."""

    clicks: jax.Array  # int32 [C, 3]
    values: dict[str, jax.Array]  # float32 [C] per field of FIELDS
    eig_maps: jax.Array | None  # float [C, H, W] (the map before each click) or None
    masks: jax.Array | None  # bool [C, H, W] or None

    @classmethod
    def empty(cls, capacity: int, size: tuple[int, int], settings) -> "Trace":
        nan = jnp.full(capacity, jnp.nan, jnp.float32)
        return cls(
            clicks=jnp.full((capacity, 3), NO_CLICK, jnp.int32),
            values={f.name: nan for f in FIELDS},
            eig_maps=jnp.full((capacity, *size), jnp.nan) if settings.keep_maps else None,
            masks=jnp.zeros((capacity, *size), bool) if settings.keep_masks else None,
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
        )
