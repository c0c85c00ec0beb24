"""The web server under bad input and hostile pages: every request gets an answer, the
body limit and timeouts hold, only its own origin may POST, answers are always valid
JSON, and served files that change or vanish are seen as they are now."""

import json
import os
import shutil
import socket
import time

import hypothesis.strategies as st
import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from PIL import Image

from eigjax import models, protocol
from eigjax.models import Model
from experiments import rle
from experiments.web import api, server
from experiments.web.catalog import Catalog
from tests.helpers import request, run_module, serve_in_thread

BRAIN = "mni152_axial_090.png"
SETTINGS = protocol.Settings(grid=8, oracle_chunk=protocol.CPU_CHUNK)


@pytest.fixture(scope="module")
def litemedsam():
    return models.load("litemedsam")


def _start(service, workdir, **limits):
    return serve_in_thread(service, str(workdir), **limits)


@pytest.fixture(scope="module")
def port(litemedsam, tmp_path_factory):
    service = api.Service({"litemedsam": litemedsam}, Catalog.from_dataset("bundled"), SETTINGS)
    server, port = _start(
        service, tmp_path_factory.mktemp("annotations"), read_timeout=3.0, max_connections=4
    )
    yield port
    server.shutdown()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"image": [BRAIN], "clicks": [[1, 1, 1]]}, "image: expected a name"),
        ({"image": {"a": 1}, "clicks": [[1, 1, 1]]}, "image: expected a name"),
        ({"image": BRAIN, "model": ["litemedsam"], "clicks": [[1, 1, 1]]}, "model: expected"),
        ({"image": BRAIN, "clicks": [[10**400, 1, 1]]}, "clicks[0][0] (x)"),
        ({"image": BRAIN, "clicks": [[1e300, 1, 1]]}, "clicks[0][0] (x)"),
        ({"image": BRAIN, "clicks": [[1, 1, 1.0]]}, "clicks[0][2] (label)"),
        ({"image": BRAIN, "clicks": [[[1], 1, 1]]}, "clicks[0][0] (x)"),
        ({"image": BRAIN, "clicks": [[1, {"y": 1}, 1]]}, "clicks[0][1] (y)"),
        ({"image": BRAIN, "box": [1, 2, [3], 4]}, "box[2]"),
        ({"image": BRAIN, "box": "1,2,3,4"}, "box: expected"),
        ({"image": BRAIN, "clicks": [[1, 1, 1]], "mask_rule": ["token0"]}, "mask_rule"),
    ],
)
def test_a_malformed_body_of_any_shape_is_a_400_naming_the_field(port, body, field):
    status, answer = request(port, "POST", "/api/predict", body)
    assert status == 400 and field in answer["error"], answer
    assert len(answer["error"]) < 300  # A client's value is quoted short.


def test_deep_nesting_is_a_400_not_a_dropped_connection(port):
    deep = b'{"image": ' + b"[" * 100000 + b"]" * 100000 + b"}"
    status, answer = request(port, "POST", "/api/predict", raw=deep)
    assert status == 400 and "nested too deeply" in answer["error"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.slow
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    extra=st.dictionaries(
        st.sampled_from(["image", "model", "clicks", "box", "mask_rule"]), json_values
    )
)
def test_no_request_body_makes_the_server_fail(port, extra):
    body = {"image": BRAIN, "clicks": [[30, 30, 1]], **extra}
    status, answer = request(port, "POST", "/api/predict", raw=json.dumps(body).encode())
    assert status in (200, 400, 404), answer  # Answered, never a 500 or a dropped connection.


