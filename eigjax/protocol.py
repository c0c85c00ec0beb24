"""The click protocol: simulate an annotator prompting step by step, under one policy.

Step 0 is the start (`Settings.start`): a positive click at the ground-truth "centre" (the
pixel farthest from its boundary), or the ground truth's bounding box, plain or jittered
as SAM-Med2D does, kept in every later prompt. Each later step adds one click chosen by
the policy and labelled by the ground truth:

  eig           the unclicked grid point of maximal EIG (Chung & Moyer, Eq. 5)
  oracle        every unclicked grid point tried as the next click (vmap, in chunks);
                the one whose proposed mask has the best Dice
  error_center  RITM: the deepest pixel of the larger error region
  random_error  SAM-Med2D: a random pixel of the error region
  random        a random unclicked grid point

No pixel is ever clicked twice. Per step: Dice and IoU of the proposed mask
(`Settings.mask_rule`), Dice of token 0 and of the mean-θ mask, the max EIG over the
unclicked grid before the click (NaN at step 0: there is no prediction yet) and the EIG
at the clicked pixel. Per image: NoC@85/90/95 on IoU, the Dice AUC, seconds per click.

`eig` and `random` run a whole sequence on the device (`lax.fori_loop` over steps, fixed
shapes), copying back only the per-step numbers (and maps or masks when kept). The other
policies call one jitted step per click, all on the device but for the distance
transforms of `error_center` and `random_error`; the Oracle's candidates carry only the
click slots their step needs (s + 1 at step s: a compile each, a few seconds), since
every empty slot costs a masked token in each of the 900 decoder passes. Otherwise the
step count is a run-time value: one compile per image size, policy and click capacity
(4 · ⌈steps / 4⌉ slots), whatever the number of steps (tested).
"""

import dataclasses
import functools
import time
from typing import Literal

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from eigjax import assess as assess_lib
from eigjax import clicks as click_rules
from eigjax import metrics
from eigjax.models import transforms
from eigjax.models.layers import Precision
from eigjax.models.model import Embedding, Model, encode
from eigjax.models.prompt import Prompt
from eigjax.models.sam import Sam, decoder_params

Policy = Literal["eig", "oracle", "error_center", "random_error", "random"]
POLICIES: tuple[str, ...] = ("eig", "oracle", "error_center", "random_error", "random")
DEVICE_POLICIES = ("eig", "random")  # Whole sequences in one compiled loop.
GRID_POLICIES = ("eig", "oracle", "random")  # They click grid points.
STARTS = ("center", "box", "noisy_box")
NO_CLICK = -1  # (x, y, label) of a step without a click: a box start, or no error left.


def _knob(default, help: str, affects_results: bool = True, flag: bool = True):
    """A setting with its help text; `affects_results=False`: speed or output only."""
    metadata = {"help": help, "affects_results": affects_results, "flag": flag}
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The protocol's knobs; defaults as agreed in DESIGN.md and the paper.

    Fields marked `affects_results=False` change speed or what is kept, never a number
    of a record (`identity()` leaves them out).
    """

    grid: int = _knob(30, "Candidate clicks: centres of a grid x grid partition of the image.")
    start: Literal["center", "box", "noisy_box"] = _knob(
        "center", "First prompt: the mask centre, its bounding box, or SAM-Med2D's jittered box."
    )
    mask_rule: assess_lib.MaskRule = _knob(
        "best_iou", "Proposed mask: best predicted IoU of tokens 1-3, or token0 (single mask)."
    )
    heads: Literal["multimask", "all"] = _knob(
        "multimask", "EIG heads θ_k: tokens 1-3 (multimask) or all four."
    )
    eig: Literal["exact", "nmc"] = _knob("exact", "EIG: exact mutual information, or Eq. 8 (nmc).")
    nmc_outer: int = _knob(1024, "NMC outer samples N.")
    nmc_inner: int = _knob(32, "NMC inner samples M.")
    feed_mask: bool = _knob(False, "Feed the previous proposed low-res mask back in.")
    precision: Precision = _knob(
        "highest", "Decoder arithmetic: highest (float32, parity), default, or bfloat16."
    )
    oracle_chunk: int = _knob(
        0,
        "Oracle candidates evaluated at once; 0: from the device (oracle_chunk).",
        affects_results=False,
    )
    keep_maps: bool = _knob(False, "EIG maps per step.", affects_results=False, flag=False)
    keep_masks: bool = _knob(False, "Masks per step.", affects_results=False, flag=False)

    def identity(self) -> dict:
        """The fields that change a record's numbers, as a JSON-ready dict."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.metadata.get("affects_results", True)
        }

    def check(self, steps: int) -> None:
        """Raises ValueError naming the first invalid knob (or `steps`)."""
        if self.grid < 1:
            raise ValueError(f"grid must be at least 1, got {self.grid}")
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        if self.start not in STARTS:
            raise ValueError(f"start must be one of {STARTS}, got {self.start!r}")
        if self.mask_rule not in ("best_iou", "token0"):
            raise ValueError(f"mask_rule must be best_iou or token0, got {self.mask_rule!r}")
        if self.oracle_chunk < 0:
            raise ValueError(f"oracle_chunk must be 0 (automatic) or more, got {self.oracle_chunk}")
        if self.eig == "nmc" and min(self.nmc_outer, self.nmc_inner) < 1:
            raise ValueError("nmc_outer and nmc_inner must be at least 1")


