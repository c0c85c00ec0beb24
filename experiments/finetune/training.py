"""A point fine-tuning run: data, the jitted step, checkpoints, the log and the params.

  WORKDIR/run.json       what decides the run's numbers (a resumed run must match it)
  WORKDIR/checkpoints/   orbax CheckpointManager: trainable params, optimiser state, step,
                         PRNG key, and the input's grain iterator state, every
                         `checkpoint_every` steps
  WORKDIR/log.csv        one row per step; log.png its curves, drawn at the end
  WORKDIR/params/        the fine-tuned model, written last (`models.load(model, it)`)
  WORKDIR/params_at/S/   the model after step S, for each of `snapshot_steps`

A killed run resumes from its last checkpoint and reaches the same params as an
uninterrupted one: every step's data, prompt type and PRNG key are functions of the seed
and the step alone. A finished run (params/ written) is not overwritten unless asked.
"""

import contextlib
import csv
import dataclasses
import io
import json
import os
import shutil
import sys
import threading
import time

import grain
import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm import tqdm

from eigjax import models
from eigjax.models import cache, checkpoint
from eigjax.models.model import embedding_parts
from eigjax.protocol.compiled import free_memory, needed_memory
from eigjax.training import interactive, step
from experiments import files, interrupts
from experiments.finetune import log_plot, training_data
from experiments.finetune.config import FinetuneConfig

LOG_FIELDS = (
    "step",
    "loss",
    "focal",
    "dice",
    "iou_loss",
    "first_iou",
    "mean_iou",
    "learning_rate",
    "first_prompt",
    "seconds",
)
# Settings that do not change the run's numbers (left out of run.json).
NOT_RESULTS = ("workdir", "cache_dir", "checkpoint_every", "snapshot_steps", "overwrite")


def batches(seed: int, n: int, steps: int, batch_size: int) -> grain.MapDataset:
    """grain's dataset of each step's masks: element i is int32 [batch_size / processes],
    this process's share of step i's batch. The masks come epoch after epoch of seeded
    permutations, numpy's `default_rng([seed, 1])` one per epoch, not grain's `shuffle`:
    the runs docs/finetune.md reports drew this order. Each process takes its slice of every global
    batch, so any number of processes trains on the batches of one."""
    epochs = -(-steps * batch_size // n)
    rng = np.random.default_rng([seed, 1])
    order = np.concatenate([rng.permutation(n) for _ in range(epochs)])
    masks = order[: steps * batch_size].astype(np.int32)
    share = batch_size // jax.process_count()
    mine = slice(jax.process_index() * share, (jax.process_index() + 1) * share)
    return grain.MapDataset.source(masks).batch(batch_size).map(lambda batch: batch[mine])


def recipe(cfg) -> interactive.Recipe:
    """The sequence every mask of the run follows (`interactive.Recipe`)."""
    return interactive.Recipe(
        cfg.correction_clicks, cfg.refinement_rounds, cfg.p_click_from_gt, cfg.iou_loss
    )


def box_first(seed: int, steps: int, p_box: float) -> np.ndarray:
    """bool [steps]: whether each step's first prompt is the box (else a click)."""
    return np.random.default_rng([seed, 2]).random(steps) < p_box


def _check_finished(cfg: FinetuneConfig) -> None:
    """Refuses a finished run in the workdir (params/ written) unless --overwrite."""
    if os.path.exists(os.path.join(cfg.workdir, "params", checkpoint.META)) and not cfg.overwrite:
        raise ValueError(
            f"{cfg.workdir}: holds a finished run (params/); pass --overwrite to replace it "
            "or choose another --workdir"
        )


def _prepare_workdir(cfg: FinetuneConfig, spec: dict) -> None:
    """Clears the workdir with --overwrite; refuses a run of other settings (run.json; the
    checkpoints hold their run's settings too, checked when one is restored)."""
    path = os.path.join(cfg.workdir, "run.json")
    if cfg.overwrite:
        for name in ("params", "params_at", "checkpoints", "log.csv", "run.json"):
            target = os.path.join(cfg.workdir, name)
            if os.path.isdir(target):
                shutil.rmtree(target)
            elif os.path.exists(target):
                os.remove(target)
    if os.path.exists(path):
        with open(path) as f:
            before = json.load(f)
        if before != spec:
            differ = sorted(k for k in set(before) | set(spec) if before.get(k) != spec.get(k))
            raise ValueError(
                f"{cfg.workdir}: holds a run with other settings ({', '.join(differ)} differ); "
                "choose another --workdir, or --overwrite"
            )


def _log_rows(path: str, upto: int) -> None:
    """Keeps the header and the rows of steps < `upto` (a resumed run writes the rest)."""
    if not os.path.exists(path):
        with open(path, "w", newline="") as f:
            csv.writer(f).writerow(LOG_FIELDS)
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    kept = [rows[0]] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) < upto]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(kept)