@pytest.mark.parametrize(
    "headers, status",
    [
        ({"Content-Length": "-5"}, 400),
        ({"Content-Length": "ten"}, 400),
        ({"Content-Length": str(10**9)}, 413),
    ],
)
def test_the_declared_length_is_checked_before_reading(port, headers, status):
    """The body is never sent: an answer that comes anyway was given before reading."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        lines = [
            "POST /api/predict HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Content-Type: application/json",
            *[f"{k}: {v}" for k, v in headers.items()],
        ]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = s.recv(4096).decode()
    assert answer.startswith(f"HTTP/1.0 {status}"), answer[:200]


def test_a_missing_length_is_refused(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(
            f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\n\r\n".encode()
        )
        assert s.recv(4096).decode().startswith("HTTP/1.0 411")


def test_a_stalled_client_is_dropped_and_connections_are_bounded(port):
    """Half a request, then silence: the read times out (3 s here: time enough for a
    loaded machine to open the extra connection first). Beyond the limit of connections
    at once (4 here), a quick 503; the limit frees as they close."""
    stalled = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
    for s in stalled:
        s.sendall(b"GET /api/config HTTP/1.1\r\nHost: 127.0.0.1")  # Never finished.
    time.sleep(0.3)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as extra:
        extra.sendall(f"GET /api/config HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        assert extra.recv(4096).decode().startswith("HTTP/1.0 503")
    for s in stalled:
        s.settimeout(10)
        assert s.recv(4096) == b""  # Closed by the server after its read timeout.
        s.close()
    assert request(port, "GET", "/api/config")[0] == 200


@pytest.mark.slow
@pytest.mark.parametrize(
    "method, headers, status",
    [
        ("GET", {"Host": "evil.example:8080"}, 403),  # DNS rebinding: a name not ours.
        ("POST", {"Origin": "http://evil.example"}, 403),
        ("POST", {"Sec-Fetch-Site": "cross-site"}, 403),
        ("POST", {"Content-Type": "text/plain"}, 415),
        ("POST", {"Origin": "http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}, 200),
        ("GET", {"Host": "localhost:{port}"}, 200),
    ],
)
def test_only_this_servers_own_pages_may_read_and_post(port, method, headers, status):
    headers = {k: v.format(port=port) for k, v in headers.items()}
    body = {"image": BRAIN, "clicks": [[30, 30, 1]]} if method == "POST" else None
    path = "/api/predict" if method == "POST" else "/api/images"
    assert request(port, method, path, body, headers)[0] == status


@pytest.mark.slow
def test_a_model_that_gives_nan_is_an_error_in_valid_json(litemedsam, tmp_path):
    broken = jax.tree_util.tree_map(lambda a: np.full_like(a, np.nan), litemedsam.params)
    model = Model(litemedsam.config, broken)
    service = api.Service({"litemedsam": model}, Catalog.from_dataset("bundled"), SETTINGS)
    server, port = _start(service, tmp_path / "annotations")
    try:
        status, answer = request(
            port, "POST", "/api/predict", {"image": BRAIN, "clicks": [[30, 30, 1]]}
        )
        assert status == 500 and "error" in answer and "/" not in answer["error"], answer
    finally:
        server.shutdown()


@pytest.mark.slow
def test_a_replaced_image_is_seen_anew_and_a_deleted_one_is_a_404(litemedsam, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(folder / "a.png")
    service = api.Service({"litemedsam": litemedsam}, Catalog.from_folder(str(folder)), SETTINGS)
    server, port = _start(service, tmp_path / "annotations")
    try:
        assert (
            request(port, "POST", "/api/predict", {"image": "a.png", "clicks": [[50, 30, 1]]})[0]
            == 200
        )
        time.sleep(0.01)  # A new mtime.
        Image.fromarray(np.full((30, 20, 3), 200, np.uint8)).save(folder / "a.png")
        status, images = request(port, "GET", "/api/images")
        assert images == [
            {
                "name": "a.png",
                "width": 20,
                "height": 30,
                "has_mask": False,
                "truths": [],
                "objects": 0,
                "status": "todo",
            }
        ]
        status, answer = request(
            port, "POST", "/api/predict", {"image": "a.png", "clicks": [[50, 25, 1]]}
        )
        assert status == 400 and "outside the 20×30 image" in answer["error"]
        status, answer = request(
            port, "POST", "/api/predict", {"image": "a.png", "clicks": [[10, 25, 1]]}
        )
        assert status == 200 and rle.decode(answer["mask"]).shape == (30, 20)
        os.remove(folder / "a.png")
        assert request(port, "GET", "/api/image?name=a.png")[0] == 404
        status, answer = request(
            port, "POST", "/api/predict", {"image": "a.png", "clicks": [[10, 25, 1]]}
        )
        assert status == 404 and "gone: a.png" in answer["error"]
    finally:
        server.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, message",
    [
        (["--models=litemedsam,litemedsam"], "named twice"),
        (["--dataset=folder:{collide}"], "one name, two files"),
    ],
)
def test_flags_that_cannot_be_honoured_are_refused_at_start(tmp_path, args, message):
    collide = tmp_path / "pairs"
    for sub in ("images", "masks"):
        (collide / sub).mkdir(parents=True)
    for ext in ("png", "jpg"):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(collide / "images" / f"a.{ext}")
    shutil.copy(collide / "images" / "a.png", collide / "masks" / "a.png")
    args = [a.format(collide=collide) for a in args]
    proc = run_module("experiments.web", "--port=0", *args)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr[-2000:]
    assert len(proc.stderr.strip().splitlines()) == 1


def test_listening_everywhere_warns():
    assert server.allowed_hosts("0.0.0.0", 8080) is None
    assert "localhost:8080" in server.allowed_hosts("127.0.0.1", 8080)
