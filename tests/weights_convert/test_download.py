"""Official checkpoints by name or by address, offline: a local HTTP server on 127.0.0.1
serves the real LiteMedSAM checkpoint and a seeded MobileSAM one. A good download is
cached, converted and verified; a wrong hash, a truncated body or a refused connection
caches nothing and says, in one line, what to download and where to put it."""

import hashlib
import http.server
import io
import json
import os
import socket
import threading

import numpy as np
import pytest
import torch

from eigjax import models
from references import official
from tests.helpers import run_converter
from weights_convert import download
from weights_convert.sources import checkpoint_for


class _Files(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self):  # noqa: N802 (the standard library's name)
        name = os.path.basename(self.path)
        data = self.files.get(name)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        # A path under /cut/ ends after a tenth of the body it announced.
        self.wfile.write(data[: len(data) // 10] if self.path.startswith("/cut/") else data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    """(base URL, the files it serves by name): LiteMedSAM's real checkpoint as it ships."""
    _Files.files = {"lite_medsam.pth": open(checkpoint_for("litemedsam"), "rb").read()}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Files.files
    httpd.shutdown()


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EIGJAX_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _convert(*args: str, **env: str):
    proc = run_converter(*args, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _error(proc) -> str:
    """The one error line a failed command ends with (after any progress it printed)."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and [x for x in lines if x.startswith("error:")] == lines[-1:]
    return lines[-1]


def _cached(cache_dir) -> list[str]:
    """What the cache holds: its downloads (and pins), and its conversions."""
    return sorted(
        os.path.relpath(os.path.join(d, f), cache_dir)
        for d, _, fs in os.walk(cache_dir)
        for f in fs
    )


@pytest.mark.slow
def test_a_checkpoint_by_address_is_fetched_checked_cached_converted_and_verified(
    server, cache_dir
):
    base, files = server
    sha = hashlib.sha256(files["lite_medsam.pth"]).hexdigest()
    url = f"{base}/weights/lite_medsam.pth"
    env = {"EIGJAX_CACHE": str(cache_dir)}
    proc = _convert("--model=litemedsam", f"--checkpoint_url={url}", f"--sha256={sha}", **env)
    assert proc.returncode == 0, proc.stderr
    cached = cache_dir / "checkpoints" / download.file_name(url)
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == sha
    params = cache_dir / "params" / "litemedsam"
    assert json.loads((params / "model.json").read_text())["source"] == str(cached)
    assert f"→ {params}" in proc.stdout
    # The library and every command's --params default find it there.
    model = models.load("litemedsam")
    reference = models.load("litemedsam", str(params))
    np.testing.assert_array_equal(
        model.params["mask_decoder"]["iou_token"], reference.params["mask_decoder"]["iou_token"]
    )
    again = _convert("--model=litemedsam", f"--checkpoint_url={url}", **env)
    assert again.returncode == 0 and "already converted" in again.stdout


def test_a_wrong_hash_caches_nothing(server, cache_dir):
    base, _ = server
    proc = _convert(
        "--model=litemedsam",
        f"--checkpoint_url={base}/lite_medsam.pth",
        f"--sha256={'0' * 64}",
        EIGJAX_CACHE=str(cache_dir),
    )
    assert "does not match its pinned hash sha256:0000" in _error(proc)
    assert _cached(cache_dir) == [] and not (cache_dir / "params" / "litemedsam").exists()


def test_a_truncated_body_caches_nothing_and_pins_nothing(server, cache_dir):
    base, files = server
    size = len(files["lite_medsam.pth"])
    proc = _convert(
        "--model=litemedsam",
        f"--checkpoint_url={base}/cut/lite_medsam.pth",
        EIGJAX_CACHE=str(cache_dir),
    )
    line = _error(proc)
    assert f"the connection ended after {size // 10} of {size} bytes" in line
    assert "nothing was cached" in line and _cached(cache_dir) == []


def test_a_refused_connection_says_which_file_to_get_from_where_and_where_to_put_it(cache_dir):
    with socket.socket() as s:  # A port nothing listens on.
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _convert(
        "--model=sam_vit_b",
        EIGJAX_CACHE=str(cache_dir),
        EIGJAX_CHECKPOINT_MIRROR=f"http://127.0.0.1:{port}",
    )
    line = _error(proc)
    assert f"http://127.0.0.1:{port}/sam_vit_b_01ec64.pth (Connection refused)" in line
    assert str(cache_dir / "checkpoints" / "sam_vit_b_01ec64.pth") in line
    assert _cached(cache_dir) == []


def test_a_registered_checkpoint_must_match_its_pinned_hash(server, cache_dir):
    base, files = server
    files["sam_vit_b_01ec64.pth"] = b"not Meta's file" * 1000
    proc = _convert("--model=sam_vit_b", EIGJAX_CACHE=str(cache_dir), EIGJAX_CHECKPOINT_MIRROR=base)
    assert "does not match its pinned hash md5:01ec64d29a2fca3f0661936605ae66f8" in _error(proc)
    assert _cached(cache_dir) == []


def test_a_manual_checkpoint_says_where_to_get_it(cache_dir):
    proc = _convert("--model=medsam", EIGJAX_CACHE=str(cache_dir))
    line = _error(proc)
    assert "drive.google.com" in line and "cannot be downloaded automatically" in line
    assert "eigjax-convert --model=medsam --checkpoint=PATH/medsam_vit_b.pth" in line


def _seeded_mobile_sam(seed: int) -> bytes:
    buffer = io.BytesIO()
    torch.save(official.mobile_sam(seed=seed).state_dict(), buffer)
    return buffer.getvalue()


@pytest.mark.slow
def test_the_library_fetches_by_name_on_first_use_trusting_an_unpinned_file_once(
    server, cache_dir, monkeypatch
):
    """`models.load("mobile_sam")` with no params: downloaded (no hash is published: its
    SHA-256 recorded), converted through the entry point, cached; a later download that
    differs from the recorded hash is refused."""
    base, files = server
    files["mobile_sam.pt"] = _seeded_mobile_sam(3)
    monkeypatch.setenv("EIGJAX_CHECKPOINT_MIRROR", base)
    model = models.load("mobile_sam")
    net = official.mobile_sam(seed=3)
    np.testing.assert_array_equal(
        np.asarray(model.params["mask_decoder"]["iou_token"]).ravel(),
        net.mask_decoder.iou_token.weight.detach().numpy().ravel(),
    )
    pins = json.loads((cache_dir / "checkpoints" / download.PINS).read_text())
    assert pins == {
        f"{base}/mobile_sam.pt": "sha256:" + hashlib.sha256(files["mobile_sam.pt"]).hexdigest()
    }
    # The publisher's file changes: the recorded hash refuses it, and nothing is replaced.
    files["mobile_sam.pt"] = _seeded_mobile_sam(4)
    os.remove(cache_dir / "checkpoints" / "mobile_sam.pt")
    with pytest.raises(download.DownloadError, match="recorded at its first download"):
        checkpoint_for("mobile_sam")
    assert not (cache_dir / "checkpoints" / "mobile_sam.pt").exists()