def run_finetune(cfg: FinetuneConfig) -> str:
    """Trains; returns the params directory. Raises ValueError (a setting or the workdir),
    DataError (the dataset)."""
    cfg.check()
    devices = jax.devices()
    if cfg.batch_size % len(devices):
        raise ValueError(
            f"--batch_size={cfg.batch_size} is not a multiple of the {len(devices)} devices"
        )
    _check_finished(cfg)
    source_dir = cfg.params or cache.converted_params(cfg.model)
    fingerprint = checkpoint.fingerprint(source_dir) or "unversioned"
    model = models.load(cfg.model, cfg.params or None)
    arrays, ids = training_data.load_examples(cfg, model, fingerprint)
    if cfg.batch_size > len(ids):
        raise ValueError(
            f"--batch_size={cfg.batch_size}: more than the {len(ids)} masks to train on"
        )
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in NOT_RESULTS}
    spec = {**settings, "weights": fingerprint, "masks": len(ids), "mask_ids": ids}
    spec = json.loads(json.dumps(spec))  # As run.json holds it (tuples are lists there).
    _prepare_workdir(cfg, spec)

    mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
    run = _Run(cfg, arrays, NamedSharding(mesh, P()), NamedSharding(mesh, P("batch")))
    trainable, frozen = step.split(jax.device_put(model.params, run.replicated), cfg.train)
    tx = step.optimizer(cfg.learning_rate, cfg.steps)
    state = {
        "trainable": trainable,
        "opt_state": jax.device_put(tx.init(trainable), run.replicated),
        "step": np.asarray(0, np.int64),
        "key": jax.random.key_data(jax.random.key(cfg.seed)),
    }
    data = iter(batches(cfg.seed, len(ids), cfg.steps, cfg.batch_size))
    with _manager(cfg.workdir) as manager:
        latest = manager.latest_step()
        if latest is not None:
            state = _restore(manager, latest, state, spec, data)
            for name in ("trainable", "opt_state"):  # Placed as the step returns them.
                state[name] = jax.device_put(state[name], run.replicated)
        files.write_json(os.path.join(cfg.workdir, "run.json"), spec)
        train_step = step.make_train_step(model.network, tx, recipe(cfg))
        source = f"experiments.finetune of {cfg.model} ({source_dir}, weights {fingerprint[:16]})"

        def write(out: str, trainable: dict) -> None:
            params = jax.device_get({**frozen, **trainable})
            checkpoint.save(out, cfg.model, params, source, loop=interactive.TRAINED_LOOP)

        saver = _saver(manager, spec, data)
        trainable = _train(run, state, data, frozen, train_step, saver, write)
        manager.wait_until_finished()
    out = os.path.join(cfg.workdir, "params")
    write(out, trainable)
    log_plot.training_log(
        os.path.join(cfg.workdir, "log.csv"), os.path.join(cfg.workdir, "log.png")
    )
    return out


@dataclasses.dataclass(frozen=True)
class _Run:
    """What every step of a run reads: its config, its data and the two placements."""

    cfg: FinetuneConfig
    arrays: dict
    replicated: NamedSharding
    sharded: NamedSharding


def _manager(workdir: str) -> ocp.CheckpointManager:
    """The run's checkpoints: the last two kept, written synchronously, so that a write
    that fails (a full disk) raises at once, not in orbax's thread with its tracebacks."""
    options = ocp.CheckpointManagerOptions(
        max_to_keep=2, create=True, enable_async_checkpointing=False
    )
    return ocp.CheckpointManager(
        os.path.abspath(os.path.join(workdir, "checkpoints")), options=options
    )


def _reason(error: Exception) -> str:
    """An orbax or tensorstore error in a few words: its first line, without the spec
    tensorstore appends."""
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return first.split(" [tensorstore_spec")[0][:300]


@contextlib.contextmanager
def _orbax(failure: str, error: type[Exception]):
    """Runs an orbax call whose failure ends the run in one line, `error(failure)` with
    "{reason}" in it replaced: orbax's worker threads would log and print a traceback each,
    during the call and on the way out. Held back while it runs; shown if it succeeds."""
    told, level = io.StringIO(), logging.get_verbosity()
    try:
        logging.set_verbosity(logging.FATAL)
        with contextlib.redirect_stderr(told):
            yield
    except Exception as e:  # Orbax raises bare Exceptions and tensorstore's ValueErrors.
        threading.excepthook = sys.unraisablehook = lambda _: None
        raise error(failure.replace("{reason}", _reason(e))) from None
    logging.set_verbosity(level)
    sys.stderr.write(told.getvalue())


def _saver(manager: ocp.CheckpointManager, spec: dict, data: grain.DatasetIterator):
    """(step, state) → saves the state and `data`'s position as checkpoint `step`, the
    run's settings in it; a failed write (a full disk) is an OSError naming it."""

    def save(i: int, state: dict) -> None:
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            run=ocp.args.JsonSave(spec),
            data=grain.checkpoint.CheckpointSave(data),
        )
        failure = f"{manager.directory}: checkpoint {i} could not be written ({{reason}})"
        with _orbax(failure, OSError):
            manager.save(i, args=args)

    return save


