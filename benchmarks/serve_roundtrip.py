"""A click's round trip through the web page's server: HTTP, decode, EIG, PNG encoding.

  python -m benchmarks.serve_roundtrip

The server runs in this process (as `python -m experiments.serve` runs it) with
LiteMedSAM's real weights; a client POSTs a growing click sequence to /api/predict, as
the page does, on a bundled 256² image and on a 512² CT slice of the SA-Med2D demo data.
The first prompt on an image (embedding, compiles) is reported apart; then each click's
round trip, seen by the client, and the server's own time. Also one Oracle click.
"""

import json
import os
import shutil
import tempfile
import threading
import time
import urllib.request

import numpy as np

from benchmarks import cases
from eigjax import clicks, models, protocol
from experiments.web import api
from experiments.web.annotations import AnnotationStore
from experiments.web.catalog import Catalog, Entry
from experiments.web.labelling import Labelling
from experiments.web.server import make_server

CLICKS = 12


def post(base: str, path: str, body: dict) -> tuple[float, dict]:
    req = urllib.request.Request(
        base + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    start = time.perf_counter()
    with urllib.request.urlopen(req) as r:
        out = json.loads(r.read())
    return (time.perf_counter() - start) * 1e3, out


def measure(base: str, name: str, gt: np.ndarray) -> dict:
    x, y = clicks.first_click(gt)
    sequence = [[x, y, 1]]
    first_ms, out = post(base, "/api/predict", {"image": name, "clicks": sequence})
    trips, server = [], []
    for _ in range(CLICKS):
        sx, sy = out["suggestion"]
        sequence.append([sx, sy, int(gt[sy, sx])])
        ms, out = post(base, "/api/predict", {"image": name, "clicks": sequence})
        trips.append(ms)
        server.append(out["ms"])
    oracle_ms, _ = post(base, "/api/oracle", {"image": name, "clicks": sequence})
    return {
        "first": first_ms,
        "median": float(np.median(trips)),
        "max": float(np.max(trips)),
        "server": float(np.median(server)),
        "oracle": oracle_ms,
    }


def main():
    model = models.load("litemedsam")
    settings = protocol.Settings(grid=30, oracle_chunk=protocol.CPU_CHUNK)
    ct, ct_gt = cases.ct_case(512)
    brain = next(iter(Catalog.from_dataset("bundled", labels=("brain",)).entries.values()))
    liver = Entry("amos_0004_75_liver", 512, 512, True, "ct", lambda: (ct, ct_gt))
    service = api.Service({"litemedsam": model}, Catalog([brain, liver]), settings)
    workdir = tempfile.mkdtemp(prefix="eigjax-serve-")  # Saved objects: none here.
    server = make_server(Labelling(service, AnnotationStore(workdir), 1), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    print(f"{os.cpu_count()} CPUs; LiteMedSAM; {CLICKS} clicks after the first; grid 30")
    print(
        "| image | first prompt (embed + compile) | click round trip, median / max | "
        "server part (median) | Oracle click |"
    )
    print("|---|---|---|---|---|")
    for entry in (brain, liver):
        gt = entry.load()[1]
        m = measure(base, entry.name, gt)
        print(
            f"| {entry.name} ({entry.width}×{entry.height}) | {m['first'] / 1e3:.1f} s | "
            f"{m['median']:.0f} / {m['max']:.0f} ms | {m['server']:.0f} ms | "
            f"{m['oracle'] / 1e3:.1f} s |"
        )
    server.shutdown()
    shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
