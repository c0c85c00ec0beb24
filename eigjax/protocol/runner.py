"""Running the protocol on batches of images: `run`, `run_batch`, and what they need.

Images of one size run in lockstep, every step one batched computation: the per-image
steps of `steps.py` under `vmap` over `Problem`s, the batch axis split over a
`jax.sharding.Mesh`. Device-loop policies (`eig`, `random`) run a whole sequence in one
compiled loop, copying back only the per-step numbers (and maps or masks when kept); the
others call one jitted step per click, all on the device but for the host clickers' rules.
The Oracle's candidates carry only the click slots their step needs (s + 1 at step s: a
compile each, a few seconds), since every empty slot costs a masked token in each of the
900 decoder passes. Otherwise the step count is a run-time value: one compile per image
size, policy and click capacity (4 · ⌈steps / 4⌉ slots), whatever the number of steps.
"""

import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from eigjax.assess import Problem
from eigjax.models.model import Embedding, Model, encode
from eigjax.protocol import policies
from eigjax.protocol import steps as steps_lib
from eigjax.protocol.compiled import COMPILED, oracle_chunk, put, put_replicated
from eigjax.protocol.fields import NO_CLICK
from eigjax.protocol.record import Record
from eigjax.protocol.settings import Settings


@functools.partial(jax.jit, static_argnames=("settings",))
def begin_batch(problems: Problem, first: steps_lib.Start, *, settings) -> steps_lib.Progress:
    """`steps_lib.begin` over a batch of problems [B, ...]."""
    fn = functools.partial(steps_lib.begin, settings=settings)
    return jax.vmap(fn, in_axes=(problems.batch_axes(), 0))(problems, first)


@functools.partial(jax.jit, static_argnames=("settings",))
def advance_batch(problems: Problem, progress, s, click, candidate_dice=None, *, settings):
    """`steps_lib.advance` over a batch [B, ...]; `click` int [B, 3]; the Oracle's
    `candidate_dice` [B, G] where it searched (else None)."""

    def fn(problem, p, c, d):
        return steps_lib.advance(problem, p, s, c, settings, d)

    axes = (problems.batch_axes(), 0, 0, 0)
    return jax.vmap(fn, in_axes=axes)(problems, progress, click, candidate_dice)


@functools.partial(jax.jit, static_argnames=("choose", "capacity", "settings"))
def search_batch(problems: Problem, state: steps_lib.ClickState, s, *, choose, capacity, settings):
    """A search policy's `choose` (e.g. `steps_lib.oracle_click`) over a batch [B, ...]:
    an `OracleSearch` per image."""

    def fn(problem, st):
        return choose(problem, st, s, capacity, settings)

    return jax.vmap(fn, in_axes=(problems.batch_axes(), 0))(problems, state)


@functools.partial(jax.jit, static_argnames=("choose", "settings"))
def sequence_batch(problems: Problem, first: steps_lib.Start, steps, *, choose, settings):
    """`steps_lib.sequence` over a batch [B, ...] in lockstep: their traces."""

    def fn(problem, f):
        return steps_lib.sequence(problem, f, steps, choose, settings)

    return jax.vmap(fn, in_axes=(problems.batch_axes(), 0))(problems, first)


@dataclasses.dataclass(frozen=True)
class Batch:
    """Equal-size images in lockstep, padded to a multiple of the mesh's devices (the extra
    rows repeat the last image): images, masks, seeds, their embeddings [B', h, w, C]
    sharded over `mesh`, and n, the number of real images."""

    images: list[np.ndarray]
    gts: list[np.ndarray]
    seeds: list[int]
    embeddings: Embedding
    mesh: jax.sharding.Mesh | None
    n: int

    @classmethod
    def create(cls, model: Model, images, masks, seeds=None, mesh=None, embeddings=None):
        """A batch, checked, padded for the mesh and embedded.

        Args:
          model: the model that embeds the images.
          images: B uint8 [H, W, 3] images of one size.
          masks: B bool [H, W] ground truths, none empty.
          seeds: B seeds (default 0, 1, …).
          mesh: a `jax.sharding.Mesh` with a "batch" axis, or None (one device).
          embeddings: [B', ...] embeddings already computed, or None.

        Returns:
          The `Batch`.

        Raises:
          ValueError: naming the problem (an empty mask, sizes that differ).
        """
        gts = _checked_masks(images, masks)
        n = len(gts)
        seeds = list(range(n)) if seeds is None else list(seeds)
        images, gts, seeds = (_pad(list(x), mesh) for x in (images, gts, seeds))
        if embeddings is None or embeddings.features.shape[0] != len(gts):
            embeddings = embed_batch(model, images, mesh, gts)
        return cls(images, gts, seeds, embeddings, mesh, n)

    def subset(self, indexes: list[int]) -> "Batch":
        """The real images at `indexes`, padded again for the mesh, their embeddings kept."""
        if list(indexes) == list(range(self.n)):
            return self
        idx = np.array(_pad(list(indexes), self.mesh))
        embeddings = jax.tree_util.tree_map(
            lambda a: put(np.asarray(a)[idx], self.mesh), self.embeddings
        )
        return Batch(
            [self.images[i] for i in idx],
            [self.gts[i] for i in idx],
            [self.seeds[i] for i in idx],
            embeddings,
            self.mesh,
            len(indexes),
        )


