"""The EIG-vs-Oracle study as a library function: `run_study(config)`.

For every model and every protocol setting of the config (a run, keyed by its settings:
`records.py`), every policy runs on every non-empty mask of the dataset, the Oracle on
the first `oracle_images` of them (0: all; each of its clicks costs a decoder pass per
grid point). Images of one size go in lockstep batches sharded over the local devices;
with several processes (`jax.distributed`) each takes every process_count-th image and
writes its own file. The first `fig2_images` masks of each run also keep their EIG maps
and masks for Fig. 2. The study prints its estimated time at the start (`cost.py`) and
what it took at the end.
"""

import dataclasses
import os
import time
import zlib

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from tqdm import tqdm

from eigjax import models, protocol
from eigjax.assess import head_indexes
from eigjax.data import Sample
from eigjax.data import spec as dataset_spec
from eigjax.models import cache, checkpoint, families
from eigjax.protocol import POLICIES
from experiments import config_flags, files, interrupts, rle
from experiments.study import cost, records, summarize
from experiments.study.config import StudyConfig


@dataclasses.dataclass(frozen=True)
class Item:
    """A non-empty sample of this process, with what its rank among the run's masks asks:
    whether the Oracle runs on it and whether its maps are kept for Fig. 2."""

    sample: Sample
    oracle: bool
    fig2: bool


CONTROL_WEIGHTS = "none: a calibration standard built from the ground truth"


@dataclasses.dataclass(frozen=True)
class _Run:
    """What every batch of one run reads: the study's config, the model, the run's id and
    resolved settings, where records go, and the device mesh."""

    cfg: StudyConfig
    model: models.Model
    id: str  # The run's id: a hash of its settings (`records.py`).
    settings: protocol.Settings
    store: records.RecordStore
    mesh: jax.sharding.Mesh

    @property
    def maps_dir(self) -> str:
        """Where this run keeps Fig. 2's maps."""
        return os.path.join(self.cfg.workdir, "maps", self.id)


def run_spec(cfg: StudyConfig, model: str, params_dir: str | None, dataset, settings) -> dict:
    """Everything that decides a run's numbers (its id is their hash); `params_dir` None
    for a model without weights (the calibrated control: its config is its identity)."""
    has_weights = params_dir is not None
    return {
        "format": records.FORMAT,
        "model": model,
        "params": os.path.realpath(params_dir) if has_weights else "",
        "weights": checkpoint.fingerprint(params_dir) if has_weights else CONTROL_WEIGHTS,
        "dataset": dataset.identity,
        "protocol": settings.identity(),
        "steps": cfg.steps,
        "seed": cfg.seed,
        "save_masks": cfg.save_masks,
    }


def run_study(cfg: StudyConfig) -> str | None:
    """Runs the study; returns the report directory (process 0 with `cfg.report`) or None.
    With `cfg.report_only`, only writes the report of the workdir's records again.

    Raises ValueError (a setting), DataError (an input file, named) or WorkdirBusy; every
    record written before the error is kept.
    """
    clock = time.perf_counter()
    cfg.check()
    if cfg.report_only:
        return summarize.write_report(cfg.workdir, cfg)
    dataset = dataset_spec.parse(cfg.dataset)
    if cfg.distributed:
        _initialize_distributed(cfg)
    refs = dataset_spec.index(
        dataset, cfg.num_images, cfg.seed, cfg.sub_datasets, cfg.labels, cfg.categories
    )
    store = records.RecordStore(cfg.workdir, jax.process_index())
    try:
        if jax.process_index() == 0:
            files.write_json(os.path.join(cfg.workdir, "config.json"), config_flags.to_json(cfg))
        # Keyed by params too: one model may be given twice (its weights before and
        # after `eigjax-finetune`).
        loaded = {(n, p): models.load(n, p) for n, p in dict.fromkeys(cfg.model_params)}
        estimate = _announce(cfg, refs, loaded)
        mesh = jax.sharding.Mesh(np.array(jax.local_devices()), ("batch",))
        for name, params_dir in dict.fromkeys(cfg.model_params):
            model = loaded[name, params_dir]
            if families.family(model.config).has_weights:
                params_dir = params_dir or cache.converted_params(name)
            for settings in dict.fromkeys(s.resolved(model.config) for s in cfg.settings):
                spec = run_spec(cfg, name, params_dir, dataset, settings)
                run = _Run(cfg, model, store.register_run(spec), settings, store, mesh)
                _run(run, refs)
    finally:
        store.close()
    if cfg.distributed:  # Every process's records are written before process 0 reports.
        multihost_utils.sync_global_devices("eigjax study: records written")
    report = None
    if cfg.report and jax.process_index() == 0:
        report = summarize.write_report(cfg.workdir, cfg)
    took = (time.perf_counter() - clock) / 60
    print(f"estimated {estimate / 60:.1f} min, took {took:.1f} min", flush=True)
    return report


