"""What one click costs the web page on a large upload: seconds and peak memory per side.

  python -m benchmarks.upload_limit                  # sides 1024, 2048, 4096
  python -m benchmarks.upload_limit --sides=1024,2048

Each side runs in a child process (its peak RSS is its own): the SA-Med2D demo CT slice
resized to side × side is served by the page's service with LiteMedSAM's real weights;
after the first prompt (embedding, compiles), three clicks are timed as the page sends
them (`Service.predict`: the mask, the EIG map and the suggestion at the image's size).
The ratio column is each side's click against the 1024² click measured in the same run.
`experiments/web/uploads.py`'s MAX_PIXELS is read off this table.
"""

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
from absl import app, flags
from PIL import Image

FLAGS = flags.FLAGS


def measure(side: int) -> dict:
    """Seconds per click (median of 3, after the first prompt) and peak RSS at side²."""
    from benchmarks import cases
    from eigjax import models, protocol
    from experiments.web import api
    from experiments.web.catalog import Catalog, Entry
    from experiments.web.messages import PromptRequest

    ct, _ = cases.ct_case(512)
    image = np.asarray(Image.fromarray(ct).resize((side, side), Image.BILINEAR))
    entry = Entry("ct", side, side, "ct", lambda truth=0: (image, None))
    settings = protocol.Settings(grid=30, oracle_chunk=protocol.CPU_CHUNK)
    service = api.Service({"litemedsam": models.load("litemedsam")}, Catalog([entry]), settings)
    clicks = [[side // 2, side // 2, 1]]
    service.predict(PromptRequest("ct", clicks=clicks))  # Embedding and compiles.
    times = []
    for k in range(3):
        clicks = [*clicks, [side // 3 + k * side // 10, side // 3, 0]]
        start = time.perf_counter()
        service.predict(PromptRequest("ct", clicks=clicks))
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB → GiB
    return {"side": side, "seconds": float(np.median(times)), "peak_rss_gib": peak}


def main(argv):
    del argv
    if FLAGS.side:
        print(json.dumps(measure(FLAGS.side)))
        return
    print(f"{os.cpu_count()} CPUs; LiteMedSAM; one click (after the first prompt), grid 30")
    print("| image | megapixels | one click (s) | vs 1024² | peak RSS (GiB) |")
    print("|---|---|---|---|---|")
    base = None
    for side in (int(s) for s in FLAGS.sides.split(",")):
        cmd = [sys.executable, "-m", "benchmarks.upload_limit", f"--side={side}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        base = base or (r["seconds"] if side == 1024 else None)
        ratio = f"{r['seconds'] / base:.1f}×" if base else "–"
        print(
            f"| {side}² | {side * side / 1e6:.1f} | {r['seconds']:.2f} | {ratio} | "
            f"{r['peak_rss_gib']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    flags.DEFINE_string("sides", "1024,2048,4096", "Image sides to measure, comma-separated.")
    flags.DEFINE_integer("side", 0, "One measurement (a child process).")
    app.run(main)