def embed_batch(model: Model, images: list[np.ndarray], mesh=None, gts=None) -> Embedding:
    """Embeddings of equal-size images (as many as the mesh has devices, or a multiple),
    batched [B, h, w, C] and sharded over `mesh`; `gts`, their masks, build the
    calibrated control's."""
    gts = [None] * len(images) if gts is None else gts
    x = np.stack([model.encoder_input(im, gt) for im, gt in zip(images, gts, strict=True)])
    features, high_res = encode(model.network, model.params, put(x, mesh))
    return Embedding(features, tuple(np.asarray(images[0]).shape[:2]), high_res)


def _pad(items: list, mesh) -> list:
    """`items` + copies of its last, to a multiple of the mesh's devices."""
    return items + [items[-1]] * ((-len(items)) % (mesh.size if mesh is not None else 1))


def _checked_masks(images, masks) -> list[np.ndarray]:
    """The masks as bool arrays, after checking their sizes and that none is empty."""
    gts = [np.asarray(m).astype(bool) for m in masks]
    for image, gt in zip(images, gts, strict=True):
        if np.asarray(image).size == 0:
            raise ValueError(f"an image of shape {np.shape(image)} has no pixels")
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


def click_capacity(steps: int) -> int:
    """Click slots for a run of `steps` steps: a multiple of 4, so that runs of 1-4,
    5-8, … steps share one compile while padding tokens (computed, then masked) stay few."""
    return 4 * -(-steps // 4)


def check(policy: policies.Policy, steps: int, settings: Settings) -> None:
    """Raises ValueError when `steps` or `settings` cannot run `policy`."""
    settings.check(steps)
    if policy.on_grid and steps - 1 > settings.grid**2:
        raise ValueError(
            f"steps={steps}: a {settings.grid}x{settings.grid} grid has too few points"
        )


def run(
    model: Model,
    image: np.ndarray,
    mask: np.ndarray,
    policy: str,
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
      policy: a name of `policies.POLICIES`.
      steps: number of steps S (step 0 is the start).
      seed: seeds the random policies, the noisy box and the NMC estimator.
      settings: grid, start, mask rule, heads, EIG estimator, mask feedback, Oracle chunk.
      embedding: `model.embed(image)` if already computed.

    Returns:
      The image's `Record`: per step its click, Dice, IoU, max EIG and every field of
      `FIELDS`; NoC@85/90/95, NoF and the Dice AUC.

    Raises:
      ValueError: an empty mask, sizes that differ, steps the grid cannot hold.
    """
    batched = None
    if embedding is not None:
        batched = jax.tree_util.tree_map(lambda a: a[None], embedding)
    batch = Batch.create(model, [image], [mask], [seed], embeddings=batched)
    return run_batch(model, batch, policy, steps, settings)[0]


def run_batch(
    model: Model, batch: Batch, policy: str, steps: int = 10, settings: Settings = Settings()
) -> list[Record]:
    """`run` for a `Batch` of images of one size in lockstep.

    Each image's record is that of a run alone: bit for bit with one image per device;
    with several per device, batched kernels may round differently (a pixel may flip a
    Dice in the 4th decimal).

    Args:
      model: a loaded `eigjax.models.Model`.
      batch: the images, masks and seeds, embedded (`Batch.create`).
      policy: a name of `policies.POLICIES`.
      steps: S, the steps (step 0 is the start).
      settings: the protocol's settings.

    Returns:
      One `Record` per real image of the batch, in order.
    """
    chosen = policies.get(policy)
    check(chosen, steps, settings)
    settings = settings.resolved(model.config)
    capacity = click_capacity(steps)
    starts = [
        steps_lib.start(gt, capacity, model.config, settings, seed)
        for gt, seed in zip(batch.gts, batch.seeds, strict=True)
    ]
    network, params = model.at_precision(settings.precision)
    params = put_replicated(params, batch.mesh)
    problems = Problem(network, params, batch.embeddings, put(np.stack(batch.gts), batch.mesh))
    first = _stack([st.start for st in starts])
    if chosen.draws:  # One uniform per step, from each image's generator.
        first = first.replace(
            uniforms=np.stack([st.rng.random(capacity, np.float32) for st in starts])
        )
    first = put(first, batch.mesh)
    # Dispatch is asynchronous: the clock starts once the embeddings and starts exist.
    jax.block_until_ready((problems, first))
    clock, compiling = time.perf_counter(), COMPILED.seconds
    later = np.nan  # Seconds of the steps after the start, where they run on their own.
    if chosen.kind == "loop":
        trace = COMPILED(
            sequence_batch,
            problems,
            first,
            jnp.asarray(steps),
            choose=chosen.choose,
            settings=settings,
        )
    else:
        trace, later = _stepwise(problems, first, starts, steps, chosen, settings, batch.mesh)
    trace = jax.device_get(trace)
    elapsed = time.perf_counter() - clock - (COMPILED.seconds - compiling)
    seconds = (elapsed / (batch.n * steps), later / (batch.n * max(steps - 1, 1)))
    return [
        Record.from_trace(chosen.name, trace, i, steps, starts[i].box, seconds)
        for i in range(batch.n)
    ]


def _stack(trees):
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def _stepwise(problems, first, starts, steps, policy, settings, mesh):
    """A jitted step per click: a search policy's search on the device (its own compile
    per step: s + 1 click slots), a host rule on the host. Returns the trace and the
    seconds its steps after the start took (compiles excluded)."""
    progress = jax.block_until_ready(COMPILED(begin_batch, problems, first, settings=settings))
    clock, compiling = time.perf_counter(), COMPILED.seconds
    clicked = np.zeros((len(starts), *starts[0].gt.shape), bool)  # Every pixel clicked so far.
    for st, c in zip(starts, clicked, strict=True):
        x, y, _ = st.start.click.tolist()
        if x != NO_CLICK:
            c[y, x] = True
    search_settings = settings  # Its chunk chosen once a run, at the first search step.
    for s in range(1, steps):
        if policy.kind == "search":
            args = (problems, progress.state, jnp.asarray(s))
            kw = {"choose": policy.choose, "capacity": s + 1}
            if not search_settings.oracle_chunk:

                def lower(probe, args=args, kw=kw):
                    return search_batch.lower(*args, **kw, settings=probe)

                chunk = oracle_chunk(settings, lower)
                search_settings = dataclasses.replace(settings, oracle_chunk=chunk)
            search = COMPILED(search_batch, *args, **kw, settings=search_settings)
            chosen, candidate_dice = search.click, search.candidate_dice
        else:
            chosen = _host_clicks(policy, progress.assessment, starts, clicked, problems)
            chosen, candidate_dice = put(chosen, mesh), None
        step_args = (problems, progress, jnp.asarray(s), chosen, candidate_dice)
        progress = COMPILED(advance_batch, *step_args, settings=settings)
    jax.block_until_ready(progress)
    return progress.trace, time.perf_counter() - clock - (COMPILED.seconds - compiling)


def _host_clicks(policy, assessment, starts, clicked, problems) -> np.ndarray:
    """A host policy's clicks int [B, 3], NO_CLICK x 3 where it has none; marks the clicked
    pixels in `clicked` (bool [B, H, W], every pixel clicked so far)."""
    preds, low_res = np.asarray(assessment.pred), np.asarray(assessment.low_res)
    config = problems.network.config
    picks = []
    for i, st in enumerate(starts):
        view = policies.HostView(
            preds[i], low_res[i], st.gt, st.rng, clicked[i], steps_lib.frame(st.gt, config)
        )
        pick = policy.choose(view)
        if pick is not None and pick[2] >= 0:  # A -1 padding point is no click.
            clicked[i, pick[1], pick[0]] = True
        picks.append(pick if pick is not None else (NO_CLICK,) * 3)
    return np.array(picks, np.int32)