def _restore(manager: ocp.CheckpointManager, latest: int, state: dict, spec: dict, data) -> dict:
    """The state of checkpoint `latest` (shaped as `state`), `data` moved to its position;
    ValueError naming it when it is damaged or holds the state of a run with other settings
    than `spec`."""
    where = os.path.join(manager.directory, str(latest))
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state)
    args = ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract),
        run=ocp.args.JsonRestore(),
        data=grain.checkpoint.CheckpointRestore(data),
    )
    failure = f"{where}: a damaged checkpoint ({{reason}}); delete it to resume from the one "
    with _orbax(failure + "before, or --overwrite", ValueError):
        restored = manager.restore(latest, args=args)
    if restored.run != spec:
        before = restored.run or {}
        differ = sorted(k for k in set(before) | set(spec) if before.get(k) != spec.get(k))
        raise ValueError(
            f"{where}: the checkpoint of a run with other settings ({', '.join(differ)} "
            "differ); choose another --workdir, or --overwrite"
        )
    return restored.state


def _check_memory(compiled, cfg: FinetuneConfig) -> None:
    """ValueError when one step at `cfg.batch_size` needs more memory than the device has
    free (XLA's memory analysis of the compiled step)."""
    need, free = needed_memory(compiled), free_memory(jax.devices()[0])
    if need > free:
        raise ValueError(
            f"--batch_size={cfg.batch_size}: one step needs {need / 2**30:.1f} GiB, more than "
            f"the {free / 2**30:.1f} GiB free; use a smaller batch"
        )


def _train(run: _Run, state: dict, data, frozen: dict, train_step, save, write) -> dict:
    """The steps from `state["step"]` on, each on the next batch of `data` (grain's
    iterator, at that step), logged, saved (`save(step, state)`) every
    `checkpoint_every` steps and at the end, and `write`(dir, trainable) after each of
    `snapshot_steps`; returns the trainable params."""
    cfg = run.cfg
    start = int(state["step"])
    log_path = os.path.join(cfg.workdir, "log.csv")
    _log_rows(log_path, start)
    lr = step.schedule(cfg.learning_rate, cfg.steps)
    boxes = box_first(cfg.seed, cfg.steps, cfg.p_box)
    trainable, opt_state = state["trainable"], state["opt_state"]
    key = jax.random.wrap_key_data(np.asarray(state["key"]))
    if start < cfg.steps:  # Before any step runs (the first call reuses this compile).
        position = data.get_state()
        first = _batch(run.arrays, next(data), run.sharded)
        data.set_state(position)  # The loop takes this batch again.
        args = (trainable, opt_state, frozen, first, jax.random.fold_in(key, start))
        _check_memory(train_step.lower(*args, use_box=bool(boxes[start])).compile(), cfg)
    with (
        open(log_path, "a", newline="") as log,
        tqdm(total=cfg.steps, initial=start, desc="fine-tuning", unit="step") as progress,
    ):
        for i in range(start, cfg.steps):
            clock = time.perf_counter()
            batch = _batch(run.arrays, next(data), run.sharded)
            trainable, opt_state, metrics = train_step(
                trainable, opt_state, frozen, batch, jax.random.fold_in(key, i),
                use_box=bool(boxes[i]),
            )  # fmt: skip
            interrupts.check()  # Before the log: a stopped step is not written.
            m = {k: float(v) for k, v in metrics.items()}
            csv.writer(log).writerow([
                i, m["loss"], m["focal"], m["dice"], m["iou"], m["first_iou"], m["mean_iou"],
                float(lr(i)), "box" if boxes[i] else "click", f"{time.perf_counter() - clock:.3f}",
            ])  # fmt: skip
            log.flush()
            progress.set_postfix(loss=f"{m['loss']:.3f}", iou=f"{m['mean_iou']:.3f}")
            progress.update()
            if (i + 1) % cfg.checkpoint_every == 0 or i + 1 == cfg.steps:
                state = {**state, "trainable": trainable, "opt_state": opt_state}
                state["step"] = np.asarray(i + 1, np.int64)
                save(i + 1, state)
            if i + 1 in cfg.snapshot_steps:
                write(os.path.join(cfg.workdir, "params_at", str(i + 1)), trainable)
    return trainable


def _batch(arrays: dict, idx: np.ndarray, sharding) -> interactive.Example:
    """The masks `idx` [B / processes] (this process's share) as an `Example` batch, sharded
    over every process's devices."""
    images = arrays["image"][idx]
    features, high_res = jax.tree_util.tree_map(lambda a: a[images], embedding_parts(arrays))
    example = interactive.Example(
        features=features,
        gt=arrays["gt"][idx],
        region=arrays["region"][idx],
        high_res=high_res,
    )
    return jax.tree_util.tree_map(
        lambda a: jax.make_array_from_process_local_data(sharding, a), example
    )
