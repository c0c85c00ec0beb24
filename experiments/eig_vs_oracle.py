"""The paper's study: click policies (EIG-guided, Oracle, baselines) × models × datasets.

  python -m experiments.eig_vs_oracle            # LiteMedSAM on the bundled samples
  python -m experiments.eig_vs_oracle --models=sam_vit_b,medsam \
      --params=workspace/params/sam_vit_b,workspace/params/medsam \
      --dataset=sa_med2d:/data/SAMed2Dv1 --sub_datasets=FLARE,ACDC,PALM --num_images=100

Writes one JSON line per (model, dataset, policy, image) to
`WORKDIR/records/process_NNN.jsonl`, the EIG maps of the first `--fig2_images` images to
`WORKDIR/maps/`, then the tables and figures (`experiments.report`) to `WORKDIR/report/`.

Resumable: a rerun skips finished records; a run killed at any moment loses no finished
record (each is one flushed, fsynced line; a cut line is dropped on restart) and doubles
none. Images of equal size run in lockstep batches sharded over the local devices
(`jax.sharding.Mesh`); with several processes (`--distributed`, `jax.distributed`) each
takes every process_count-th image and writes its own file; the report merges them.
"""

import dataclasses
import importlib.resources
import json
import os
import zlib
from collections.abc import Iterator

import jax
import numpy as np
from absl import app, flags, logging
from tqdm import tqdm

from eigjax import models, protocol
from eigjax.data import DataError, Sample, coco, folder, sa_med2d
from experiments import report
from experiments.config import DEFAULT

FLAGS = flags.FLAGS
_MODELS = flags.DEFINE_list("models", list(DEFAULT.models), "Model names.")
_PARAMS = flags.DEFINE_list(
    "params", [], "Converted params directories, one per model ('' for a bundled model)."
)
_DATASET = flags.DEFINE_string(
    "dataset", DEFAULT.dataset, "bundled | sa_med2d:ROOT | folder:ROOT | coco:ANNOTATIONS:IMAGES"
)
_SUB_DATASETS = flags.DEFINE_list("sub_datasets", [], "SA-Med2D sub-datasets (e.g. FLARE,ACDC).")
_LABELS = flags.DEFINE_list("labels", [], "SA-Med2D label names (e.g. liver,aorta).")
_CATEGORIES = flags.DEFINE_list("categories", ["person"], "COCO category names.")
_NUM_IMAGES = flags.DEFINE_integer("num_images", DEFAULT.num_images, "Masks to use; 0 = all.")
_POLICIES = flags.DEFINE_list("policies", list(DEFAULT.policies), f"Of {protocol.POLICIES}.")
_STEPS = flags.DEFINE_integer("steps", DEFAULT.steps, "Clicks per image.")
_GRID = flags.DEFINE_integer("grid", DEFAULT.grid, "Candidate grid side.")
_EIG = flags.DEFINE_enum("eig", DEFAULT.eig, ["exact", "nmc"], "EIG estimator.")
_NMC_OUTER = flags.DEFINE_integer("nmc_outer", DEFAULT.nmc_outer, "NMC outer samples N.")
_NMC_INNER = flags.DEFINE_integer("nmc_inner", DEFAULT.nmc_inner, "NMC inner samples M.")
_HEADS = flags.DEFINE_enum("heads", DEFAULT.heads, ["multimask", "all"], "EIG heads.")
_FEED_MASK = flags.DEFINE_bool("feed_mask", DEFAULT.feed_mask, "Feed the last mask back.")
_ORACLE_CHUNK = flags.DEFINE_integer("oracle_chunk", DEFAULT.oracle_chunk, "Oracle chunk.")
_SEED = flags.DEFINE_integer("seed", DEFAULT.seed, "Seed of sampling and random policies.")
_FIG2 = flags.DEFINE_integer("fig2_images", DEFAULT.fig2_images, "Images with kept EIG maps.")
_BATCH = flags.DEFINE_integer("batch_per_device", 1, "Images per device in a lockstep batch.")
_DISTRIBUTED = flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize().")
_WORKDIR = flags.DEFINE_string("workdir", DEFAULT.workdir, "Output directory.")
_REPORT = flags.DEFINE_bool("report", True, "Write tables and figures at the end.")