def _announce(cfg: StudyConfig, refs, loaded: dict) -> float:
    """Prints the study's size and estimated time (`cost.py`); returns the estimate (s)."""
    share = -(-len(refs) // jax.process_count())
    oracle = min(cfg.oracle_images or share, share)
    work = cost.Workload(share, oracle, min(cfg.fig2_images, share))
    first = refs[0].read() if refs else None
    embed = {}
    for (name, _), model in loaded.items():  # Per model name: the same network's weights.
        embed.setdefault(name, _embed_seconds(model, first))
    seconds = cost.estimate_seconds(cfg, work, cost.matmul_rate(), embed)
    if jax.process_index() == 0:
        oracle_note = f" (the Oracle on {oracle})" if oracle < share else ""
        print(
            f"{len(refs)} masks{oracle_note} × {len(cfg.models)} model(s) × "
            f"{len(cfg.settings)} setting(s) × {len(cfg.policies)} policies × {cfg.steps} "
            f"steps: about {seconds / 60:.1f} min on this device (a cost model; finished "
            "records not counted)",
            flush=True,
        )
    return seconds


def _embed_seconds(model, sample) -> float:
    """One image's embedding on this device, its compile included (each run embeds its
    images again)."""
    if sample is None or (
        families.family(model.config).needs_ground_truth and not sample.mask.any()
    ):
        return 0.0
    clock = time.perf_counter()
    jax.block_until_ready(model.embed(sample.image, sample.mask).features)
    return time.perf_counter() - clock


def _initialize_distributed(cfg: StudyConfig) -> None:
    """`jax.distributed.initialize` with the config's coordinator (each None: detected from
    SLURM, Open MPI, TPU pods, …). The study itself runs on each process's local devices;
    only the final barrier crosses processes (on CPUs through gloo)."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        cfg.coordinator_address or None,
        cfg.num_processes or None,
        cfg.process_id if cfg.process_id >= 0 else None,
    )


def _mine(cfg: StudyConfig, refs):
    """This process's share of the samples, indices p, p + P, … (read by this process
    only), as `Item`s (None for an empty mask, with the sample). `--oracle_images` and
    `--fig2_images` take the first masks by index."""
    for i in range(jax.process_index(), len(refs), jax.process_count()):
        s = refs[i].read()
        if not s.mask.any():
            yield s, None
            continue
        yield s, Item(s, not cfg.oracle_images or i < cfg.oracle_images, i < cfg.fig2_images)


def _policies(cfg: StudyConfig, item: Item) -> list[str]:
    """The policies that run on `item`."""
    return [p for p in cfg.policies if item.oracle or POLICIES[p].kind != "search"]


def _run(run: _Run, refs) -> None:
    """One run: every policy on this process's samples, batched by image size."""
    cfg, store = run.cfg, run.store
    per_batch = run.mesh.size * cfg.batch_per_device
    buckets: dict[tuple[int, int], list[Item]] = {}
    mine = len(range(jax.process_index(), len(refs), jax.process_count()))
    with tqdm(total=mine, desc=f"{run.model.config.name} {run.id}", unit="mask") as progress:
        for s, item in _mine(cfg, refs):
            progress.update(1)
            if item is None:
                logging.warning("%s: empty mask, skipped", s.id)
                for p in cfg.policies:
                    key = {"run": run.id, "policy": p, "image_id": s.id, "group": s.meta["group"]}
                    store.add({**key, "skipped": "empty mask"})
                continue
            if item.fig2 and not os.path.exists(os.path.join(run.maps_dir, f"{s.id}.npz")):
                # Kept maps change the compiled step: these images go in a batch of their own.
                _batch(run, [item], keep=True)
            elif any((run.id, p, s.id) not in store.done for p in _policies(cfg, item)):
                bucket = buckets.setdefault(s.mask.shape, [])
                bucket.append(item)
                if len(bucket) == per_batch:
                    _batch(run, buckets.pop(s.mask.shape))
        for batch in buckets.values():
            _batch(run, batch)


