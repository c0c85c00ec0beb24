"""The protocol's steps for one image (unbatched, traceable): the public step-level API.

  start         the host side of step 0: the start prompt (`Settings.start`), seeded
  begin         step 0 on the device: the start's assessment and trace entry
  advance       step s of any policy: a given click, its assessment, the trace entry
  oracle_click  the Oracle's click for step s: every unclicked grid point tried
  sequence      a whole sequence of a device-loop policy (`lax.fori_loop` over steps)

`runner.py` batches them (`vmap` over `Problem`s) and runs them; the web page and the
benchmarks call them directly. A click is int [3] (x, y, label); NO_CLICK x 3 is none.
"""

import dataclasses
import functools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from eigjax import assess as assess_lib
from eigjax import clicks as click_rules
from eigjax.assess import Assessment, Problem
from eigjax.models.configs import ModelConfig
from eigjax.models.prompt import Prompt
from eigjax.protocol.fields import NO_CLICK, StepView, Trace
from eigjax.protocol.settings import Settings


@flax.struct.dataclass
class ClickState:
    """One image's prompt so far: clicks in fixed slots, the start's box, the fed-back mask,
    and which grid points are taken (G: grid points)."""

    prompt: Prompt
    clicked: jax.Array  # bool [G]

    def add(self, slot, xy, label, grid) -> "ClickState":
        """The state with click (x, y, label) in `slot`; every point of `grid` int [G, 2]
        at (x, y) is taken (a small image's grid may hold one pixel twice)."""
        taken = (grid[:, 0] == xy[0]) & (grid[:, 1] == xy[1])
        return ClickState(self.prompt.add(slot, xy, label), self.clicked | taken)


@flax.struct.dataclass
class Start:
    """Step 0 of one image or a batch [B, ...]: the click state after the start prompt, a
    PRNG key, the start's click int [3] (NO_CLICK x 3 for a box) and, for a device-loop
    policy that draws (`random`), one uniform per click slot float [C] (else None)."""

    state: ClickState
    key: jax.Array
    click: jax.Array
    uniforms: jax.Array | None = None


@flax.struct.dataclass
class Progress:
    """One image's loop carry: its click state, the latest assessment, its PRNG key and
    its trace so far."""

    state: ClickState
    assessment: Assessment
    key: jax.Array
    trace: Trace


@dataclasses.dataclass(frozen=True)
class HostStart:
    """What the host keeps of one image's start: its mask, its `Start`, the box of a box
    start, and the generator of the random draws that follow the start's."""

    gt: np.ndarray  # bool [H, W]
    start: Start
    box: np.ndarray | None
    rng: np.random.Generator


def grid_points(gt, settings: Settings) -> jax.Array:
    """int [G, 2]: the candidate grid of images of `gt`'s size [..., H, W] (a constant
    under `jit`: its shape is static)."""
    return jnp.asarray(click_rules.grid_points(gt.shape[-2], gt.shape[-1], settings.grid))


def frame(gt: np.ndarray, config: ModelConfig) -> click_rules.Frame:
    """Where the SAM-Med2D clickers draw on an image of `gt`'s size for `config`'s model."""
    size = config.image_size if config.prompt_frame == "input" else None
    return click_rules.Frame(gt.shape, size)


def start(gt: np.ndarray, capacity: int, config: ModelConfig, settings: Settings, seed: int):
    """The start prompt of one image (`Settings.start`) for `config`'s model, seeded.

    Args:
      gt: bool [H, W], the ground truth.
      capacity: C, the click slots of the prompt.
      config: the model's config (its prompt frame: a `noisy_box` is drawn there).
      settings: the protocol's settings.
      seed: the image's seed.

    Returns:
      A `HostStart`: the mask, step 0's `Start`, the box of a box start, the generator.
    """
    rng = np.random.default_rng(seed)
    box = None
    if settings.start == "center":
        x, y = click_rules.first_click(gt)
        click = (x, y, 1)
    elif settings.start == "box":
        box = click_rules.gt_box(gt)
        click = (NO_CLICK,) * 3
    else:
        where = frame(gt, config)
        box = click_rules.noisy_box(where.view(gt), rng, max_pixel=settings.box_jitter)
        if where.size is not None:  # Frame coordinates → original pixels (a box is float).
            box = box * np.tile(np.array(gt.shape[::-1], np.float32) / where.size, 2)
        click = (NO_CLICK,) * 3
    mask_size = config.low_res_size if settings.resolved(config).feeds_mask else None
    grid = grid_points(gt, settings)
    state = ClickState(Prompt.empty(capacity, box, mask_size), jnp.zeros(len(grid), bool))
    if click[0] != NO_CLICK:
        state = state.add(0, click[:2], click[2], grid)
    first = Start(state, jax.random.key(seed), np.array(click, np.int32))
    return HostStart(gt, first, box, rng)


