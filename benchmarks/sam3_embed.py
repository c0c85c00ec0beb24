"""SAM 3's image embedding (the 32-block trunk and the SAM 2 neck, 1008²): eigjax's
`Model.embed` against the official `Sam3Processor.set_image`, on seeded weights, each in
its own process (its peak RSS is its own).

  python -m benchmarks.sam3_embed [--repeats=2] [--workdir=workspace/bench_sam3]

  official   `build_sam3_image_model` (text encoder cut to one block: off this path) with
             seeded weights; `set_image` timed `--repeats` times; the checkpoint saved
  eigjax     the checkpoint converted by `eigjax-convert`, loaded, `embed`
             timed: the first call (compile included) and the later ones

Both embed the same image; the embeddings must agree to 1e-4 (printed).
"""

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

flags.DEFINE_integer("repeats", 2, "Timed embeddings per variant.")
flags.DEFINE_string("workdir", "workspace/bench_sam3", "Checkpoint, params and embeddings.")
flags.DEFINE_enum("variant", None, ["official", "eigjax"], "Internal: run one variant.")
FLAGS = flags.FLAGS


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _image() -> np.ndarray:
    return (np.random.default_rng(0).random((1008, 1008, 3)) * 255).astype(np.uint8)


def run_official(workdir: str, repeats: int) -> dict:
    import torch

    from references import sam3

    net = sam3.build(seed=0, text_layers=1)
    torch.save(sam3.checkpoint_dict(net), os.path.join(workdir, "sam3.pt"))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        state = sam3.processor_state(net, _image())
        times.append(time.perf_counter() - t)
    np.save(os.path.join(workdir, "official_embedding.npy"), sam3.features(net, state)[0])
    return {
        "variant": "official set_image",
        "seconds": min(times),
        "first_s": times[0],
        "peak_rss_gib": _peak_rss_gib(),
        "threads": torch.get_num_threads(),
    }


def run_eigjax(workdir: str, repeats: int) -> dict:
    from eigjax import models

    model = models.load("sam3", os.path.join(workdir, "params"))
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        emb = model.embed(_image())
        emb.features.block_until_ready()
        times.append(time.perf_counter() - t)
    np.save(os.path.join(workdir, "eigjax_embedding.npy"), np.asarray(emb.features))
    return {
        "variant": "eigjax embed",
        "seconds": min(times[1:]),
        "first_s": times[0],
        "peak_rss_gib": _peak_rss_gib(),
    }


def _child(variant: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.sam3_embed", f"--variant={variant}"]
        + [f"--workdir={FLAGS.workdir}", f"--repeats={FLAGS.repeats}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv):
    del argv
    os.makedirs(FLAGS.workdir, exist_ok=True)
    if FLAGS.variant == "official":
        print(json.dumps(run_official(FLAGS.workdir, FLAGS.repeats)))
        return
    if FLAGS.variant == "eigjax":
        print(json.dumps(run_eigjax(FLAGS.workdir, FLAGS.repeats)))
        return
    official = _child("official")
    params = os.path.join(FLAGS.workdir, "params")
    if not os.path.isdir(params):
        subprocess.run(
            [sys.executable, "-m", "weights_convert", "--model=sam3"]
            + [f"--checkpoint={os.path.join(FLAGS.workdir, 'sam3.pt')}", f"--output={params}"],
            check=True,
        )
    ours = _child("eigjax")
    a, b = (
        np.load(os.path.join(FLAGS.workdir, f"{v}_embedding.npy")) for v in ("eigjax", "official")
    )
    error = float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))
    print("| variant | s / image | first call (s) | peak RSS (GiB) |")
    print("|---|---|---|---|")
    for r in (official, ours):
        cells = (r["variant"], f"{r['seconds']:.1f}", f"{r['first_s']:.1f}")
        print(f"| {' | '.join(cells)} | {r['peak_rss_gib']:.2f} |")
    print(f"eigjax / official: {ours['seconds'] / official['seconds']:.2f}× the seconds")
    print(f"embeddings agree: max relative error {error:.2e}")


if __name__ == "__main__":
    app.run(main)
