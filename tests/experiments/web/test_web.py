"""The web page's server: its JSON contract on LiteMedSAM's real weights, the 4xx cases,
clients kept apart, and the command as a user starts it."""

import base64
import concurrent.futures
import io
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from eigjax import clicks, feedback, models, protocol
from eigjax.data import spec as dataset_spec
from experiments import rle
from experiments.web import api, server
from experiments.web.catalog import Catalog
from experiments.web.messages import PromptRequest
from tests.helpers import serve_in_thread

GRID = 12
BRAIN = "mni152_axial_090.png"


def start(service, workdir) -> tuple[str, object]:
    server, port = serve_in_thread(service, str(workdir))
    return f"http://127.0.0.1:{port}", server


@pytest.fixture(scope="module")
def litemedsam():
    return models.load("litemedsam")


@pytest.fixture(scope="module")
def served(litemedsam, tmp_path_factory):
    """(the server's URL, its service)."""
    settings = protocol.Settings(grid=GRID, oracle_chunk=protocol.CPU_CHUNK)
    service = api.Service({"litemedsam": litemedsam}, Catalog.from_dataset("bundled"), settings)
    base, server = start(service, tmp_path_factory.mktemp("annotations"))
    yield base, service
    server.shutdown()


@pytest.fixture(scope="module")
def url(served):
    return served[0]


@pytest.fixture(scope="module")
def brain():
    """The bundled brain sample: (image, mask)."""
    return truths()[0]


def truths():
    """The bundled brain image's masks (its ground truths): [(image, mask)] × 3."""
    samples = dataset_spec.samples(dataset_spec.parse("bundled"))
    return [(s.image, s.mask) for s in samples if s.id.startswith("mni152_axial_090_")]


