"""A local web page to click on an image and watch the mask, the EIG map and the click
EIG suggests next (README, "See where the model is unsure").

  python -m experiments.serve                      # LiteMedSAM on the bundled samples
  python -m experiments.serve --models=sam_vit_b --params=workspace/params/sam_vit_b \
      --images=/data/photos                        # a folder of images (no masks)
  python -m experiments.serve --dataset=folder:/data/pairs   # with ground truth

Serves `experiments/static/` and the JSON API of `experiments/api.py` with the standard
library's threaded HTTP server: one thread per request, so a long computation (the
Oracle) never stalls the page's other requests.
"""

import json
import os
import sys
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from absl import app, logging

from eigjax import models
from eigjax.data import DataError
from experiments import api, config_flags
from experiments.catalog import Catalog
from experiments.config import ServeConfig

STATIC = os.path.join(os.path.dirname(__file__), "static")
MAX_BODY = 1 << 20
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}

config_flags.define(ServeConfig)


class Handler(BaseHTTPRequestHandler):
    """Routes: the page's static files, GET /api/{config,images,image,outline},
    POST /api/{predict,oracle}. Errors are JSON {"error": message}: a 4xx for a client's
    mistake, 500 when a served image file went missing or bad after start."""

    service: api.Service  # Set on the subclass `make_server` builds.
    static_files: dict[str, str]

    def do_GET(self):  # noqa: N802 (the standard library's name)
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        name = query.get("name", [None])[0]
        try:
            if url.path in ("/", "/index.html"):
                self._file("index.html")
            elif url.path.startswith("/static/"):
                self._file(url.path.removeprefix("/static/"))
            elif url.path == "/api/images":
                self._json(self.service.images())  # A bare list, as the API promises.
            elif url.path == "/api/config":
                self._json(self.service.config())
            elif url.path == "/api/image":
                self._send(HTTPStatus.OK, "image/png", self.service.image_png(name))
            elif url.path == "/api/outline":
                self._send(HTTPStatus.OK, "image/png", self.service.outline_png(name))
            else:
                raise api.ApiError(404, f"no such page {url.path!r}")
        except api.ApiError as e:
            self._json({"error": str(e)}, e.status)
        except DataError as e:  # An image file went missing or bad after start.
            self._json({"error": str(e)}, HTTPStatus.INTERNAL_SERVER_ERROR)

    def do_POST(self):  # noqa: N802
        routes = {"/api/predict": self.service.predict, "/api/oracle": self.service.oracle}
        try:
            route = routes.get(urllib.parse.urlsplit(self.path).path)
            if route is None:
                raise api.ApiError(404, f"no such endpoint {self.path!r}")
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise api.ApiError(413, f"body over {MAX_BODY} bytes")
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise api.ApiError(400, f"the body is not JSON: {e}") from None
            self._json(route(body))
        except api.ApiError as e:
            self._json({"error": str(e)}, e.status)
        except (ValueError, DataError) as e:  # A prompt the model refuses, a bad image file.
            self._json({"error": str(e)}, HTTPStatus.BAD_REQUEST)

    def _file(self, name: str) -> None:
        path = self.static_files.get(name)  # Only the files listed at start: no paths.
        if path is None:
            raise api.ApiError(404, f"no such file {name!r}")
        with open(path, "rb") as f:
            data = f.read()
        self._send(HTTPStatus.OK, CONTENT_TYPES[os.path.splitext(name)[1]], data)

    def _json(self, data: dict | list, status=HTTPStatus.OK) -> None:
        self._send(status, "application/json", json.dumps(data).encode())

    def _send(self, status, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 (the standard library's name)
        logging.debug(format, *args)


def make_server(service: api.Service, host: str, port: int) -> ThreadingHTTPServer:
    """A threaded HTTP server for `service` (not started; `serve_forever` starts it)."""
    files = {f: os.path.join(STATIC, f) for f in os.listdir(STATIC)}
    handler = type("BoundHandler", (Handler,), {"service": service, "static_files": files})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # orbax logs every step at INFO.
    try:
        cfg = config_flags.config(ServeConfig)
        if cfg.images:
            catalog = Catalog.from_folder(cfg.images)
        else:
            catalog = Catalog.from_dataset(
                cfg.dataset, cfg.num_images, cfg.sub_datasets, cfg.labels, cfg.categories
            )
        loaded = {m: models.load(m, p) for m, p in cfg.model_params}
        service = api.Service(loaded, catalog, cfg.settings[0])
        server = make_server(service, cfg.host, cfg.port)
    except (ValueError, DataError, models.CheckpointError, OSError) as e:
        sys.exit(f"error: {e}")
    host, port = server.server_address[:2]
    print(
        f"eigjax serve: http://{host}:{port}/  ({len(catalog.entries)} images; models "
        f"{', '.join(loaded)}; Ctrl-C stops)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    app.run(main)
