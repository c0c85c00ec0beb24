"""The EIG-vs-Oracle study as a library function: `run_study(config)`.

For every model and every protocol setting of the config (a run, keyed by its settings:
`records.py`), every policy runs on every non-empty mask of the dataset. Images of one
size go in lockstep batches sharded over the local devices; with several processes
(`jax.distributed`) each takes every process_count-th image and writes its own file. The
first `fig2_images` masks of each run also keep their EIG maps and masks for Fig. 2.
"""

import dataclasses
import json
import os
import time
import zlib

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from tqdm import tqdm

from eigjax import models, protocol
from eigjax.data import Sample
from eigjax.data import spec as dataset_spec
from eigjax.models import bundled, checkpoint, configs
from eigjax.protocol import POLICIES
from experiments import config_flags, records, summarize
from experiments.config import StudyConfig

RECORD_FORMAT = 2  # Bumped whenever a record's fields change meaning.
# One Oracle candidate costs its decoder multiply-adds at the device's matmul rate times
# this at step 1 (2 click slots), and 5 % more per further slot; a single decode (every
# other policy's step) about 5 candidates. Measured on 2 CPU cores (README, Benchmarks).
CANDIDATE_OVERHEAD, PER_SLOT, SINGLE_DECODE = 1.55, 0.05, 5.0


def matmul_rate() -> float:
    """FLOP/s of a 1024³ float32 matmul on the default device (best of 3)."""
    a = jax.numpy.ones((1024, 1024), jax.numpy.float32)
    f = jax.jit(lambda a: jax.numpy.dot(a, a, precision="highest"))
    f(a).block_until_ready()
    best = float("inf")
    for _ in range(3):
        clock = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - clock)
    return 2 * 1024**3 / best


def estimate_seconds(cfg: StudyConfig, images: int, rate: float) -> float:
    """The decoder work of the study (image embeddings not included), from a cost model."""
    total = 0.0
    for name in cfg.models:
        candidate = 2 * configs.decoder_macs(configs.get_config(name)) / rate * CANDIDATE_OVERHEAD
        for settings in cfg.settings:
            for policy in cfg.policies:
                per_image = SINGLE_DECODE * candidate * cfg.steps
                if POLICIES[policy].runs == "step":  # The Oracle's search.
                    slots = [s - 1 for s in range(1, cfg.steps)]
                    per_image += sum(
                        settings.grid**2 * candidate * (1 + PER_SLOT * k) for k in slots
                    )
                total += images * per_image
    return total


def run_spec(cfg: StudyConfig, model: str, params_dir: str, dataset, settings) -> dict:
    """Everything that decides a run's numbers (its id is their hash)."""
    return {
        "format": RECORD_FORMAT,
        "model": model,
        "params": os.path.realpath(params_dir),
        "weights": checkpoint.fingerprint(params_dir),
        "dataset": dataset.identity,
        "protocol": settings.identity(),
        "steps": cfg.steps,
        "seed": cfg.seed,
        "save_masks": cfg.save_masks,
    }


def run_study(cfg: StudyConfig) -> str | None:
    """Runs the study; returns the report directory (process 0 with `cfg.report`) or None.

    Raises ValueError (a setting), DataError (an input file, named) or WorkdirBusy; every
    record written before the error is kept.
    """
    cfg.check()
    dataset = dataset_spec.parse(cfg.dataset)
    if cfg.distributed:
        _initialize_distributed(cfg)
    refs = dataset_spec.index(
        dataset, cfg.num_images, cfg.seed, cfg.sub_datasets, cfg.labels, cfg.categories
    )
    store = records.RecordStore(cfg.workdir, jax.process_index())
    try:
        if jax.process_index() == 0:
            _write_json(os.path.join(cfg.workdir, "config.json"), config_flags.to_json(cfg))
            images = len(refs)
            minutes = estimate_seconds(cfg, images, matmul_rate()) / 60 / jax.process_count()
            print(
                f"{images} masks × {len(cfg.models)} model(s) × {len(cfg.settings)} setting(s) × "
                f"{len(cfg.policies)} policies × {cfg.steps} steps: about {minutes:.1f} min of "
                "decoder work on this device (a cost model, ±50 %; image embeddings and "
                "finished records not counted)",
                flush=True,
            )
        mesh = jax.sharding.Mesh(np.array(jax.local_devices()), ("batch",))
        for name, params_dir in cfg.model_params:
            model = models.load(name, params_dir)
            params_dir = params_dir or bundled.converted_params(name)
            for settings in cfg.settings:
                spec = run_spec(cfg, name, params_dir, dataset, settings)
                run = store.register_run(spec)
                _run(cfg, model, run, settings, refs, store, mesh)
    finally:
        store.close()
    if cfg.distributed:  # Every process's records are written before process 0 reports.
        multihost_utils.sync_global_devices("eigjax study: records written")
    if cfg.report and jax.process_index() == 0:
        return summarize.write_report(cfg.workdir)
    return None


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
    """(sample, keeps Fig. 2 maps) for this process's share of the samples, in order."""
    nonempty = 0
    for i, s in enumerate(ref.read() for ref in refs):
        fig2 = bool(s.mask.any()) and nonempty < cfg.fig2_images
        nonempty += bool(s.mask.any())
        if i % jax.process_count() == jax.process_index():
            yield s, fig2


