"""Helpers shared by the tests (fixtures live in conftest.py)."""

import dataclasses
import http.client
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from eigjax.data import read_image, read_mask
from eigjax.models import families
from eigjax.models.sam.configs import VIT_B
from references import DEMO_DIR

# A reduced-size SAM for fast parity tests: 256 px input (16x16 embedding, 64x64 logits),
# 3 blocks (windowed, global, windowed; window 7 pads 16 → 21), narrower ViT. The decoder
# is the real one.
TINY = dataclasses.replace(
    families.get_config("sam_vit_b"),
    name="tiny_test",
    image_size=256,
    encoder=dataclasses.replace(
        VIT_B, embed_dim=96, depth=3, num_heads=4, global_attn_indexes=(1,), window_size=7
    ),
)


def demo_path(kind: str, name: str) -> str:
    """Path of a file of the SA-Med2D demo data (kind: "images" or "masks"); skips if absent."""
    path = os.path.join(DEMO_DIR, "data_demo", kind, name)
    if not os.path.exists(path):
        pytest.skip(f"SA-Med2D demo data not found at {DEMO_DIR}")
    return path


def demo_image(name: str = "amos_0507_31.png") -> np.ndarray:
    """A real CT slice (uint8 [H, W, 3]) from the SA-Med2D demo data; skips if absent."""
    return read_image(demo_path("images", name))


def demo_mask(image: str, organ: str) -> np.ndarray:
    """bool [H, W]: the demo mask of `organ` on `image` (e.g. "s0114_111.png", "aorta")."""
    stem = os.path.splitext(image)[0]
    return read_mask(demo_path("masks", f"{stem}_{organ}_000.png"))


def run_module(module: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m MODULE ARGS`, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def run_converter(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m weights_convert ARGS` (`eigjax-convert`), with `env` added."""
    return run_module("weights_convert", *args, env=env)


def max_relative_error(actual, reference) -> float:
    """max |a - r| / max(1, |r|): the parity measure, float32 rounding is ~1e-6."""
    actual, reference = np.asarray(actual, np.float64), np.asarray(reference, np.float64)
    assert actual.shape == reference.shape, (actual.shape, reference.shape)
    return float(np.max(np.abs(actual - reference) / np.maximum(1.0, np.abs(reference))))


def assert_parity(actual, reference, what: str, tol: float = 1e-4) -> None:
    err = max_relative_error(actual, reference)
    print(f"parity {what}: max relative error {err:.2e}")
    assert err <= tol, f"{what}: max relative error {err:.2e} > {tol:.0e}"


def serve_in_thread(service, workdir: str, **limits):
    """(server, port) of the web page over `service`, saving to `workdir`, started in a
    daemon thread; `server.shutdown()` then `server.labelling.store.close()` end it."""
    from experiments.web.annotations import AnnotationStore
    from experiments.web.labelling import Labelling
    from experiments.web.server import make_server

    max_upload, classes = limits.pop("max_upload", 1 << 20), limits.pop("classes", ())
    labelling = Labelling(service, AnnotationStore(workdir), max_upload, classes)
    server = make_server(labelling, "127.0.0.1", 0, **limits)
    server.labelling = labelling
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def request(port, method, path, body=None, headers=None, raw=None):
    """(status, parsed JSON or bytes), strict JSON: NaN or Infinity tokens fail."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    base = {} if method == "GET" else {"Content-Type": "application/json"}
    conn.request(method, path, body=data, headers={**base, **(headers or {})})
    response = conn.getresponse()
    payload = response.read()
    kind = response.getheader("Content-Type", "")
    conn.close()
    if kind == "application/json":
        return response.status, json.loads(payload, parse_constant=_no_constants)
    return response.status, payload


def _no_constants(name):
    raise AssertionError(f"bare {name} in a JSON answer")


def saved_masks(workdir: str) -> dict[str, np.ndarray]:
    """Object id → its mask, read from a web page workdir's files as they are on disk."""
    from experiments import rle

    out = {}
    for name in os.listdir(os.path.join(workdir, "objects")):
        with open(os.path.join(workdir, "objects", name)) as f:
            out.update({o["id"]: rle.decode(o["mask"]) for o in json.load(f)["objects"]})
    return out