def call(base, path, body=None, raw=None, method=None):
    """(status, decoded JSON or bytes)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    headers = {"Content-Type": "application/json"}
    req = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            status, payload, kind = r.status, r.read(), r.headers["Content-Type"]
    except urllib.error.HTTPError as e:
        status, payload, kind = e.code, e.read(), e.headers["Content-Type"]
    return status, json.loads(payload) if kind == "application/json" else payload


def png(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


@pytest.mark.slow
def test_images_lists_the_served_set(url):
    status, body = call(url, "/api/images")
    # One entry per image, its masks its ground truths (10 masks of 4 images).
    assert status == 200 and [e["name"] for e in body] == [
        "dsb2018_nuclei.png",
        "mni152_axial_090.png",
        "mni152_coronal_126.png",
        "quokka_photo.png",
    ]
    assert body[0] == {
        "name": "dsb2018_nuclei.png",
        "width": 256,
        "height": 256,
        "has_mask": True,
        "truths": ["nucleus_0", "nucleus_1", "nucleus_2"],
        "objects": 0,
        "status": "todo",
    }
    assert body[1]["truths"] == ["brain", "grey_matter", "white_matter"]
    status, picture = call(url, f"/api/image?name={BRAIN}")
    assert status == 200 and np.asarray(Image.open(io.BytesIO(picture))).shape == (256, 256, 3)
    for k, (_, mask) in enumerate(truths()):
        status, outline = call(url, f"/api/outline?name={BRAIN}&truth={k}")
        assert status == 200
        np.testing.assert_array_equal(
            np.asarray(Image.open(io.BytesIO(outline))), api.outline_rgba(mask)
        )
    for bad in ("3", "x"):
        status, r = call(url, f"/api/outline?name={BRAIN}&truth={bad}")
        assert status == 400 and r["error"].startswith("truth: an index below 3"), r


@pytest.mark.slow
def test_predict_follows_the_json_contract(url, brain):
    image, gt = brain
    x, y = clicks.first_click(gt)
    status, r = call(url, "/api/predict", {"image": BRAIN, "clicks": [[x, y, 1]], "box": None})
    assert status == 200, r
    mask = rle.decode(r["mask"])  # COCO RLE: compact at any image size.
    assert mask.shape == gt.shape
    # The default rule is the model's own: LiteMedSAM's single-mask output, token 0.
    assert len(r["iou"]) == 4 and r["token"] == 0 and r["model"] == "litemedsam"
    assert r["object_score"] is None  # LiteMedSAM has no object-score head.
    assert png(r["eig"]).shape == gt.shape  # Levels 0–255 of 0…eig_scale[1], ≤ 1024² here.
    assert 0 <= r["eig_max"] <= r["eig_scale"][1] <= np.log(2)
    grid = clicks.grid_points(*gt.shape, GRID)
    sx, sy = r["suggestion"]
    assert [sx, sy] in grid.tolist() and [sx, sy] != [x, y]
    assert r["suggestion_label"] == int(gt[sy, sx])
    pred = mask
    dice = 2 * (pred & gt).sum() / (pred.sum() + gt.sum())
    np.testing.assert_allclose(r["dice"], dice, atol=1e-6)
    np.testing.assert_allclose(r["gt_iou"], (pred & gt).sum() / (pred | gt).sum(), atol=1e-6)
    assert r["ms"] > 0
    # Another ground truth scores the same mask, and answers the suggestion.
    white = truths()[2][1]
    body = {"image": BRAIN, "clicks": [[x, y, 1]], "truth": 2}
    status, w = call(url, "/api/predict", body)
    assert status == 200 and w["mask"] == r["mask"] and w["suggestion"] == r["suggestion"]
    np.testing.assert_allclose(
        w["dice"], 2 * (pred & white).sum() / (pred.sum() + white.sum()), atol=1e-6
    )
    assert w["suggestion_label"] == int(white[sy, sx])
    status, e = call(url, "/api/predict", {**body, "truth": 3})
    assert status == 400 and e["error"] == "truth: an index below 3 (the image's truths), got 3"
    print(f"predict: {r['ms']:.0f} ms server time (decode, EIG, PNGs)")


@pytest.mark.slow
def test_predict_equals_the_model_with_a_box(url, brain, litemedsam):
    image, gt = brain
    box = clicks.gt_box(gt).tolist()
    body = {"image": BRAIN, "clicks": [], "box": box, "mask_rule": "token0"}
    status, r = call(url, "/api/predict", body)
    assert status == 200 and r["token"] == 0
    out = litemedsam.predict(litemedsam.embed(image), np.zeros((0, 2)), np.zeros(0, int), box)
    np.testing.assert_array_equal(rle.decode(r["mask"]), np.asarray(out.logits[0]) > 0)
    np.testing.assert_allclose(r["iou"], out.iou, atol=1e-6)


@pytest.mark.slow
def test_oracle_is_the_protocols_oracle_click(url, brain, litemedsam):
    image, gt = brain
    settings = protocol.Settings(grid=GRID, oracle_chunk=protocol.CPU_CHUNK)
    rec = protocol.run(litemedsam, image, gt, "oracle", 2, 0, settings)
    first = rec.clicks[0].tolist()
    status, r = call(url, "/api/oracle", {"image": BRAIN, "clicks": [first]})
    assert status == 200, r
    assert r["click"] == rec.clicks[1].tolist()
    np.testing.assert_allclose(r["dice"], rec.dice[1], atol=2 / gt.sum())


@pytest.mark.slow
def test_the_oracle_counts_its_candidates_and_stops_when_cancelled(served, brain):
    base, service = served
    x, y = clicks.first_click(brain[1])
    body = {"image": BRAIN, "clicks": [[x, y, 1]]}
    total, part = GRID * GRID, api.oracle_part(GRID * GRID, protocol.CPU_CHUNK)
    pool = concurrent.futures.ThreadPoolExecutor(1)

    def progress(job, running):
        """GET /api/oracle?job=: its count once it runs, None once its request answered."""
        while not running.done():
            status, answer = call(base, f"/api/oracle?job={job}")
            if status == 200:
                return answer
            time.sleep(0.005)
        return None

    # Cancelled while it waits for the model: it tries no candidate.
    with service._locks["litemedsam"]:
        running = pool.submit(call, base, "/api/oracle", {**body, "job": "held"})
        assert progress("held", running) == {"job": "held", "done": 0, "total": total}
        assert call(base, "/api/oracle", {**body, "job": "held"})[0] == 409  # Taken.
        assert call(base, "/api/oracle", {"job": "held"}, method="DELETE")[1]["cancelled"]
    status, answer = running.result()
    assert (status, answer["error"]) == (
        409,
        f"the Oracle was cancelled after 0 of {total} candidates",
    )
    # Cancelled once a part is done: it stops at the end of a part. (Retried where the
    # whole search ends before the cancel arrives.)
    for attempt in range(3):
        job = f"run{attempt}"
        running = pool.submit(call, base, "/api/oracle", {**body, "job": job})
        while (counted := progress(job, running)) and counted["done"] == 0:
            time.sleep(0.005)
        if counted and call(base, "/api/oracle", {"job": job}, method="DELETE")[0] == 200:
            break
    status, answer = running.result()
    done = int(answer["error"].split("after ")[1].split(" of")[0])
    assert status == 409 and 0 < done < total and done % part == 0, answer
    assert call(base, f"/api/oracle?job={job}")[0] == 404  # Gone with its request.
    status, answer = call(base, "/api/oracle", {**body, "job": "../x"})
    assert status == 400 and answer["error"].startswith("job: 1 to 64 letters"), answer


@pytest.mark.parametrize(
    "path, body, status, message",
    [
        ("/api/predict", {"image": "nope", "clicks": [[1, 1, 1]]}, 404, "unknown image 'nope'"),
        ("/api/predict", {"image": "../samples/x.png", "clicks": [[1, 1, 1]]}, 400, "not a path"),
        ("/api/predict", {"image": "/etc/passwd", "clicks": [[1, 1, 1]]}, 400, "not a path"),
        ("/api/predict", {"image": BRAIN, "clicks": [[1, 1, 2]]}, 400, "clicks[0][2] (label)"),
        ("/api/predict", {"image": BRAIN, "clicks": [[1, 1, True]]}, 400, "clicks[0][2] (label)"),
        ("/api/predict", {"image": BRAIN, "clicks": [[1, "a", 1]]}, 400, "clicks[0][1] (y)"),
        ("/api/predict", {"image": BRAIN, "clicks": [[300, 1, 1]]}, 400, "outside the 256×256"),
        ("/api/predict", {"image": BRAIN, "clicks": [[1, 1]]}, 400, "expected [x, y, label]"),
        ("/api/predict", {"image": BRAIN, "clicks": "1,1,1"}, 400, "clicks: expected a list"),
        ("/api/predict", {"image": BRAIN, "box": [50, 50, 10, 10]}, 400, "box: expected 0 <= x0"),
        ("/api/predict", {"image": BRAIN, "box": [1, 2, 3]}, 400, "box: expected [x0"),
        ("/api/predict", {"image": BRAIN, "clicks": []}, 400, "at least one click or a box"),
        ("/api/predict", {"image": BRAIN, "clicks": [[1, 1, 1]], "model": "x"}, 404, "model"),
        ("/api/predict", {"image": BRAIN, "clicks": [[1, 1, 1]], "tip": 1}, 400, "unknown fields"),
        ("/api/predict", {"image": BRAIN, "clicks": [[1, 1, 1]], "mask_rule": 0}, 400, "mask_rule"),
        ("/api/predict", {"image": BRAIN, "clicks": [[1, 1, 1]] * 101}, 400, "at most 100"),
        ("/api/predict", [1, 2], 400, "JSON object"),
        ("/api/nothing", {}, 404, "no such endpoint"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_problem(url, path, body, status, message):
    got, r = call(url, path, body)
    assert got == status and message in r["error"], r


@pytest.mark.parametrize(
    "raw, message",
    [
        (b'{"image": "%s", "clicks": [[NaN, 1, 1]]}' % BRAIN.encode(), "finite number"),
        (b'{"image": "%s", "clicks": [[Infinity, 1, 1]]}' % BRAIN.encode(), "finite number"),
        (b'{"image": ', "not JSON"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_malformed_bodies_get_a_400(url, raw, message):
    status, r = call(url, "/api/predict", raw=raw)
    assert status == 400 and message in r["error"], r


@pytest.mark.parametrize(
    "path, status",
    [
        ("/api/image?name=../../setup.py", 400),
        ("/api/image?name=nope", 404),
        ("/api/image", 400),  # No name given.
        ("/static/../setup.py", 404),
        ("/static/app.js", 200),
        ("/", 200),
    ],
)
def test_only_served_names_and_files_are_reachable(url, path, status):
    assert call(url, path)[0] == status


@pytest.mark.slow
def test_two_clients_never_see_each_others_prompts(url, brain):
    """Interleaved requests with different prompts: each answer is the one it gets alone."""
    _, gt = brain
    x, y = clicks.first_click(gt)
    bodies = [
        {"image": BRAIN, "clicks": [[x, y, 1]]},
        {"image": BRAIN, "clicks": [[x, y, 1], [20, 20, 0]]},
        {"image": "quokka_photo.png", "clicks": [[128, 128, 1]]},
    ]
    alone = [call(url, "/api/predict", b)[1] for b in bodies]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        together = list(pool.map(lambda b: call(url, "/api/predict", b)[1], bodies * 4))
    for i, r in enumerate(together):
        expected = alone[i % 3]
        assert r["mask"] == expected["mask"] and r["suggestion"] == expected["suggestion"]


@pytest.mark.slow
def test_a_folder_without_masks_has_no_dice_and_no_oracle(litemedsam, tmp_path, brain):
    Image.fromarray(brain[0]).save(tmp_path / "brain.png")
    (tmp_path / "notes.txt").write_text("not an image")
    catalog = Catalog.from_folder(str(tmp_path))
    service = api.Service({"lm": litemedsam}, catalog, protocol.Settings(grid=GRID))
    base, server = start(service, tmp_path / "annotations")
    try:
        assert call(base, "/api/images")[1] == [
            {
                "name": "brain.png",
                "width": 256,
                "height": 256,
                "has_mask": False,
                "truths": [],
                "objects": 0,
                "status": "todo",
            }
        ]
        status, r = call(base, "/api/predict", {"image": "brain.png", "clicks": [[128, 128, 1]]})
        assert status == 200 and r["dice"] is None and r["suggestion_label"] is None
        status, r = call(base, "/api/oracle", {"image": "brain.png", "clicks": [[128, 128, 1]]})
        assert status == 400 and "no ground truth" in r["error"]
        assert call(base, "/api/outline?name=brain.png")[0] == 404
    finally:
        server.shutdown()


@pytest.mark.slow
def test_the_programs_of_at_most_max_sizes_image_sizes_are_kept(litemedsam, tmp_path, brain):
    """Each image size compiles its own programs, whose memory maps add up to an XLA abort
    past the kernel's limit (about 220 sizes): past `max_sizes` sizes, every program is
    dropped first, and answers do not change."""
    for side in (96, 112, 128):
        Image.fromarray(brain[0][:side, :side]).save(tmp_path / f"s{side}.png")
    catalog = Catalog.from_folder(str(tmp_path))
    service = api.Service({"lm": litemedsam}, catalog, protocol.Settings(grid=GRID), max_sizes=2)

    def predict(side):
        return service.predict(PromptRequest(f"s{side}.png", clicks=[[48, 48, 1]]))

    protocol.free_programs()  # Counted from here: none of the module's earlier programs.
    first = predict(96)
    predict(112)
    assert feedback.feedback._cache_size() == 2
    predict(112)  # A size compiled for: nothing dropped.
    assert feedback.feedback._cache_size() == 2
    predict(128)  # A third size.
    assert feedback.feedback._cache_size() == 1
    assert predict(96)["mask"] == first["mask"]


@pytest.mark.slow
def test_the_page_serves_the_calibrated_control_where_there_is_a_ground_truth(tmp_path, brain):
    control = models.load("calibrated")
    settings = protocol.Settings(grid=GRID, oracle_chunk=protocol.CPU_CHUNK)
    service = api.Service({"calibrated": control}, Catalog.from_dataset("bundled"), settings)
    base, server = start(service, tmp_path / "annotations")
    try:
        x, y = clicks.first_click(brain[1])
        status, r = call(base, "/api/predict", {"image": BRAIN, "clicks": [[x, y, 1]]})
        assert status == 200, r
        assert len(r["iou"]) == 9 and r["eig_max"] > 0.6  # 8 hypotheses, a region to ask.
        emb = control.embed(*brain)
        expected = control.predict(emb, np.array([[x, y]], np.float32), np.array([1]))
        np.testing.assert_allclose(r["iou"], np.asarray(expected.iou), atol=1e-6)
        status, r = call(base, "/api/oracle", {"image": BRAIN, "clicks": [[x, y, 1]]})
        assert status == 200 and r["dice"] > 0.8
    finally:
        server.shutdown()
    Image.fromarray(brain[0]).save(tmp_path / "brain.png")
    service = api.Service({"calibrated": control}, Catalog.from_folder(str(tmp_path)), settings)
    base, server = start(service, tmp_path / "annotations2")
    try:
        status, r = call(base, "/api/predict", {"image": "brain.png", "clicks": [[9, 9, 1]]})
        assert status == 400 and "control built from the ground truth" in r["error"]
    finally:
        server.shutdown()


def _serve_command(folder, workdir) -> tuple[subprocess.Popen, str]:
    """`python -m experiments.web --port=0` as a user starts it: (process, base URL)."""
    cmd = [sys.executable, "-m", "experiments.web", "--port=0", f"--images={folder}"]
    cmd.append(f"--workdir={workdir}")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("eigjax-web: http://127.0.0.1:"):
        proc.kill()
        pytest.fail(proc.stderr.read())
    return proc, line.split()[1].rstrip("/")


@pytest.mark.slow
def test_the_command_serves_and_a_killed_server_loses_no_saved_object(tmp_path, brain):
    """On a folder of images: an object saved, the server SIGKILLed, a new one started on
    the same workdir (the dead one's lock is gone) lists the object."""
    Image.fromarray(brain[0]).save(tmp_path / "slice.png")
    proc, base = _serve_command(tmp_path, tmp_path / "annotations")
    try:
        assert call(base, "/api/images")[1][0]["name"] == "slice.png"
        body = {"image": "slice.png", "box": [30, 20, 226, 236], "label": "brain"}
        status, saved = call(base, "/api/objects", body)
        assert status == 200, saved
    finally:
        proc.kill()
        proc.wait(30)
    proc, base = _serve_command(tmp_path, tmp_path / "annotations")
    try:
        objects = call(base, "/api/objects?image=slice.png")[1]["objects"]
        assert [(o["id"], o["label"]) for o in objects] == [(saved["id"], "brain")]
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, message",
    [
        (["--images=/nonexistent"], "/nonexistent: no such directory"),
        (["--images=/tmp", "--dataset=bundled"], "not both"),
        (["--models=litemedsam,litemedsam", "--params=a"], "--params: 1 given for 2 models"),
        (["--grid=0"], "grid must be at least 1"),
    ],
)
def test_bad_flags_exit_with_one_line(args, message):
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.web", "--port=0", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_static_page_needs_nothing_from_the_network():
    for name in ("index.html", "app.js", "style.css"):
        text = open(f"{server.STATIC}/{name}").read()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, name


