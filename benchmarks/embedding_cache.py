"""The web page's first prompt on an image: first visit, revisit, and after a restart.

  python -m benchmarks.embedding_cache

A first visit runs the image encoder; a revisit finds the embedding in memory; after a
restart (a new `Service`: nothing in memory) it is read from the on-disk cache
(`experiments/embedding_cache.py`). Each is the server's time for one /api/predict, the
EIG map included, measured after every compile is done (a warm-up image first). On
LiteMedSAM's real weights (256²) and on sam_vit_b (1024²) with seeded weights: time does
not depend on the weights' values.
"""

import os
import tempfile
import time

import numpy as np

from eigjax import models, protocol
from eigjax.models import Model, families
from experiments.embedding_cache import EmbeddingCache
from experiments.web import api
from experiments.web.catalog import Catalog, Entry
from experiments.web.messages import PromptRequest

BOX = [0.2, 0.2, 0.8, 0.8]  # The prompt: a box, as fractions of the image.


def _seeded(name: str) -> Model:
    import weights_convert
    from references import official

    net = official.build_official(families.get_config(name), seed=0)
    state = official.state_dict_numpy(net)
    return Model(families.get_config(name), weights_convert.convert_state_dict(name, state))


def _catalog(size: int) -> Catalog:
    rng = np.random.default_rng(0)
    entries = []
    for name in ("warm-up", "image"):
        picture = rng.integers(0, 256, (size, size, 3), np.uint8)
        entries.append(Entry(name, size, size, name, lambda truth=0, p=picture: (p, None)))
    return Catalog(entries)


def _predict_ms(service: api.Service, name: str, size: int) -> float:
    box = [v * size for v in BOX]
    t = time.perf_counter()
    service.predict(PromptRequest(name, box=box))
    return (time.perf_counter() - t) * 1e3


def measure(name: str, model: Model, size: int, directory: str) -> dict:
    catalog = _catalog(size)
    settings = protocol.Settings(grid=30)

    def service():
        cache = EmbeddingCache(os.path.join(directory, name), 1 << 30)
        return api.Service({name: model}, catalog, settings, {name: "bench"}, cache)

    first = service()
    _predict_ms(first, "warm-up", size)  # Compiles the encoder and the decoder.
    out = {"first": _predict_ms(first, "image", size), "revisit": _predict_ms(first, "image", size)}
    out["restart"] = _predict_ms(service(), "image", size)
    out["bytes"] = EmbeddingCache(os.path.join(directory, name)).size() // 2
    return out


def main():
    print(f"{os.cpu_count()} CPUs; one /api/predict (box prompt, EIG map on a 30×30 grid)")
    print("| model | image | first visit | revisit (memory) | after a restart (disk) | entry |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as directory:
        for name, size in (("litemedsam", 256), ("sam_vit_b", 1024)):
            model = models.load(name) if name == "litemedsam" else _seeded(name)
            m = measure(name, model, size, directory)
            print(
                f"| {name} | {size}² | {m['first']:.0f} ms | {m['revisit']:.0f} ms | "
                f"{m['restart']:.0f} ms | {m['bytes'] / 2**20:.1f} MiB |"
            )


if __name__ == "__main__":
    main()
