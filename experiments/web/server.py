"""The page's HTTP server: `experiments/web/static/` and the JSON APIs of `api.py` and
`labelling.py` on the standard library's threaded server, one thread per request, so a
long computation (the Oracle) never stalls the page's other requests.

Every API route is one entry of `ROUTES`: (method, path) → the handler and the request
type its body must be (`messages.py`: checked in one step before the handler runs).
"""

import dataclasses
import json
import os
import threading
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple

from absl import logging

from eigjax.data import DataError, MissingFile
from experiments.web import messages
from experiments.web.labelling import Labelling
from experiments.web.messages import (
    ApiError,
    Job,
    Json,
    Mark,
    OracleRun,
    Payload,
    PromptRequest,
    Rename,
    Save,
    Target,
    Upload,
)

STATIC = os.path.join(os.path.dirname(__file__), "static")
MAX_BODY = 1 << 20
MAX_DISCARD = 1 << 28  # A refused upload up to this size is read to its end, then answered.
READ_TIMEOUT = 10.0  # Seconds a connection may take to send its request.
MAX_CONNECTIONS = 32  # Requests handled at once; more are answered 503 at once.
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
WILDCARDS = ("0.0.0.0", "::", "")  # Listening on every address: any Host is accepted.
LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")


class Call(NamedTuple):
    """What a route's handler gets: the query's first values and the typed body."""

    query: dict[str, str]
    body: object  # The route's request type (`messages.py`), or None without a body.


@dataclasses.dataclass(frozen=True)
class Route:
    """handler: (labelling, call) → `Json` or `Payload`. body: the request type of the
    route's JSON body, `messages.Upload` (a file's bytes), or None (no body)."""

    handler: Callable[[Labelling, Call], Json | Payload]
    body: type | None = None


def _png(data: bytes) -> Payload:
    return Payload("image/png", data)


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/api/config"): Route(lambda app, c: Json(app.config())),
    ("GET", "/api/images"): Route(lambda app, c: Json(app.images())),  # A bare list.
    ("PATCH", "/api/images"): Route(lambda app, c: Json(app.mark(c.body)), Mark),
    ("GET", "/api/image"): Route(lambda app, c: _png(app.service.image_png(c.query.get("name")))),
    ("GET", "/api/outline"): Route(
        lambda app, c: _png(app.service.outline_png(c.query.get("name"), c.query.get("truth", "0")))
    ),
    ("GET", "/api/objects"): Route(lambda app, c: Json(app.objects(c.query.get("image")))),
    ("GET", "/api/overlay"): Route(lambda app, c: _png(app.overlay_png(c.query.get("image")))),
    ("GET", "/api/export"): Route(
        lambda app, c: app.export(c.query.get("format"), c.query.get("segmentation", "rle"))
    ),
    ("POST", "/api/predict"): Route(
        lambda app, c: Json(app.service.predict(c.body)), PromptRequest
    ),
    ("POST", "/api/oracle"): Route(lambda app, c: Json(app.service.oracle(c.body)), OracleRun),
    ("GET", "/api/oracle"): Route(
        lambda app, c: Json(app.service.oracle_progress(c.query.get("job")))
    ),
    ("DELETE", "/api/oracle"): Route(
        lambda app, c: Json(app.service.cancel_oracle(c.body.job)), Job
    ),
    ("POST", "/api/objects"): Route(lambda app, c: Json(app.save(c.body)), Save),
    ("PATCH", "/api/objects"): Route(lambda app, c: Json(app.rename(c.body)), Rename),
    ("DELETE", "/api/objects"): Route(lambda app, c: Json(app.delete(c.body)), Target),
    ("POST", "/api/upload"): Route(lambda app, c: Json(app.upload(c.body)), Upload),
}


