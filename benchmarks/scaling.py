"""How one Oracle step scales: grid, image size, clicks already placed (time, peak memory).

  python -m benchmarks.scaling

LiteMedSAM (real weights) on a real CT slice resized to the image size; the decoder's
work does not depend on the model's encoder, so sam_vit_b and MedSAM steps cost the same
at the same image size. One setting varies at a time around grid 30, 512², 1 click
placed; each point runs in its own process (peak RSS is its own), compilation excluded.
A study's Oracle time is about Σ over steps s = 1 … S-1 of the step time at s clicks.
"""

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

POINTS = [(g, 512, 1) for g in (12, 20, 30)] + [(30, s, 1) for s in (256, 1024)]
POINTS += [(30, 512, k) for k in (10, 19)]


def measure(grid: int, size: int, placed: int) -> dict:
    import jax
    import jax.numpy as jnp
    from PIL import Image

    from benchmarks.oracle_step import case_arrays
    from eigjax import clicks, models, protocol
    from eigjax.models import Embedding

    _, image, gt, _ = case_arrays("litemedsam:512")
    if size != 512:
        image = np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
        gt = np.asarray(Image.fromarray(gt).resize((size, size), Image.NEAREST))
    model = models.load("litemedsam")
    settings = protocol.Settings(grid=grid)
    points = clicks.grid_points(size, size, grid)
    start = protocol._start(gt, points, protocol.click_capacity(20), 256, settings, 0)
    state = start.state
    for k in range(1, placed):  # Further clicks already placed: grid points, labelled.
        x, y = points[k * 7 % len(points)]
        state = state.add(k, (x, y), int(gt[y, x]), jnp.asarray(points))
    emb = model.embed(image)
    args = (
        jax.device_put(model.params),
        Embedding(features=emb.features[None], original_size=emb.original_size),
        jnp.asarray(gt)[None],
        protocol._stack([state]),
        jnp.asarray(placed),
    )
    kw = {"network": model.network, "capacity": placed + 1, "settings": settings}
    kw["settings"] = protocol.Settings(
        grid=grid, oracle_chunk=protocol.oracle_chunk(settings, args, kw)
    )
    step = protocol.COMPILED.get(protocol._oracle_clicks, *args, **kw)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--point", help="grid,size,placed: one measurement (a child process)")
    args = parser.parse_args()
    if args.point:
        print(json.dumps(measure(*map(int, args.point.split(",")))))
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
    main()