def _run(cfg, model, run, settings, refs, store, mesh) -> None:
    """One run: every policy on this process's samples, batched by image size."""
    per_batch = mesh.size * cfg.batch_per_device
    maps_dir = os.path.join(cfg.workdir, "maps", run)
    buckets: dict[tuple[int, int], list[Sample]] = {}

    def pending(s: Sample) -> list[str]:
        return [p for p in cfg.policies if (run, p, s.id) not in store.done]

    progress = tqdm(desc=f"{model.config.name} {run}", unit="image")
    for s, fig2 in _mine(cfg, refs):
        if not s.mask.any():
            logging.warning("%s: empty mask, skipped", s.id)
            for p in pending(s):
                store.add(
                    {
                        "run": run,
                        "policy": p,
                        "image_id": s.id,
                        "group": s.meta["group"],
                        "skipped": "empty mask",
                    }
                )
            progress.update(1)
            continue
        maps_path = os.path.join(maps_dir, f"{s.id}.npz")
        if fig2 and not os.path.exists(maps_path):
            # Kept maps change the compiled step: these images go in a batch of their own.
            _batch(cfg, model, run, settings, [s], store, mesh, maps_dir)
        elif pending(s):
            bucket = buckets.setdefault(s.mask.shape, [])
            bucket.append(s)
            if len(bucket) == per_batch:
                _batch(cfg, model, run, settings, buckets.pop(s.mask.shape), store, mesh)
        progress.update(1)
    for batch in buckets.values():
        _batch(cfg, model, run, settings, batch, store, mesh)
    progress.close()


def _batch(cfg, model, run, settings, batch, store, mesh, maps_dir=None) -> None:
    """Every pending policy on a batch of equal-size samples (all of Fig. 2's with maps)."""
    keep = maps_dir is not None
    settings = dataclasses.replace(settings, keep_maps=keep, keep_masks=keep or cfg.save_masks)
    pending = [
        p
        for p in cfg.policies
        if (keep and POLICIES[p].paper) or any((run, p, s.id) not in store.done for s in batch)
    ]
    seeds = [cfg.seed + zlib.crc32(s.id.encode()) for s in batch]
    images = protocol.Batch.create(
        model, [s.image for s in batch], [s.mask for s in batch], seeds, mesh
    )
    kept = {}
    for policy in pending:
        recs = protocol.run_batch(model, images, policy, cfg.steps, settings)
        for s, seed, rec in zip(batch, seeds, recs, strict=True):
            line = {
                "run": run,
                "policy": policy,
                "image_id": s.id,
                "group": s.meta["group"],
                "meta": {k: str(v) for k, v in s.meta.items()},
                "seed": seed,
                **rec.to_json(),
            }
            if cfg.save_masks:
                line["masks"] = records.masks_to_rle(rec.masks)
            store.add(line)
            kept.setdefault(s.id, {})[policy] = rec
    if keep:
        os.makedirs(maps_dir, exist_ok=True)
        for s in batch:
            _save_maps(os.path.join(maps_dir, f"{s.id}.npz"), s, kept[s.id])


def _save_maps(path: str, sample: Sample, recs: dict[str, protocol.Record]) -> None:
    """Everything Fig. 2 draws for one image (float16 maps, bit-packed masks)."""
    arrays = {"image": sample.image, "gt": sample.mask}
    for policy, rec in recs.items():
        arrays.update(
            {
                f"{policy}_maps": rec.eig_maps.astype(np.float16),
                f"{policy}_masks": rec.masks,
                f"{policy}_clicks": rec.clicks,
                f"{policy}_dice": rec.dice,
                f"{policy}_max_eig": rec.max_eig,
                f"{policy}_box": np.full(4, np.nan) if rec.box is None else rec.box,
            }
        )
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def _write_json(path: str, data) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)