@dataclasses.dataclass
class Record:
    """One image's prompt sequence under one policy (S steps; step 0 is the start)."""

    policy: str
    clicks: np.ndarray  # int [S, 3]: x, y, label; (-1, -1, -1): no click at that step
    box: np.ndarray | None  # float [4] (x0, y0, x1, y1): the box prompt of a box start
    dice: np.ndarray  # float [S]: Dice of the proposed mask after each step
    iou: np.ndarray  # float [S]: IoU of the proposed mask after each step
    dice_token0: np.ndarray  # float [S]
    dice_mean_theta: np.ndarray  # float [S]: mask mean_k θ_k > 0.5
    max_eig: np.ndarray  # float [S]: max EIG over unclicked grid before each step (nats)
    eig_at_click: np.ndarray  # float [S]: EIG at the clicked pixel before the click
    seconds_per_click: float  # the sequence's wall time / S, compilation excluded
    eig_maps: np.ndarray | None = None  # float [S, H, W] if Settings.keep_maps
    masks: np.ndarray | None = None  # bool [S, H, W] if Settings.keep_masks

    @property
    def noc(self) -> dict[str, int]:
        """NoC@85/90/95 on IoU; S (the cap) when not reached."""
        return {f"noc{round(t * 100)}": metrics.noc(self.iou, t) for t in metrics.NOC_THRESHOLDS}

    @property
    def failed(self) -> dict[str, bool]:
        """Whether IoU never reaches 85/90/95 % (NoF counts these)."""
        return {
            f"fail{round(t * 100)}": metrics.failed(self.iou, t) for t in metrics.NOC_THRESHOLDS
        }

    @property
    def dice_auc(self) -> float:
        return metrics.dice_auc(self.dice)

    def to_json(self) -> dict:
        """JSON-ready: lists, NaN as None; maps and masks are left out."""

        def clean(a):
            return [None if isinstance(v, float) and np.isnan(v) else v for v in a.tolist()]

        return {
            "policy": self.policy,
            "clicks": self.clicks.tolist(),
            "box": None if self.box is None else self.box.tolist(),
            "dice": clean(self.dice),
            "iou": clean(self.iou),
            "dice_token0": clean(self.dice_token0),
            "dice_mean_theta": clean(self.dice_mean_theta),
            "max_eig": clean(self.max_eig),
            "eig_at_click": clean(self.eig_at_click),
            "seconds_per_click": self.seconds_per_click,
            **self.noc,
            **self.failed,
            "dice_auc": self.dice_auc,
        }


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
class Trace:
    """Per-step results of one image, C (capacity) slots; slot s is step s."""

    clicks: jax.Array  # int32 [C, 3]
    dice: jax.Array  # float [C], likewise the next five
    iou: jax.Array
    dice_token0: jax.Array
    dice_mean_theta: jax.Array
    max_eig: jax.Array
    eig_at_click: jax.Array
    eig_maps: jax.Array | None  # float [C, H, W] or None
    masks: jax.Array | None  # bool [C, H, W] or None

    @classmethod
    def empty(cls, capacity: int, size: tuple[int, int], settings: Settings) -> "Trace":
        nan = jnp.full(capacity, jnp.nan, jnp.float32)
        return cls(
            clicks=jnp.full((capacity, 3), NO_CLICK, jnp.int32),
            dice=nan,
            iou=nan,
            dice_token0=nan,
            dice_mean_theta=nan,
            max_eig=nan,
            eig_at_click=nan,
            eig_maps=jnp.full((capacity, *size), jnp.nan) if settings.keep_maps else None,
            masks=jnp.zeros((capacity, *size), bool) if settings.keep_masks else None,
        )

    def write(self, s, click, a: assess_lib.Assessment, max_eig, eig_at_click, eig_map):
        """Step s: its click (x, y, label), the assessment after it, and the EIG before it."""
        return Trace(
            clicks=self.clicks.at[s].set(click),
            dice=self.dice.at[s].set(a.dice),
            iou=self.iou.at[s].set(a.iou),
            dice_token0=self.dice_token0.at[s].set(a.dice_token0),
            dice_mean_theta=self.dice_mean_theta.at[s].set(a.dice_mean_theta),
            max_eig=self.max_eig.at[s].set(max_eig),
            eig_at_click=self.eig_at_click.at[s].set(eig_at_click),
            eig_maps=None if self.eig_maps is None else self.eig_maps.at[s].set(eig_map),
            masks=None if self.masks is None else self.masks.at[s].set(a.pred),
        )