def bundled_root() -> str:
    return str(importlib.resources.files("eigjax") / "samples")


def open_dataset(spec: str, num_images: int, seed: int) -> tuple[str, Iterator[Sample]]:
    """(dataset name, samples) for a `--dataset` spec; `group` meta is set for the report."""
    kind, _, rest = spec.partition(":")
    if kind == "bundled":
        name, it = "bundled", sa_med2d.samples(bundled_root())
    elif kind == "sa_med2d":
        filters = {"datasets": _SUB_DATASETS.value or None, "labels": _LABELS.value or None}
        name, it = (
            f"sa_med2d:{os.path.basename(rest.rstrip('/'))}",
            sa_med2d.samples(rest, **filters),
        )
    elif kind == "folder":
        name, it = f"folder:{os.path.basename(rest.rstrip('/'))}", folder.samples(rest)
    elif kind == "coco":
        annotations, _, images = rest.partition(":")
        it = coco.samples(annotations, images, _CATEGORIES.value, num_images or None, seed)
        name = f"coco:{os.path.basename(annotations)}"
    else:
        raise app.UsageError(f"--dataset={spec}: unknown kind {kind!r}")

    def grouped():
        for i, s in enumerate(it):
            if num_images and i >= num_images:
                return
            s.meta.setdefault("group", s.meta.get("dataset") or s.meta.get("category") or name)
            yield s

    return name, grouped()


class RecordStore:
    """This process's JSONL of finished records, and the keys finished by any process."""

    def __init__(self, workdir: str, process_index: int):
        self.dir = os.path.join(workdir, "records")
        os.makedirs(self.dir, exist_ok=True)
        self.path = os.path.join(self.dir, f"process_{process_index:03d}.jsonl")
        self._drop_cut_line()
        self.done = {tuple(r[k] for k in report.KEY) for r in report.load_records(workdir)}

    def _drop_cut_line(self) -> None:
        if not os.path.exists(self.path):
            return
        with open(self.path, "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):  # Killed mid-write: keep whole lines only.
            tmp = self.path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data[: data.rfind(b"\n") + 1])
            os.replace(tmp, self.path)

    def add(self, record: dict) -> None:
        key = tuple(record[k] for k in report.KEY)
        if key in self.done:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.done.add(key)


def _settings(keep_maps: bool) -> protocol.Settings:
    return protocol.Settings(
        grid=_GRID.value,
        heads=_HEADS.value,
        eig=_EIG.value,
        nmc_outer=_NMC_OUTER.value,
        nmc_inner=_NMC_INNER.value,
        feed_mask=_FEED_MASK.value,
        oracle_chunk=_ORACLE_CHUNK.value,
        keep_maps=keep_maps,
    )