def _fed_back(state: ClickState, a: Assessment, settings: Settings) -> ClickState:
    """The state with the proposed mask as the next mask input (`Settings.mask_feedback`,
    resolved)."""
    if not settings.feeds_mask:
        return state
    mask = jax.nn.sigmoid(a.low_res) if settings.mask_feedback == "sigmoid" else a.low_res
    return state.replace(prompt=state.prompt.with_mask(mask))


def begin(problem: Problem, first: Start, settings: Settings) -> Progress:
    """Step 0 of one image, on the device.

    Args:
      problem: the model, its embedding of the image, the ground truth.
      first: the start (`start(...).start`).
      settings: the protocol's settings.

    Returns:
      The `Progress` after step 0: its assessment and trace entry.
    """
    state = first.state
    capacity = state.prompt.points.shape[0]
    key, sub = jax.random.split(first.key)
    a = assess_lib.assess(problem, state.prompt, sub, settings)
    state = _fed_back(state, a, settings)
    size = problem.embedding.original_size
    grid = grid_points(problem.gt, settings)
    view = StepView(None, a, first.click, state.clicked, grid, problem.gt, sub, settings)
    tokens = problem.network.config.num_mask_tokens
    trace = Trace.empty(capacity, size, grid.shape[0], settings, tokens).write(0, view)
    return Progress(state, a, key, trace)


def advance(
    problem: Problem, progress: Progress, s, click, settings: Settings, candidate_dice=None
) -> Progress:
    """Step s of one image, on the device.

    Args:
      problem: the model, its embedding of the image, the ground truth.
      progress: the progress after step s − 1.
      s: the step (int []), the click's slot.
      click: int [3] (x, y, label). x = NO_CLICK (a host clicker with nothing left to
        click) keeps the previous state and assessment; a label of -1 is SAM's "not a
        point", a padding token the model sees (SAM-Med2D's loop adds one).
      settings: the protocol's settings.
      candidate_dice: float [G], the Oracle's Dice per grid point when it searched.

    Returns:
      The `Progress` after step s: the click's assessment and trace entry.
    """
    state, a = progress.state, progress.assessment
    grid = grid_points(problem.gt, settings)
    x, y, label = click[0], click[1], click[2]
    moved = x != NO_CLICK
    moved_state = state.add(s, jnp.stack([x, y]), label, grid)
    key, sub = jax.random.split(progress.key)
    b = assess_lib.assess(problem, moved_state.prompt, sub, settings)
    moved_state = _fed_back(moved_state, b, settings)
    pick = functools.partial(jax.tree_util.tree_map, lambda n, o: jnp.where(moved, n, o))
    new_state, new = pick(moved_state, state), pick(b, a)
    click = jnp.where(moved, jnp.stack([x, y, label]), NO_CLICK)
    check_key = jax.random.fold_in(sub, 1)
    view = StepView(
        a, new, click, state.clicked, grid, problem.gt, check_key, settings, candidate_dice
    )
    trace = progress.trace.write(s, view)
    return Progress(new_state, new, key, trace)


def label_click(problem: Problem, grid: jax.Array, index, clicked: jax.Array) -> jax.Array:
    """Grid point `index` as a click int [3], labelled by the ground truth; NO_CLICK x 3
    when every grid point is taken (a tiny image's grid has few distinct pixels)."""
    x, y = grid[index, 0], grid[index, 1]
    click = jnp.stack([x, y, problem.gt[y, x].astype(jnp.int32)])
    return jnp.where(jnp.all(clicked), NO_CLICK, click)