@flax.struct.dataclass
class Start:
    """A batch's starts on the device [B, ...]: the click state after the start, PRNG keys,
    the start's click (x, y, label) int [B, 3] (NO_CLICK x 3 for a box), and for the
    `random` policy one uniform per click slot float [B, C] (else None)."""

    state: ClickState
    key: jax.Array
    click: jax.Array
    uniforms: jax.Array | None = None


@flax.struct.dataclass
class Progress:
    """One image's loop carry: its click state, the latest assessment, its PRNG key and
    its trace so far."""

    state: ClickState
    assessment: assess_lib.Assessment
    key: jax.Array
    trace: Trace


@dataclasses.dataclass(frozen=True)
class _Image:
    """What the loop reads of one image (host): its mask and its start."""

    gt: np.ndarray  # bool [H, W]
    state: ClickState  # after the start
    click: tuple[int, int, int]  # the start's click, or NO_CLICK x 3 for a box start
    box: np.ndarray | None
    rng: np.random.Generator  # the random policies' draws, after the start's


def _start(gt, grid, capacity, mask_size, settings, seed) -> _Image:
    """The start prompt of one image (`Settings.start`), seeded."""
    rng = np.random.default_rng(seed)
    box = None
    if settings.start == "center":
        x, y = click_rules.first_click(gt)
        click = (x, y, 1)
    else:
        box = click_rules.gt_box(gt) if settings.start == "box" else click_rules.noisy_box(gt, rng)
        click = (NO_CLICK,) * 3
    mask_size = mask_size if settings.feed_mask else None
    state = ClickState(Prompt.empty(capacity, box, mask_size), jnp.zeros(len(grid), bool))
    if click[2] != NO_CLICK:
        state = state.add(0, click[:2], click[2], jnp.asarray(grid))
    return _Image(gt, state, click, box, rng)


def _grid(gt, settings) -> jax.Array:
    """int [G, 2]: the candidate grid of images of `gt`'s size [..., H, W]; its shape is
    static, so under `jit` it is a constant."""
    return jnp.asarray(click_rules.grid_points(gt.shape[-2], gt.shape[-1], settings.grid))


def _advance(network, params, emb, gt, progress: Progress, s, click, settings) -> Progress:
    """Step s of one image: the click (x, y, label), its assessment, the trace entry. A
    click of NO_CLICK (no error pixel left) keeps the previous state and assessment (the
    next steps see no change)."""
    state, a, key, trace = progress.state, progress.assessment, progress.key, progress.trace
    grid = _grid(gt, settings)
    x, y, label = click[0], click[1], click[2]
    moved = label != NO_CLICK
    grid_eig = a.eig_map[grid[:, 1], grid[:, 0]]
    max_eig = assess_lib.best_unclicked(grid_eig, state.clicked)[1]
    moved_state = state.add(s, jnp.stack([x, y]), label, grid)
    key, sub = jax.random.split(key)
    b = assess_lib.assess(network, params, emb, moved_state.prompt, gt, sub, settings)
    if settings.feed_mask:
        moved_state = moved_state.replace(prompt=moved_state.prompt.with_mask(b.low_res))
    pick = functools.partial(jax.tree_util.tree_map, lambda n, o: jnp.where(moved, n, o))
    state, new = pick(moved_state, state), pick(b, a)
    eig_at_click = jnp.where(moved, a.eig_map[y, x], jnp.nan)
    click = jnp.where(moved, jnp.stack([x, y, label]), NO_CLICK)
    trace = trace.write(s, click, new, max_eig, eig_at_click, a.eig_map)
    return Progress(state, new, key, trace)