def _save_maps(path: str, sample: Sample, recs: dict[str, protocol.Record]) -> None:
    arrays = {"image": sample.image}
    for policy, rec in recs.items():
        if policy not in ("eig", "oracle"):  # Fig. 2 shows these two sequences.
            continue
        arrays.update(
            {
                f"{policy}_maps": rec.eig_maps.astype(np.float16),
                f"{policy}_clicks": rec.clicks,
                f"{policy}_dice": rec.dice,
                f"{policy}_max_eig": rec.max_eig,
            }
        )
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def run_model(name, params, dataset, samples, mesh, store, maps_dir, fig2_ids):
    """Every policy on every sample of this process, in lockstep batches of equal size."""
    model = models.load(name, params or None)
    per_batch = mesh.size * _BATCH.value
    base = {"model": name, "dataset": dataset}
    buckets: dict[tuple[int, int], list[Sample]] = {}

    def pending(s: Sample) -> list[str]:
        return [p for p in _POLICIES.value if (name, dataset, p, s.id) not in store.done]

    def flush(batch: list[Sample], keep_maps: bool) -> None:
        policies = sorted(
            {p for s in batch for p in pending(s)} | (set(_POLICIES.value) if keep_maps else set())
        )
        embeddings = protocol.embed_batch(model, [s.image for s in batch], mesh)
        results = {}
        for policy in policies:
            seeds = [_SEED.value + zlib.crc32(s.id.encode()) for s in batch]
            recs = protocol.run_batch(
                model,
                [s.image for s in batch],
                [s.mask for s in batch],
                policy,
                _STEPS.value,
                seeds,
                _settings(keep_maps),
                mesh=mesh,
                embeddings=embeddings,
            )
            for s, seed, rec in zip(batch, seeds, recs):
                store.add(
                    {
                        **base,
                        "policy": policy,
                        "image_id": s.id,
                        "group": s.meta["group"],
                        "meta": {k: str(v) for k, v in s.meta.items()},
                        "seed": seed,
                        "steps": _STEPS.value,
                        **rec.to_json(),
                    }
                )
                results.setdefault(s.id, {})[policy] = rec
        if keep_maps:
            for s in batch:
                _save_maps(os.path.join(maps_dir, f"{name}__{s.id}.npz"), s, results[s.id])
        progress.update(len(batch))

    progress = tqdm(desc=name, unit="image")
    for s in samples:
        if not s.mask.any():
            logging.warning("%s: empty mask, skipped", s.id)
            for p in _POLICIES.value:
                store.add(
                    {
                        **base,
                        "policy": p,
                        "image_id": s.id,
                        "group": s.meta["group"],
                        "skipped": "empty mask",
                    }
                )
            continue
        maps_path = os.path.join(maps_dir, f"{name}__{s.id}.npz")
        if s.id in fig2_ids and not os.path.exists(maps_path):
            flush([s], keep_maps=True)  # Kept maps change the compiled step: its own batch.
            continue
        if not pending(s):
            progress.update(1)
            continue
        bucket = buckets.setdefault(s.mask.shape, [])
        bucket.append(s)
        if len(bucket) == per_batch:
            flush(buckets.pop(s.mask.shape), keep_maps=False)
    for batch in buckets.values():
        flush(batch, keep_maps=False)
    progress.close()


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax logs every step at INFO.
    if _DISTRIBUTED.value:
        jax.distributed.initialize()
    unknown = sorted(set(_POLICIES.value) - set(protocol.POLICIES))
    if unknown:
        raise app.UsageError(f"--policies: unknown {unknown}; valid: {list(protocol.POLICIES)}")
    params = _PARAMS.value or [""] * len(_MODELS.value)
    if len(params) != len(_MODELS.value):
        raise app.UsageError("--params needs one entry per --models entry ('' for bundled)")
    workdir = _WORKDIR.value
    maps_dir = os.path.join(workdir, "maps")
    os.makedirs(maps_dir, exist_ok=True)
    store = RecordStore(workdir, jax.process_index())
    mesh = jax.sharding.Mesh(np.array(jax.local_devices()), ("batch",))
    with open(os.path.join(workdir, "config.json"), "w") as f:
        json.dump({k: v.value for k, v in FLAGS.__flags.items() if k in _FLAG_NAMES}, f, indent=2)
    for name, param_dir in zip(_MODELS.value, params):
        try:
            dataset, samples = open_dataset(_DATASET.value, _NUM_IMAGES.value, _SEED.value)
            mine = (
                s for i, s in enumerate(samples) if i % jax.process_count() == jax.process_index()
            )
            first = _first_ids(_DATASET.value, _FIG2.value)
            run_model(name, param_dir, dataset, mine, mesh, store, maps_dir, first)
        except DataError as e:
            raise app.UsageError(str(e)) from None
    if _REPORT.value and jax.process_index() == 0:
        print(f"records → {store.dir}; report → {report.write_report(workdir)}")


def _first_ids(spec: str, n: int) -> set[str]:
    """Ids of the first n non-empty samples: their EIG maps are kept for Fig. 2."""
    if n <= 0:
        return set()
    _, samples = open_dataset(spec, _NUM_IMAGES.value, _SEED.value)
    ids = []
    for s in samples:
        if s.mask.any():
            ids.append(s.id)
        if len(ids) == n:
            break
    return set(ids)


_FLAG_NAMES = {f.name for f in dataclasses.fields(DEFAULT)} | {
    "params",
    "dataset",
    "sub_datasets",
    "labels",
    "categories",
    "batch_per_device",
}

if __name__ == "__main__":
    app.run(main)