class Handler(BaseHTTPRequestHandler):
    """The page's static files and `ROUTES`. Errors are JSON {"error": message}: 4xx for a
    client's mistake (404 for an image that is not, or no longer, there), 500 for a fault
    of ours (a generic message; the details go to the log). Every request is checked
    first: its Host (DNS rebinding), and for a route with a body its origin, content type
    and declared length."""

    labelling: Labelling  # Set on the subclass `make_server` builds.
    static_files: dict[str, str]
    allowed_hosts: frozenset[str] | None  # None: any (listening on every address).
    timeout = READ_TIMEOUT  # The socket's: a client that stalls is dropped.

    def do_GET(self):  # noqa: N802 (the standard library's name)
        self._answer()

    do_POST = do_PATCH = do_DELETE = do_GET

    def _answer(self) -> None:
        try:
            self._check_host()
            self._route()
        except ApiError as e:
            self._json({"error": str(e)}, e.status)
        except MissingFile as e:  # The image went away after start.
            self._json({"error": f"gone: {os.path.basename(str(e).split(':')[0])}"}, 404)
        except DataError:  # A served file turned unreadable: no server paths in the answer.
            logging.exception("%s %s: a served file", self.command, self.path)
            self._json({"error": "a served file is unreadable (see the server's log)"}, 500)
        except ValueError as e:  # A prompt the model refuses, named by the model's check.
            self._json({"error": str(e)}, 400)
        except Exception:  # A fault of ours: logged, and a generic answer.
            logging.exception("%s %s failed", self.command, self.path)
            self._json({"error": "internal error (see the server's log)"}, 500)

    def _route(self) -> None:
        """The static file, or the route's handler on the request's typed body."""
        url = urllib.parse.urlsplit(self.path)
        if self.command == "GET" and url.path in ("/", "/index.html"):
            return self._file("index.html")
        if self.command == "GET" and url.path.startswith("/static/"):
            return self._file(url.path.removeprefix("/static/"))
        route = ROUTES.get((self.command, url.path))
        if route is None:
            kind = "page" if self.command == "GET" else "endpoint"
            raise ApiError(404, f"no such {kind} {url.path!r}")
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        body = None
        if route.body is Upload:
            body = self._upload(query.get("name"))
        elif route.body is not None:
            self._check_origin()
            body = messages.parse(route.body, self._body())
        answer = route.handler(self.labelling, Call(query, body))
        if isinstance(answer, Json):
            return self._json(answer.data)
        return self._send(HTTPStatus.OK, answer.content_type, answer.data, answer.filename)

    def _upload(self, name) -> Upload:
        """The file's bytes as the body: name, type and declared size checked first."""
        self._check_origin(content_type=None)
        kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        length = self._length(None)
        try:
            self.labelling.check_upload(name, kind, length)
        except ApiError:
            self._discard(length)
            raise
        return Upload(name, kind, self._read(length))

    def _discard(self, length: int) -> None:
        """Reads and drops a refused upload's body (up to `MAX_DISCARD` bytes), so that the
        client, still sending, gets the answer and not a reset connection."""
        left = length if length <= MAX_DISCARD else 0
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                break
            left -= len(chunk)

    def _check_host(self) -> None:
        host = self.headers.get("Host", "")
        if self.allowed_hosts is not None and host.lower() not in self.allowed_hosts:
            raise ApiError(403, f"Host {host!r} is not this server's address")

    def _check_origin(self, content_type: str | None = "application/json") -> None:
        """A POST from another site's page is refused (a local server of medical images)."""
        origin = self.headers.get("Origin")
        if origin is not None and self.allowed_hosts is not None:
            if urllib.parse.urlsplit(origin).netloc.lower() not in self.allowed_hosts:
                raise ApiError(403, f"cross-origin request from {origin!r} refused")
        if self.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            raise ApiError(403, "cross-site request refused")
        kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type is not None and kind != content_type:
            raise ApiError(415, f"Content-Type must be {content_type}, got {kind!r}")

    def _length(self, limit: int | None = MAX_BODY) -> int:
        """The declared body length, checked against `limit` (None: the caller checks)."""
        declared = self.headers.get("Content-Length")
        if declared is None:
            raise ApiError(411, "Content-Length is required")
        if not declared.strip().isdigit():
            raise ApiError(400, f"Content-Length: not a byte count: {declared!r}")
        if limit is not None and int(declared) > limit:
            raise ApiError(413, f"body over {limit} bytes")
        return int(declared)

    def _read(self, length: int) -> bytes:
        data = self.rfile.read(length)
        if len(data) != length:
            raise ApiError(400, f"the body ended after {len(data)} of {length} bytes")
        return data

    def _body(self):
        """The request's JSON body, its declared length checked before anything is read."""
        raw = self._read(self._length())
        try:
            return json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ApiError(400, f"the body is not JSON: {e}") from None
        except RecursionError:
            raise ApiError(400, "the body is nested too deeply") from None

    def _file(self, name: str) -> None:
        path = self.static_files.get(name)  # Only the files listed at start: no paths.
        if path is None:
            raise ApiError(404, f"no such file {name!r}")
        with open(path, "rb") as f:
            data = f.read()
        self._send(HTTPStatus.OK, CONTENT_TYPES[os.path.splitext(name)[1]], data)

    def _json(self, data: dict | list, status=HTTPStatus.OK) -> None:
        try:
            text = json.dumps(data, allow_nan=False)
        except ValueError:  # NaN or infinity from a broken model: an error, never bare NaN.
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            text = json.dumps({"error": "the model gave a non-finite number (NaN or infinity)"})
        self._send(status, "application/json", text.encode())

    def _send(self, status, content_type: str, data: bytes, filename: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if filename:  # A download.
            self.send_header("Content-Disposition", f'attachment; filename="{filename}"')
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 (the standard library's name)
        logging.debug(format, *args)


class Server(ThreadingHTTPServer):
    """A thread per request, at most `max_connections` at once: beyond, a quick 503."""

    daemon_threads = True

    def __init__(self, address, handler, max_connections: int = MAX_CONNECTIONS):
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            body = b'{"error": "busy: too many connections"}'
            head = "HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            head += f"Content-Length: {len(body)}\r\n\r\n"
            try:
                request.sendall(head.encode() + body)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def allowed_hosts(host: str, port: int) -> frozenset[str] | None:
    """The Host headers that name this server (DNS rebinding defence); None: any, when it
    listens on every address (and cannot know its names)."""
    if host in WILDCARDS:
        return None
    names = {*LOCAL_NAMES, f"[{host}]" if ":" in host else host}
    return frozenset(n.lower() for name in names for n in (f"{name}:{port}", name))


def make_server(
    labelling: Labelling,
    host: str,
    port: int,
    read_timeout: float = READ_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
) -> Server:
    """A threaded HTTP server for `labelling` and its service (not started;
    `serve_forever` starts it)."""
    files = {f: os.path.join(STATIC, f) for f in os.listdir(STATIC)}
    attributes = {
        "labelling": labelling,
        "static_files": files,
        "allowed_hosts": None,
        "timeout": read_timeout,
    }
    handler = type("BoundHandler", (Handler,), attributes)
    server = Server((host, port), handler, max_connections)
    handler.allowed_hosts = allowed_hosts(host, server.server_address[1])
    return server
