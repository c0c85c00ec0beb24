"""A click's round trip through the web page's server: HTTP, decode, EIG, the answer's
encoding.

  python -m benchmarks.serve_roundtrip

The server runs in this process (as `eigjax-web` runs it) with
LiteMedSAM's real weights; a client POSTs a growing click sequence to /api/predict, as
the page does, on a bundled 256² image, on a 512² CT slice of the SA-Med2D demo data and
on that slice at 2000×2000 (bilinear; its mask nearest). The first prompt on an image
(embedding, compiles) is reported apart; then each click's round trip, seen by the
client, the server's own time and the answer's size. Also one Oracle click (not at
2000²: 900 decodes at that size take minutes on a CPU), warm: the page's, in parts that
it counts and may cancel between, against the protocol's one-call `oracle_click` on the
same prompt in the same run.
"""

import json
import os
import shutil
import tempfile
import threading
import time
import urllib.request

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from benchmarks import cases
from eigjax import clicks, feedback, models, protocol
from eigjax.assess import Problem
from experiments.web import api
from experiments.web.annotations import AnnotationStore
from experiments.web.catalog import Catalog, Entry
from experiments.web.labelling import Labelling
from experiments.web.server import make_server

CLICKS = 12


def post(base: str, path: str, body: dict) -> tuple[float, dict]:
    """(round trip in ms, the answer with its size in bytes as "bytes")."""
    req = urllib.request.Request(
        base + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    start = time.perf_counter()
    with urllib.request.urlopen(req) as r:
        raw = r.read()
    return (time.perf_counter() - start) * 1e3, {**json.loads(raw), "bytes": len(raw)}


def large_case(side: int) -> tuple[np.ndarray, np.ndarray]:
    """The 512² CT slice at `side`×`side`: the image bilinear, its liver mask nearest."""
    image, gt = cases.ct_case(512)
    big = np.asarray(Image.fromarray(image).resize((side, side), Image.BILINEAR))
    mask = np.asarray(Image.fromarray(gt).resize((side, side), Image.NEAREST))
    return big, mask


def one_call_oracle_ms(model, settings, image, gt, sequence) -> float:
    """The protocol's Oracle step in one call (`feedback.oracle_click`) after `sequence`,
    warm: ms."""
    user = np.asarray(sequence, np.float64)
    grid = clicks.grid_points(*gt.shape, settings.grid)
    problem = Problem(model.network, model.params, model.embed(image), jnp.asarray(gt))
    given = feedback.prompt_of(user, None).truncated(len(user) + 1)
    state = protocol.ClickState(given, jnp.asarray(feedback.clicked_on_grid(grid, user)))

    def run():
        n = len(user)
        return jax.block_until_ready(
            feedback.oracle_click(problem, state, n, capacity=n + 1, settings=settings)
        )

    run()
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) * 1e3


def measure(base: str, name: str, gt: np.ndarray, oracle: bool = True) -> dict:
    x, y = clicks.first_click(gt)
    sequence = [[x, y, 1]]
    first_ms, out = post(base, "/api/predict", {"image": name, "clicks": sequence})
    trips, server, sizes = [], [], []
    for _ in range(CLICKS):
        sx, sy = out["suggestion"]
        sequence.append([sx, sy, int(gt[sy, sx])])
        ms, out = post(base, "/api/predict", {"image": name, "clicks": sequence})
        trips.append(ms)
        server.append(out["ms"])
        sizes.append(out["bytes"])
    body = {"image": name, "clicks": sequence}
    if oracle:
        post(base, "/api/oracle", body)  # Its programs compiled.
    oracle_ms = post(base, "/api/oracle", body)[0] if oracle else float("nan")
    return {
        "first": first_ms,
        "median": float(np.median(trips)),
        "max": float(np.max(trips)),
        "server": float(np.median(server)),
        "bytes": float(np.max(sizes)),
        "oracle": oracle_ms,
        "sequence": sequence,
    }


def main():
    model = models.load("litemedsam")
    settings = protocol.Settings(grid=30, oracle_chunk=protocol.CPU_CHUNK)
    ct, ct_gt = cases.ct_case(512)
    brain = next(iter(Catalog.from_dataset("bundled", labels=("brain",)).entries.values()))
    liver = Entry(
        "amos_0004_75.png", 512, 512, "ct", lambda truth=0: (ct, ct_gt), truths=("liver",)
    )
    big, big_gt = large_case(2000)
    large = Entry(
        "amos_0004_75_2000.png",
        2000,
        2000,
        "ct2000",
        lambda truth=0: (big, big_gt),
        truths=("liver",),
    )
    entries = [brain, liver, large]
    service = api.Service({"litemedsam": model}, Catalog(entries), settings)
    workdir = tempfile.mkdtemp(prefix="eigjax-serve-")  # Saved objects: none here.
    server = make_server(Labelling(service, AnnotationStore(workdir), 1), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    print(f"{os.cpu_count()} CPUs; LiteMedSAM; {CLICKS} clicks after the first; grid 30")
    print(
        "| image | first prompt (embed + compile) | click round trip, median / max | "
        "server part (median) | answer (largest) | Oracle click, page (in parts) / one "
        "call |"
    )
    print("|---|---|---|---|---|---|")
    for entry in entries:
        image, gt = entry.load()
        m = measure(base, entry.name, gt, oracle=entry is not large)
        oracle = "not run"
        if entry is not large:
            one = one_call_oracle_ms(model, settings, image, gt, m["sequence"])
            oracle = f"{m['oracle'] / 1e3:.1f} / {one / 1e3:.1f} s ({m['oracle'] / one:.2f}×)"
        print(
            f"| {entry.name} ({entry.width}×{entry.height}) | {m['first'] / 1e3:.1f} s | "
            f"{m['median']:.0f} / {m['max']:.0f} ms | {m['server']:.0f} ms | "
            f"{m['bytes'] / 1e3:.0f} kB | {oracle} |"
        )
    server.shutdown()
    shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
