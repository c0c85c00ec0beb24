"""Opening and reading a large dataset: the direct SA-Med2D reader against its prepared
tfds copy (`eigjax-prepare`, read as `--dataset=tfds:...`).

  python -m benchmarks.dataset_scale --masks=100000 --dir=/tmp/eigjax_scale

Generates (once, kept in --dir) a synthetic tree in the SA-Med2D-20M layout: 64×64 PNG
slices, four masks each, and `image2label.json`; prepares it. Then, each in a fresh
process so that its memory is its own, for both readers: the time to the first mask
(import excluded: opening the index and reading one sample), the peak RSS above the
interpreter's after imports at that point (the index), and masks per second read at
random indices. The same at a quarter of the masks gives the index's growth per mask,
from which its size at SA-Med2D-20M's 20 M masks is extrapolated (said as such).
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
from absl import app, flags
from PIL import Image

FLAGS = flags.FLAGS
flags.DEFINE_integer("masks", 100_000, "Masks in the synthetic tree (four per image).")
flags.DEFINE_string("dir", "/tmp/eigjax_scale", "Where the tree and its tfds copy are kept.")
flags.DEFINE_integer("reads", 2000, "Random samples read for masks per second.")

SIZE, PER_IMAGE = 64, 4
LABELS = ("liver", "kidney_left", "kidney_right", "spleen")
SUBSETS = ("FLARE", "AMOS", "WORD", "BTCV")

# Run in a fresh interpreter: argv = dataset spec, number of random reads.
PROBE = """
import json, resource, sys, time
import numpy as np
from eigjax.data import spec, tfds_source  # Both readers imported before the baseline.
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
base = rss()
t = time.perf_counter()
refs = spec.index(spec.parse(sys.argv[1]))
refs[0].read()
first = time.perf_counter() - t
index = rss() - base
picks = np.random.default_rng(0).integers(0, len(refs), int(sys.argv[2]))
t = time.perf_counter()
for i in picks:
    refs[int(i)].read()
rate = len(picks) / (time.perf_counter() - t)
print(json.dumps({"masks": len(refs), "first_s": first, "index_bytes": index, "per_s": rate}))
"""


def generate(root: str, masks: int) -> None:
    """A synthetic SA-Med2D tree of `masks` masks under `root` (kept when already whole)."""
    index_path = os.path.join(root, "image2label.json")
    if os.path.exists(index_path):
        return
    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    index = {}
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for k in range(-(-masks // PER_IMAGE)):
        stem = f"ct_{k:07d}--{SUBSETS[k % len(SUBSETS)]}--case{k // 100:05d}--z_{k % 100:03d}"
        image = rng.integers(0, 256, (SIZE, SIZE), np.uint8)
        Image.fromarray(image).save(os.path.join(root, "images", stem + ".png"))
        index[f"images/{stem}.png"] = []
        for label in LABELS[: min(PER_IMAGE, masks - k * PER_IMAGE)]:
            cy, cx, r = rng.integers(16, 48, 2).tolist() + [int(rng.integers(4, 14))]
            mask = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).astype(np.uint8) * 255
            rel = f"masks/{stem}_{label}_000.png"
            Image.fromarray(mask).save(os.path.join(root, rel))
            index[f"images/{stem}.png"].append(rel)
    with open(index_path + ".partial", "w") as f:
        json.dump(index, f)
    os.replace(index_path + ".partial", index_path)


def probe(dataset: str, reads: int) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, dataset, str(reads)], capture_output=True, text=True
    )
    if proc.returncode:
        sys.exit(proc.stderr[-2000:])
    return json.loads(proc.stdout.splitlines()[-1])


def main(argv):
    del argv
    at = {}
    small, big = FLAGS.masks // 4, FLAGS.masks
    for masks in (small, big):
        root = os.path.join(FLAGS.dir, f"samed2d_{masks}")
        t = time.perf_counter()
        generate(root, masks)
        made = time.perf_counter() - t
        t = time.perf_counter()
        name = f"scale_{masks}"
        subprocess.run(
            [sys.executable, "-m", "experiments.prepare", f"--dataset=sa_med2d:{root}",
             f"--data_dir={FLAGS.dir}/tfds", f"--name={name}", "--shard_size=4096"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        prepared = time.perf_counter() - t
        print(f"{masks} masks: tree {made:.0f} s (0 when kept), prepared in {prepared:.0f} s "
              "(a few when kept)", flush=True)  # fmt: skip
        readers = {"direct": f"sa_med2d:{root}", "tfds": f"tfds:{FLAGS.dir}/tfds/{name}"}
        for reader, dataset in readers.items():
            r = at[masks, reader] = probe(dataset, FLAGS.reads)
            print(f"  {reader:6s} first mask {r['first_s']:6.2f} s, index "
                  f"{r['index_bytes'] / 2**20:6.1f} MiB, random reads {r['per_s']:5.0f} masks/s",
                  flush=True)  # fmt: skip
    for reader in ("direct", "tfds"):
        a, b = at[small, reader], at[big, reader]
        per_mask = (b["index_bytes"] - a["index_bytes"]) / (big - small)
        per_second = (b["first_s"] - a["first_s"]) / (big - small)
        memory = max(0, b["index_bytes"] + per_mask * (20e6 - big)) / 2**30
        seconds = max(0, b["first_s"] + per_second * (20e6 - big))
        print(f"{reader}: from {small} to {big} masks, opening grows {per_mask:.0f} B and "
              f"{per_second * 1e6:.2f} µs per mask; at 20 M masks that would be "
              f"{memory:.2f} GiB and {seconds:.0f} s (extrapolated)")  # fmt: skip
    d, f = at[big, "direct"], at[big, "tfds"]
    print(f"at {big} masks, tfds/direct: first mask ×{f['first_s'] / d['first_s']:.3f}, "
          f"index memory ×{f['index_bytes'] / max(d['index_bytes'], 1):.3f}, "
          f"random reads ×{f['per_s'] / d['per_s']:.2f}")  # fmt: skip


if __name__ == "__main__":
    app.run(main)
