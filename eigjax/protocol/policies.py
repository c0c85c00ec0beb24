"""Click policies as a registry: one table maps a policy's name to its kind and its rule
for choosing the next click. Adding a policy is one function and one entry; every help
text, check, cost and figure label reads this table.

A policy's kind (`Policy.kind`, stated in its entry) fixes how the runner calls `choose`:
  loop    a device loop: the whole sequence in one compiled loop;
          choose(assessment, clicked bool [G], grid int [G, 2], uniform float []) → grid index
  search  a candidate search: one compiled device step per click that decodes every
          candidate (the cost model counts those decodes, the report ranks EIG against
          them); choose(problem, state, s, capacity, settings) → `steps.OracleSearch`
  host    a host rule: numpy on the host between device steps;
          choose(HostView) → (x, y, label) in original pixels, or None when it has no click
Every rule labels its click by the ground truth (a noiseless annotator) and never picks a
pixel already clicked.
"""

import dataclasses
from collections.abc import Callable
from typing import Literal, NamedTuple

import jax.numpy as jnp
import numpy as np

from eigjax import clicks as click_rules
from eigjax.assess import best_unclicked
from eigjax.models import resample
from eigjax.protocol import steps


@dataclasses.dataclass(frozen=True)
class Policy:
    name: str
    label: str  # As tables and figures name it.
    help: str
    kind: Literal["loop", "search", "host"]
    choose: Callable
    on_grid: bool = False  # Clicks grid points only (so at most G clicks after the start).
    draws: bool = False  # A loop policy that needs one uniform per step.
    paper: bool = False  # The paper's pair: the study's default policies, Fig. 2's rows.


def eig_choice(assessment, clicked, grid, uniform):
    """The unclicked grid point of maximal EIG (Chung & Moyer, Eq. 5)."""
    del uniform
    return best_unclicked(assessment.eig_map[grid[:, 1], grid[:, 0]], clicked)[0]


def random_choice(assessment, clicked, grid, uniform):
    """Free grid point number ⌊u · #free⌋, in row-major order."""
    del assessment
    n_free = jnp.sum(~clicked)
    rank = jnp.minimum(jnp.floor(uniform * n_free).astype(jnp.int32), n_free - 1)
    free = jnp.nonzero(~clicked, size=grid.shape[0], fill_value=0)[0]
    return free[rank]


class HostView(NamedTuple):
    """What a host rule sees of one image after a step (H, W: original; r: low-res side)."""

    pred: np.ndarray  # bool [H, W]: the proposed mask
    low_res: np.ndarray  # float [r, r]: its low-res logits
    gt: np.ndarray  # bool [H, W]
    rng: np.random.Generator  # the image's draws
    clicked: np.ndarray  # bool [H, W]: every pixel clicked so far
    frame: click_rules.Frame  # where SAM-Med2D's rules draw (the model's prompt frame)


def error_center_choice(view: HostView):
    """RITM's clicker, on the original pixels (deterministic)."""
    return click_rules.error_center(view.pred, view.gt, view.clicked)


def random_error_choice(view: HostView):
    """SAM-Med2D's clicker, in the model's prompt frame: there the proposed mask is its
    low-res logits bilinearly upsampled to the frame (as its `test.py` does), > 0."""
    frame = view.frame
    pred = view.pred
    if frame.size is not None:
        upsample = resample.bilinear_matrix(view.low_res.shape[0], frame.size)
        pred = upsample @ view.low_res.astype(np.float64) @ upsample.T > 0
    x, y, label = click_rules.random_error(
        pred, frame.view(view.gt), view.rng, frame.view(view.clicked)
    )
    return (*frame.to_original(x, y), label)


POLICIES: dict[str, Policy] = {
    p.name: p
    for p in (
        Policy(
            "eig",
            "EIG-guided",
            "the unclicked grid point of maximal EIG (Chung & Moyer, Eq. 5)",
            "loop",
            eig_choice,
            on_grid=True,
            paper=True,
        ),
        Policy(
            "oracle",
            "Oracle",
            "every unclicked grid point tried; the one whose mask has the best Dice",
            "search",
            steps.oracle_click,
            on_grid=True,
            paper=True,
        ),
        Policy(
            "error_center",
            "error centre (RITM)",
            "RITM: the deepest pixel of the larger error region",
            "host",
            error_center_choice,
        ),
        Policy(
            "random_error",
            "random error (SAM-Med2D)",
            "SAM-Med2D: a random pixel of the error region",
            "host",
            random_error_choice,
        ),
        Policy(
            "random",
            "random grid",
            "a random unclicked grid point",
            "loop",
            random_choice,
            on_grid=True,
            draws=True,
        ),
    )
}


PAPER = tuple(name for name, p in POLICIES.items() if p.paper)  # EIG-guided and Oracle.
EIG_GUIDED = POLICIES["eig"]  # The page's suggestion, the policy whose max EIG Fig. 1 draws.
RANDOM_GRID = POLICIES["random"]  # The baseline EIG-guided is paired with (eig_vs_random).
ORACLE = POLICIES["oracle"]  # The search whose candidates EIG's ranking is measured against.


def get(name: str) -> Policy:
    """The policy called `name`; ValueError listing the valid names otherwise."""
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; choose from {list(POLICIES)}")
    return POLICIES[name]


def help_text() -> str:
    """One line per policy: its name and rule (flag help, docs)."""
    return "; ".join(f"{p.name}: {p.help}" for p in POLICIES.values())
