"""How one Oracle step scales: grid, image size, clicks already placed (time, peak memory).

  python -m benchmarks.scaling

LiteMedSAM (real weights) on a real CT slice resized to the image size; the decoder's
work does not depend on the model's encoder, so sam_vit_b and MedSAM steps cost the same
at the same image size. One setting varies at a time around grid 30, 512², 1 click
placed; each point runs in its own process (peak RSS is its own), compilation excluded.
A study's Oracle time is about Σ over steps s = 1 … S-1 of the step time at s clicks.
"""

import json
import resource
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

POINTS = [(g, 512, 1) for g in (12, 20, 30)] + [(30, s, 1) for s in (256, 1024)]
POINTS += [(30, 512, k) for k in (10, 19)]


def measure(grid: int, size: int, placed: int) -> dict:
    import jax
    from PIL import Image

    from benchmarks import cases
    from eigjax import models, protocol

    image, gt = cases.ct_case(512)
    if size != 512:
        image = np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
        gt = np.asarray(Image.fromarray(gt).resize((size, size), Image.NEAREST))
    model = models.load("litemedsam")
    settings = protocol.Settings(grid=grid)
    features = model.embed(image).features
    problems, start = cases.oracle_inputs(model, gt, features, settings, placed)
    step, args, _ = cases.oracle_step(problems, start.state, placed, settings)
    times = []
    for _ in range(2):
        clock = time.perf_counter()
        jax.block_until_ready(step(*args))
        times.append(time.perf_counter() - clock)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {
        "grid": grid,
        "size": size,
        "placed": placed,
        "seconds": min(times),
        "peak_rss_gib": peak,
    }


FLAGS = flags.FLAGS


def main(argv):
    del argv
    if FLAGS.point:
        print(json.dumps(measure(*map(int, FLAGS.point.split(",")))))
        return
    print("| grid | image | clicks placed | one Oracle step (s) | peak RSS (GiB) |")
    print("|---|---|---|---|---|")
    for grid, size, placed in POINTS:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.scaling", f"--point={grid},{size},{placed}"],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        cells = f"{r['seconds']:.1f} | {r['peak_rss_gib']:.2f}"
        print(f"| {grid}×{grid} | {size}² | {placed} | {cells} |", flush=True)


if __name__ == "__main__":
    flags.DEFINE_string("point", None, "grid,size,placed: one measurement (a child process)")
    app.run(main)