def _pending(run: _Run, items: list[Item], policy: str, keep: bool) -> list[int]:
    """The indexes of `items` that `policy` runs on in this batch: those it applies to and
    has no record of, or every one of Fig. 2's (`keep`: their maps are drawn together)."""
    return [
        k
        for k, item in enumerate(items)
        if policy in _policies(run.cfg, item)
        and (
            (keep and POLICIES[policy].paper)
            or (run.id, policy, item.sample.id) not in run.store.done
        )
    ]


def _batch(run: _Run, items: list[Item], keep: bool = False) -> None:
    """Every pending policy on a batch of equal-size samples, each on the samples it runs
    on (with `keep`, all of Fig. 2's sequences, their maps kept)."""
    cfg, model = run.cfg, run.model
    settings = dataclasses.replace(run.settings, keep_maps=keep, keep_masks=keep or cfg.save_masks)
    seeds = [cfg.seed + zlib.crc32(item.sample.id.encode()) for item in items]
    images, masks = [i.sample.image for i in items], [i.sample.mask for i in items]
    embedded = protocol.Batch.create(model, images, masks, seeds, run.mesh)
    eig_tokens = list(head_indexes(settings.heads, model.config.num_mask_tokens))
    kept: dict[str, dict] = {}
    for policy in cfg.policies:
        chosen = _pending(run, items, policy, keep)
        if not chosen:
            continue
        recs = protocol.run_batch(model, embedded.subset(chosen), policy, cfg.steps, settings)
        interrupts.check()  # A Ctrl-C dropped inside a finalizer stops the run here.
        for k, rec in zip(chosen, recs, strict=True):
            run.store.add(_line(cfg, run.id, items[k].sample, seeds[k], rec, eig_tokens))
            kept.setdefault(items[k].sample.id, {})[policy] = rec
    if keep:
        os.makedirs(run.maps_dir, exist_ok=True)
        for item in items:
            path = os.path.join(run.maps_dir, f"{item.sample.id}.npz")
            _save_maps(path, item.sample, kept.get(item.sample.id, {}), settings.grid)


def _line(cfg: StudyConfig, run: str, s: Sample, seed: int, rec: protocol.Record, eig_tokens):
    """One record's JSON line; `eig_tokens`: the mask tokens whose heads made the EIG."""
    line = {
        "run": run,
        "policy": rec.policy,
        "image_id": s.id,
        "group": s.meta["group"],
        "meta": {k: str(v) for k, v in s.meta.items()},
        "seed": seed,
        "eig_tokens": eig_tokens,
        **rec.to_json(),
    }
    if cfg.save_masks:
        line["masks"] = [rle.encode(m) for m in rec.masks]
    return line


def _save_maps(path: str, sample: Sample, recs: dict[str, protocol.Record], grid: int) -> None:
    """Everything Fig. 2 and the EIG-vs-gain figure draw for one image (float16 maps,
    bit-packed masks, the Oracle's candidates' Dice)."""
    arrays = {"image": sample.image, "gt": sample.mask, "grid": grid}
    for policy, rec in recs.items():
        arrays.update(
            {
                f"{policy}_maps": rec.eig_maps.astype(np.float16),
                f"{policy}_masks": rec.masks,
                f"{policy}_clicks": rec.clicks,
                f"{policy}_dice": rec.dice,
                f"{policy}_max_eig": rec.max_eig,
                f"{policy}_box": np.full(4, np.nan) if rec.box is None else rec.box,
                f"{policy}_candidate_dice": rec.candidate_dice,
            }
        )
    with files.atomic(path) as tmp, open(tmp, "wb") as f:  # Not *.npz: never read.
        np.savez_compressed(f, **arrays)