@flax.struct.dataclass
class OracleSearch:
    """One Oracle step of one image: its click, that click's Dice, and every candidate's."""

    click: jax.Array  # int [3]
    dice: jax.Array  # float []
    candidate_dice: jax.Array  # float [G]: Dice after each grid point's click (taken ones too)


def oracle_click(
    problem: Problem, state: ClickState, s, capacity: int, settings: Settings
) -> OracleSearch:
    """The Oracle's step s: every unclicked grid point tried as the click in slot s, the
    proposed mask of best Dice taken (ties: the first grid point, row-major).

    Args:
      problem: the model, its embedding of the image, the ground truth.
      state: the click state before step s.
      s: the step (int []).
      capacity: the click slots carried (s + 1: the later ones are empty, and each would
        cost a masked token per candidate).
      settings: the protocol's settings (`oracle_chunk` ≥ 1 candidates at once).

    Returns:
      An `OracleSearch`: its click int [3], that click's Dice, every candidate's [G].
    """
    dice = oracle_dice(problem, state, s, capacity, settings)
    return oracle_choice(problem, state, dice, settings)


def oracle_dice(
    problem: Problem, state: ClickState, s, capacity: int, settings: Settings, first=0, size=None
) -> jax.Array:
    """The first half of `oracle_click`: each grid point's Dice as the click in slot s.

    Args:
      problem: as `oracle_click`'s.
      state: as `oracle_click`'s.
      s: as `oracle_click`'s.
      capacity: as `oracle_click`'s.
      settings: as `oracle_click`'s.
      first: with `size`, the first grid point of the part.
      size: None: every grid point; else a part of the search, grid points first,
        first + 1, … (past the last: the last), that a caller can count and stop between.

    Returns:
      float [G], or float [size] for a part.
    """
    grid = grid_points(problem.gt, settings)
    if size is not None:
        grid = grid[jnp.minimum(first + jnp.arange(size), grid.shape[0] - 1)]
    prompt = state.prompt.truncated(capacity)
    rule = settings.resolved(problem.network.config).mask_rule
    return assess_lib.oracle_dice(problem, prompt, s, grid, settings.oracle_chunk, rule)


def oracle_choice(
    problem: Problem, state: ClickState, dice: jax.Array, settings: Settings
) -> OracleSearch:
    """The second half of `oracle_click`: the best grid point not yet clicked, labelled
    by the ground truth.

    Args:
      problem: the model, its embedding, the ground truth.
      state: the click state before the step.
      dice: float [G], every grid point's Dice (`oracle_dice`).
      settings: the protocol's settings.

    Returns:
      An `OracleSearch`.
    """
    grid = grid_points(problem.gt, settings)
    best, best_dice = assess_lib.best_unclicked(dice, state.clicked)
    click = label_click(problem, grid, best, state.clicked)
    return OracleSearch(click, jnp.where(jnp.isfinite(best_dice), best_dice, jnp.nan), dice)


def sequence(problem: Problem, first: Start, steps, choose, settings: Settings) -> Trace:
    """A whole sequence of one image on the device, in one `fori_loop`.

    Args:
      problem: the model, its embedding of the image, the ground truth.
      first: the start.
      steps: S, the steps (step 0 the start).
      choose: a device-loop policy's rule: `choose(assessment, clicked, grid, uniform_s)`
        → the grid index clicked at step s, labelled by the ground truth.
      settings: the protocol's settings.

    Returns:
      The sequence's `Trace`: every field of every step.
    """
    grid = grid_points(problem.gt, settings)
    progress = begin(problem, first, settings)

    def body(s, progress):
        u = None if first.uniforms is None else first.uniforms[s]
        clicked = progress.state.clicked
        click = label_click(problem, grid, choose(progress.assessment, clicked, grid, u), clicked)
        return advance(problem, progress, s, click, settings)

    return jax.lax.fori_loop(1, steps, body, progress).trace