def _begin(network, params, emb, gt, state, key, click, settings) -> Progress:
    """Step 0 of one image: the start's assessment and trace entry."""
    capacity = state.prompt.points.shape[0]
    key, sub = jax.random.split(key)
    a = assess_lib.assess(network, params, emb, state.prompt, gt, sub, settings)
    if settings.feed_mask:
        state = state.replace(prompt=state.prompt.with_mask(a.low_res))
    trace = Trace.empty(capacity, emb.original_size, settings)
    nan_map = jnp.full(emb.original_size, jnp.nan)
    trace = trace.write(0, click, a, jnp.nan, jnp.nan, nan_map)
    return Progress(state, a, key, trace)


def _grid_sequence(network, params, emb, gt, start: Start, steps, policy, settings) -> Trace:
    """A whole `eig` / `random` sequence of one image from its `start` (unbatched), on the
    device. For `random`, step s clicks free grid point floor(u_s · #free) (`uniforms`)."""
    grid = _grid(gt, settings)
    progress = _begin(network, params, emb, gt, start.state, start.key, start.click, settings)

    def body(s, progress):
        state, a = progress.state, progress.assessment
        if policy == "eig":
            scores = a.eig_map[grid[:, 1], grid[:, 0]]
        else:  # A uniformly random free grid point.
            n_free = jnp.sum(~state.clicked)
            u = start.uniforms[s]
            rank = jnp.minimum(jnp.floor(u * n_free).astype(jnp.int32), n_free - 1)
            free = jnp.nonzero(~state.clicked, size=grid.shape[0], fill_value=0)[0]
            scores = jnp.arange(grid.shape[0]) == free[rank]
        i = assess_lib.best_unclicked(scores, state.clicked)[0]
        x, y = grid[i, 0], grid[i, 1]
        click = jnp.stack([x, y, gt[y, x].astype(jnp.int32)])
        return _advance(network, params, emb, gt, progress, s, click, settings)

    return jax.lax.fori_loop(1, steps, body, progress).trace


@functools.partial(jax.jit, static_argnames=("network", "policy", "settings"))
def _grid_sequences(params, emb, gt, start: Start, steps, *, network, policy, settings):
    """`_grid_sequence` over a batch of images [B, ...] in lockstep: their traces."""

    def one(features, g, st):
        e = Embedding(features=features, original_size=emb.original_size)
        return _grid_sequence(network, params, e, g, st, steps, policy, settings)

    return jax.vmap(one)(emb.features, gt, start)


def _oracle_click(network, params, emb, gt, state, s, capacity, settings):
    """The Oracle's click for step s of one image: every unclicked grid point tried in slot
    s, the best Dice taken. Only the first `capacity` (s + 1) click slots are carried: the
    later ones are empty, and each would cost a masked token per candidate."""
    grid = _grid(gt, settings)
    prompt = state.prompt.truncated(capacity)
    chunk, rule = settings.oracle_chunk, settings.mask_rule
    i, _ = assess_lib.oracle_choice(
        network, params, emb, prompt, gt, s, grid, state.clicked, chunk, rule
    )
    x, y = grid[i, 0], grid[i, 1]
    return jnp.stack([x, y, gt[y, x].astype(jnp.int32)])


CPU_CHUNK = 4  # Measured best on CPUs: small chunks stay in cache (README, benchmarks).
MEMORY_FRACTION = 0.5  # Of the accelerator's free memory, for the Oracle's candidates.