def test_outline_is_the_masks_boundary():
    mask = np.zeros((9, 9), bool)
    mask[2:7, 3:8] = True
    edge = api.outline_rgba(mask)[..., 3] > 0
    expected = mask.copy()
    expected[3:6, 4:7] = False  # The interior: all 4 neighbours inside.
    np.testing.assert_array_equal(edge, expected)
    full = api.outline_rgba(np.ones((4, 4), bool))[..., 3] > 0
    assert full[0].all() and full[:, 0].all() and not full[1:3, 1:3].any()  # Image border.


def test_eig_levels_follow_the_scale_at_display_size():
    eig_map = np.array([[0.0, 0.25, 0.5, 1.0, 2.0]], np.float32)
    levels = api.eig_levels(eig_map, 1.0, 1024)
    np.testing.assert_array_equal(levels, [[0, 64, 128, 255, 255]])  # Above the top: clipped.
    assert not api.eig_levels(np.zeros((2, 2), np.float32), 0.0, 1024).any()  # All zero.
    big = np.full((2000, 3000), 0.5, np.float32)
    big[:, :1500] = 0.0
    small = api.eig_levels(big, 1.0, 1024)  # Area-averaged to 1024 on the longest side.
    assert small.shape == (683, 1024) and (small[:, 0] == 0).all() and (small[:, -1] == 128).all()
