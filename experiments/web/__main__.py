"""The page: click on an image and watch the mask, the EIG map and the click EIG suggests
next; label with it (saved objects, brush and eraser, classes, export, uploads), all kept
under --workdir.

  eigjax-web                                       # LiteMedSAM on the bundled samples
  eigjax-web --models=sam_vit_b --images=/data/photos    # a folder of images (no masks)
  eigjax-web --dataset=folder:/data/pairs          # with ground truth

Then open http://127.0.0.1:8080/. The manual (keys, the HTTP API): docs/web.md. Also
`python -m experiments.web`.
"""

import os
import sys

from absl import logging

from eigjax import models
from eigjax.data import DataError
from eigjax.models import cache, checkpoint, families, get_config
from experiments import cli, config_flags
from experiments.embedding_cache import EmbeddingCache
from experiments.files import WorkdirBusy
from experiments.web import api, classes
from experiments.web.annotations import AnnotationStore
from experiments.web.catalog import Catalog
from experiments.web.config import ServeConfig
from experiments.web.labelling import Labelling
from experiments.web.server import WILDCARDS, make_server

config_flags.define(ServeConfig)


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # orbax logs every step at INFO.
    cli.sentences()
    try:
        cfg = config_flags.config(ServeConfig)
        if cfg.images:
            catalog = Catalog.from_folder(cfg.images)
        else:
            catalog = Catalog.from_dataset(
                cfg.dataset, cfg.num_images, cfg.sub_datasets, cfg.labels, cfg.categories
            )
        loaded = {m: models.load(m, p) for m, p in cfg.model_params}
        store = AnnotationStore(cfg.workdir)
        cache = EmbeddingCache(
            os.path.join(cfg.workdir, "embeddings"), cfg.embedding_cache_mb << 20
        )
        fingerprints = {m: _fingerprint(m, p) for m, p in cfg.model_params}
        service = api.Service(loaded, catalog, cfg.settings[0], fingerprints, cache)
        labelling = Labelling(service, store, cfg.max_upload_mb << 20, classes.parse(cfg.classes))
        server = make_server(labelling, cfg.host, cfg.port)
    except (ValueError, DataError, models.CheckpointError, OSError, WorkdirBusy) as e:
        sys.exit(f"error: {e}")
    host, port = server.server_address[:2]
    if cfg.host in WILDCARDS:
        print(
            f"warning: --host={cfg.host} serves every network this machine is on; anyone "
            "who reaches it sees your images (no login, no encryption)",
            file=sys.stderr,
        )
    print(
        f"eigjax-web: http://{host}:{port}/  ({len(catalog.entries)} images; models "
        f"{', '.join(loaded)}; saving to {cfg.workdir}; Ctrl-C stops)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        store.close()


def _fingerprint(name: str, params_dir: str) -> str | None:
    """The weights' fingerprint (the disk cache's key); None: not cached (and a model
    without weights, the calibrated control, is built per request)."""
    if not families.family(get_config(name)).has_weights:
        return None
    fingerprint = checkpoint.fingerprint(params_dir or cache.converted_params(name))
    if fingerprint is None:
        logging.warning("%s: weights without checksums; embeddings not cached on disk", name)
    return fingerprint


def run() -> None:
    """The `eigjax-web` command."""
    cli.entry(main, __doc__)


if __name__ == "__main__":
    run()