def chunk_for_memory(free_bytes: int, per_candidate_bytes: int, candidates: int) -> int:
    """The Oracle's chunk on an accelerator: every candidate at once where they fit in
    MEMORY_FRACTION of the free memory, else as many as do (at least 1)."""
    fit = int(MEMORY_FRACTION * free_bytes // max(per_candidate_bytes, 1))
    return max(1, min(candidates, fit))


def oracle_chunk(settings: Settings, args, kw) -> int:
    """`settings.oracle_chunk`, or when 0: CPU_CHUNK on a CPU; on an accelerator, the
    `chunk_for_memory` of its free memory (`memory_stats`) and the per-candidate temporary
    memory of `_oracle_clicks`, read from XLA's memory analysis of chunks of 1 and 2."""
    if settings.oracle_chunk:
        return settings.oracle_chunk
    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if not stats or "bytes_limit" not in stats:
        return CPU_CHUNK

    def temp_bytes(chunk):
        probe = dataclasses.replace(settings, oracle_chunk=chunk)
        compiled = _oracle_clicks.lower(*args, **{**kw, "settings": probe}).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    per_candidate = temp_bytes(2) - temp_bytes(1)
    free = stats["bytes_limit"] - stats.get("bytes_in_use", 0)
    return chunk_for_memory(free, per_candidate, settings.grid**2)


@functools.partial(jax.jit, static_argnames=("network", "capacity", "settings"))
def _oracle_clicks(params, emb, gt, state, s, *, network, capacity, settings):
    """`_oracle_click` over a batch of images [B, ...]: int [B, 3]."""

    def one(features, g, st):
        e = Embedding(features=features, original_size=emb.original_size)
        return _oracle_click(network, params, e, g, st, s, capacity, settings)

    return jax.vmap(one)(emb.features, gt, state)


@functools.partial(jax.jit, static_argnames=("network", "settings"))
def _begin_batch(params, emb, gt, start: Start, *, network, settings) -> Progress:
    """`_begin` over a batch of images [B, ...]."""

    def one(features, g, st):
        e = Embedding(features=features, original_size=emb.original_size)
        return _begin(network, params, e, g, st.state, st.key, st.click, settings)

    return jax.vmap(one)(emb.features, gt, start)


@functools.partial(jax.jit, static_argnames=("network", "settings"))
def _advance_batch(params, emb, gt, progress: Progress, s, click, *, network, settings):
    """`_advance` over a batch of images [B, ...]; `click` int [B, 3]."""

    def one(features, g, p, c):
        e = Embedding(features=features, original_size=emb.original_size)
        return _advance(network, params, e, g, p, s, c, settings)

    return jax.vmap(one)(emb.features, gt, progress, click)


def embed_batch(model: Model, images: list[np.ndarray], mesh=None) -> Embedding:
    """Embeddings of equal-size images, batched [B', h, w, C] and sharded over `mesh`.

    B' is len(images) rounded up to a multiple of the mesh's devices; the extra rows
    repeat the last image.
    """
    images = _pad_batch(list(images), mesh)
    x = np.stack([transforms.preprocess(im, model.config) for im in images])
    features = encode(model.network, model.params, _put(x, mesh))
    return Embedding(features=features, original_size=tuple(np.asarray(images[0]).shape[:2]))


def _pad_batch(items: list, mesh) -> list:
    """`items` + copies of its last, to a multiple of the mesh's devices."""
    return items + [items[-1]] * ((-len(items)) % (mesh.size if mesh is not None else 1))


def _put(tree, mesh):
    """Host arrays → device, the leading (batch) axis of each split over `mesh`'s devices."""
    if mesh is None:
        return jax.tree_util.tree_map(jnp.asarray, tree)

    def put(x):
        spec = jax.sharding.PartitionSpec("batch", *([None] * (np.ndim(x) - 1)))
        return jax.device_put(x, jax.sharding.NamedSharding(mesh, spec))

    return jax.tree_util.tree_map(put, tree)


def _put_replicated(tree, mesh):
    """Host arrays → device, whole on each of `mesh`'s devices (once per run)."""
    if mesh is None:
        return jax.device_put(tree)
    return jax.device_put(tree, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))


def _stack(trees):
    return jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *trees)


class _Compiled:
    """Ahead-of-time compiled jitted functions, one per (function, shapes, statics), so that
    compiles can be counted and their time kept out of a run's clock."""

    def __init__(self):
        self.cache = {}
        self.seconds = 0.0  # Spent compiling, in total.

    def get(self, fn, *args, **statics):
        """`fn` (jitted, `statics` its static arguments) compiled for `args`' shapes."""
        leaves, treedef = jax.tree_util.tree_flatten(args)
        avals = tuple((np.shape(x), str(x.dtype), getattr(x, "sharding", None)) for x in leaves)
        key = (fn, treedef, avals, tuple(sorted(statics.items())))
        if key not in self.cache:
            clock = time.perf_counter()
            self.cache[key] = fn.lower(*args, **statics).compile()
            self.seconds += time.perf_counter() - clock
        return self.cache[key]

    def __call__(self, fn, *args, **statics):
        return self.get(fn, *args, **statics)(*args)

    def count(self, fn) -> int:
        """How many compiles of `fn` (one of this module's jitted functions) there were."""
        return sum(key[0] is fn for key in self.cache)


COMPILED = _Compiled()


def click_capacity(steps: int) -> int:
    """Click slots for a run of `steps` steps: a multiple of 4, so that runs of 1-4, 5-8, …
    steps share one compile while padding tokens (computed, then masked) stay few."""
    return 4 * -(-steps // 4)


def run(
    model: Model,
    image: np.ndarray,
    mask: np.ndarray,
    policy: Policy,
    steps: int = 10,
    seed: int = 0,
    settings: Settings = Settings(),
    embedding: Embedding | None = None,
) -> Record:
    """Runs `steps` steps of `policy` on one image.

    Args:
      model: a loaded `eigjax.models.Model`.
      image: uint8 [H, W, 3] (or [H, W]).
      mask: bool [H, W] ground truth, not empty.
      policy: one of POLICIES.
      steps: number of steps S (step 0 is the start).
      seed: seeds the random policies, the noisy box and the NMC estimator.
      settings: grid, start, mask rule, heads, EIG estimator, mask feedback, Oracle chunk.
      embedding: `model.embed(image)` if already computed.
    """
    batched = None
    if embedding is not None:
        batched = Embedding(
            features=embedding.features[None], original_size=embedding.original_size
        )
    return run_batch(model, [image], [mask], policy, steps, [seed], settings, embeddings=batched)[0]


def run_batch(
    model: Model,
    images: list[np.ndarray],
    masks: list[np.ndarray],
    policy: Policy,
    steps: int = 10,
    seeds: list[int] | None = None,
    settings: Settings = Settings(),
    mesh: jax.sharding.Mesh | None = None,
    embeddings: Embedding | None = None,
) -> list[Record]:
    """`run` for B images of one size in lockstep: every step is one batched computation.

    With `mesh` (one axis, "batch"), the batch is padded to a multiple of its devices and
    split over them. Each image's record is that of a run alone: bit for bit with one
    image per device; with several per device, batched kernels may round differently (a
    pixel may flip a Dice in the 4th decimal).
    """
    gts = _check_inputs(images, masks, policy, steps, settings)
    n = len(gts)
    seeds = list(range(n)) if seeds is None else list(seeds)
    images, gts, seeds = (_pad_batch(list(x), mesh) for x in (images, gts, seeds))
    if embeddings is None or embeddings.features.shape[0] != len(gts):
        embeddings = embed_batch(model, images, mesh)
    grid = click_rules.grid_points(*gts[0].shape, settings.grid)
    capacity = click_capacity(steps)
    starts = [
        _start(gt, grid, capacity, model.config.low_res_size, settings, seed)
        for gt, seed in zip(gts, seeds, strict=True)
    ]
    keys = jnp.stack([jax.random.key(s) for s in seeds])
    network = Sam(model.config, settings.precision)
    params = _put_replicated(decoder_params(model.params, settings.precision), mesh)
    # Dispatch is asynchronous: the clock starts once the embeddings and starts exist.
    jax.block_until_ready((embeddings, params, [st.state for st in starts]))
    clock, compiling = time.perf_counter(), COMPILED.seconds
    run_loop = _run_on_device if policy in DEVICE_POLICIES else _run_stepwise
    trace = run_loop(network, params, embeddings, starts, keys, steps, policy, settings, mesh)
    elapsed = time.perf_counter() - clock - (COMPILED.seconds - compiling)
    seconds = elapsed / (n * steps)
    return [_record(policy, trace, i, steps, starts[i].box, seconds) for i in range(n)]


def _check_inputs(images, masks, policy, steps, settings) -> list[np.ndarray]:
    """The masks as bool arrays, after checking every argument (ValueError naming it)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose from {POLICIES}")
    settings.check(steps)
    if policy in GRID_POLICIES and steps - 1 > settings.grid**2:
        raise ValueError(
            f"steps={steps}: a {settings.grid}x{settings.grid} grid has too few points"
        )
    gts = [np.asarray(m).astype(bool) for m in masks]
    for image, gt in zip(images, gts, strict=True):
        if gt.shape != np.asarray(image).shape[:2]:
            raise ValueError(
                f"mask {gt.shape} and image {np.asarray(image).shape[:2]} differ in size"
            )
    if len({gt.shape for gt in gts}) != 1:
        raise ValueError(
            f"a lockstep batch needs one image size, got {sorted({g.shape for g in gts})}"
        )
    if not all(gt.any() for gt in gts):
        raise ValueError("the ground-truth mask is empty")
    return gts


def _run_on_device(network, params, emb, starts, keys, steps, policy, settings, mesh) -> Trace:
    capacity = starts[0].state.prompt.points.shape[0]
    # The random policy's draws, one uniform per step, from each image's generator.
    uniforms = np.stack([st.rng.random(capacity, np.float32) for st in starts])
    start = _device_start(starts, keys).replace(uniforms=uniforms)
    gt, start = _put((np.stack([st.gt for st in starts]), start), mesh)
    trace = COMPILED(
        _grid_sequences,
        params,
        emb,
        gt,
        start,
        jnp.asarray(steps),
        network=network,
        policy=policy,
        settings=settings,
    )
    return jax.device_get(trace)


def _device_start(starts: list[_Image], keys) -> Start:
    """The batch's `Start` (host arrays, no uniforms)."""
    clicks = np.array([st.click for st in starts], np.int32)
    return Start(state=_stack([st.state for st in starts]), key=keys, click=clicks)


def _run_stepwise(network, params, emb, starts, keys, steps, policy, settings, mesh):
    """A jitted step per click: the Oracle's choice on the device (its own compile per
    step: s + 1 click slots), the RITM / SAM-Med2D clickers' on the host."""
    gts = np.stack([st.gt for st in starts])
    gt, start = _put((gts, _device_start(starts, keys)), mesh)
    progress = COMPILED(_begin_batch, params, emb, gt, start, network=network, settings=settings)
    clicked = np.zeros(gts.shape, bool)  # Every pixel clicked so far, on or off the grid.
    for st, c in zip(starts, clicked, strict=True):
        if st.click[2] != NO_CLICK:
            c[st.click[1], st.click[0]] = True
    oracle_settings = settings  # Its chunk chosen once a run, at the first Oracle step.
    for s in range(1, steps):
        if policy == "oracle":
            args = (params, emb, gt, progress.state, jnp.asarray(s))
            kw = {"network": network, "capacity": s + 1}
            if not oracle_settings.oracle_chunk:
                chunk = oracle_chunk(settings, args, {**kw, "settings": settings})
                oracle_settings = dataclasses.replace(settings, oracle_chunk=chunk)
            chosen = COMPILED(_oracle_clicks, *args, **kw, settings=oracle_settings)
        else:
            chosen = _put(_host_clicks(policy, progress.assessment, starts, clicked), mesh)
        progress = COMPILED(
            _advance_batch,
            params,
            emb,
            gt,
            progress,
            jnp.asarray(s),
            chosen,
            network=network,
            settings=settings,
        )
    return jax.device_get(progress.trace)


def _host_clicks(policy, a, starts, clicked) -> np.ndarray:
    """The RITM / SAM-Med2D clicks int [B, 3], NO_CLICK x 3 where an image has no error
    pixel left; marks them in `clicked` (bool [B, H, W], every pixel clicked so far)."""
    preds = np.asarray(a.pred)
    picks = []
    for i, st in enumerate(starts):
        if policy == "error_center":
            pick = click_rules.error_center(preds[i], st.gt, clicked[i])
        else:
            pick = click_rules.random_error(preds[i], st.gt, st.rng, clicked[i])
        if pick is not None:
            clicked[i, pick[1], pick[0]] = True
        picks.append(pick if pick is not None else (NO_CLICK,) * 3)
    return np.array(picks, np.int32)


def _record(policy, trace: Trace, i: int, steps: int, box, seconds: float) -> Record:
    def field(x):
        return None if x is None else np.asarray(x[i][:steps])

    return Record(
        policy=policy,
        clicks=field(trace.clicks).astype(np.int64),
        box=box,
        dice=field(trace.dice).astype(np.float64),
        iou=field(trace.iou).astype(np.float64),
        dice_token0=field(trace.dice_token0).astype(np.float64),
        dice_mean_theta=field(trace.dice_mean_theta).astype(np.float64),
        max_eig=field(trace.max_eig).astype(np.float64),
        eig_at_click=field(trace.eig_at_click).astype(np.float64),
        seconds_per_click=seconds,
        eig_maps=field(trace.eig_maps),
        masks=field(trace.masks),
    )
