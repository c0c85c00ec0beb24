"""Labelling with the web page: saved objects that survive a restart, COCO and PNG export
checked against the saved masks, uploads, the on-disk embedding cache, and every new
route's 4xx cases. On LiteMedSAM's real weights and the bundled samples."""

import io
import json
import os
import shutil
import urllib.parse
import zipfile

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from eigjax import models, protocol
from eigjax.data import DataError, read_image
from eigjax.models import cache, checkpoint
from experiments import rle
from experiments.embedding_cache import EmbeddingCache
from experiments.files import WorkdirBusy
from experiments.web import annotations, api, export
from experiments.web import strokes as strokes_lib
from experiments.web.catalog import Catalog
from experiments.web.messages import PromptRequest
from tests.helpers import request, saved_masks, serve_in_thread

BRAIN = "mni152_axial_090.png"
SETTINGS = protocol.Settings(grid=8, oracle_chunk=protocol.CPU_CHUNK)
MAX_UPLOAD = 1 << 20


@pytest.fixture(scope="module")
def litemedsam():
    return models.load("litemedsam")


@pytest.fixture(scope="module")
def fingerprint():
    return checkpoint.fingerprint(cache.converted_params("litemedsam"))


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One embedding cache for the module's servers: each image is embedded once."""
    return str(tmp_path_factory.mktemp("embeddings"))


def _service(model, fingerprint, cache_dir):
    cache = EmbeddingCache(cache_dir, 64 << 20)
    catalog = Catalog.from_dataset("bundled")
    return api.Service({"litemedsam": model}, catalog, SETTINGS, {"litemedsam": fingerprint}, cache)


@pytest.fixture
def server(litemedsam, fingerprint, shared_cache, tmp_path):
    """A started server saving to tmp_path/work: (port, workdir, restart)."""
    workdir = str(tmp_path / "work")
    servers = []

    def start():
        if servers:
            servers[-1].shutdown()
            servers[-1].labelling.store.close()
        service = _service(litemedsam, fingerprint, shared_cache)
        servers.append(serve_in_thread(service, workdir, max_upload=MAX_UPLOAD)[0])
        return servers[-1].server_address[1]

    yield start(), workdir, start
    servers[-1].shutdown()
    servers[-1].labelling.store.close()


def _upload(port, name, data, kind="image/png", headers=None):
    return request(
        port,
        "POST",
        f"/api/upload?name={urllib.parse.quote(name)}",
        raw=data,
        headers={"Content-Type": kind, **(headers or {})},
    )


def _png(array) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.slow
def test_objects_are_saved_renamed_deleted_and_survive_a_restart(server):
    port, workdir, restart = server
    first = {"image": BRAIN, "box": [30, 20, 226, 236], "label": "brain"}
    status, a = request(port, "POST", "/api/objects", first)
    assert status == 200 and a["label"] == "brain" and a["area"] > 0, a
    assert a["prompts"] == {"clicks": [], "box": [30, 20, 226, 236], "truth": 0} and a["weights"]
    second = {"image": BRAIN, "clicks": [[130, 120, 1]], "box": [100, 90, 160, 150]}
    status, b = request(port, "POST", "/api/objects", second)
    assert status == 200 and b["label"] == "object" and b["id"] != a["id"]
    predicted = request(port, "POST", "/api/predict", {"image": BRAIN, "box": [30, 20, 226, 236]})
    mask = rle.decode(predicted[1]["mask"])
    assert np.array_equal(saved_masks(workdir)[a["id"]], mask)  # The page's mask.

    port = restart()
    status, listed = request(port, "GET", f"/api/objects?image={BRAIN}")
    assert status == 200 and [o["id"] for o in listed["objects"]] == [a["id"], b["id"]]
    images = request(port, "GET", "/api/images")[1]
    assert [i["objects"] for i in images if i["name"] == BRAIN] == [2]
    status, renamed = request(
        port, "PATCH", "/api/objects", {"image": BRAIN, "id": b["id"], "label": "ventricle"}
    )
    assert status == 200 and renamed["label"] == "ventricle"
    again = {
        **second,
        "clicks": [[130, 120, 1], [110, 100, 0]],
        "id": b["id"],
        "label": "ventricle",
    }
    status, changed = request(port, "POST", "/api/objects", again)  # Reopened, changed, saved.
    assert status == 200 and changed["id"] == b["id"] and len(changed["prompts"]["clicks"]) == 2
    assert request(port, "DELETE", "/api/objects", {"image": BRAIN, "id": a["id"]})[0] == 200
    listed = request(port, "GET", f"/api/objects?image={BRAIN}")[1]["objects"]
    assert [(o["id"], o["label"]) for o in listed] == [(b["id"], "ventricle")]


@pytest.mark.slow
def test_coco_and_png_exports_hold_exactly_the_saved_masks(server, tmp_path):
    port, workdir, _ = server
    prompts = [
        (BRAIN, [30, 20, 226, 236], "brain"),
        (BRAIN, [100, 90, 160, 150], "ventricle"),  # Overlaps the brain: drawn on top.
        ("dsb2018_nuclei.png", [100, 100, 160, 160], "nucleus"),
    ]
    for image, box, label in prompts:
        body = {"image": image, "box": box, "label": label}
        assert request(port, "POST", "/api/objects", body)[0] == 200
    saved = saved_masks(workdir)

    status, data = request(port, "GET", "/api/export?format=coco")
    assert status == 200
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(data))
    coco = COCO(str(path))
    assert sorted(c["name"] for c in coco.loadCats(coco.getCatIds())) == [
        "brain",
        "nucleus",
        "ventricle",
    ]
    assert len(coco.getImgIds()) == 4 and len(coco.getAnnIds()) == 3
    for ann in coco.loadAnns(coco.getAnnIds()):
        assert np.array_equal(coco.annToMask(ann).astype(bool), saved[ann["eigjax"]["id"]])
        assert ann["eigjax"]["model"] == "litemedsam" and ann["eigjax"]["prompts"]["box"]
        image = coco.loadImgs(ann["image_id"])[0]
        assert coco.loadCats(ann["category_id"])[0]["name"] == ann["eigjax"]["label"]
        assert (image["height"], image["width"]) == saved[ann["eigjax"]["id"]].shape
    # Polygons (scikit-image's contours) where a mask has no hole: pycocotools draws them
    # back to the mask exactly.
    status, data = request(port, "GET", "/api/export?format=coco&segmentation=polygon")
    assert status == 200
    path.write_text(json.dumps(data))
    coco = COCO(str(path))
    for ann in coco.loadAnns(coco.getAnnIds()):
        mask = saved[ann["eigjax"]["id"]]
        assert isinstance(ann["segmentation"], list) == (export.polygons(mask) is not None)
        assert np.array_equal(coco.annToMask(ann).astype(bool), mask)

    status, zipped = request(port, "GET", "/api/export?format=png")
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(zipped)) as z:
        index = json.loads(z.read("objects.json"))
        assert len(index) == 2
        for png_name, entry in index.items():
            values = np.asarray(Image.open(io.BytesIO(z.read(png_name))))
            assert Image.open(io.BytesIO(z.read(png_name))).mode == "P"
            covered = np.zeros(values.shape, bool)
            for o in reversed(entry["objects"]):  # The later object is on top.
                m = saved[o["id"]] & ~covered
                assert (values[m] == o["value"]).all()
                covered |= saved[o["id"]]
            assert (values[~covered] == 0).all()


@pytest.mark.slow
def test_an_upload_is_kept_by_content_served_and_survives_a_restart(server):
    port, workdir, restart = server
    picture = np.zeros((64, 96, 3), np.uint8)
    picture[16:48, 24:72] = 200
    status, entry = _upload(port, "my scan.png", _png(picture))
    assert status == 200 and entry["name"].startswith("my scan-") and entry["objects"] == 0
    assert (entry["width"], entry["height"], entry["has_mask"]) == (96, 64, False)
    files = os.listdir(os.path.join(workdir, "uploads"))
    assert len(files) == 2 and all(len(f.split(".")[0]) == 16 for f in files)  # Content hash.
    assert _upload(port, "again.png", _png(picture))[1]["name"] == entry["name"]  # One image.
    status, answer = request(
        port, "POST", "/api/predict", {"image": entry["name"], "clicks": [[48, 32, 1]]}
    )
    assert status == 200 and answer["dice"] is None

    port = restart()
    assert entry["name"] in [i["name"] for i in request(port, "GET", "/api/images")[1]]
    for kind, pil_format, ext in (("image/jpeg", "JPEG", ".jpg"), ("image/tiff", "TIFF", ".tif")):
        buf = io.BytesIO()
        Image.fromarray(picture[::2, ::2]).save(buf, format=pil_format)
        status, other = _upload(port, "scan" + ext, buf.getvalue(), kind)
        assert status == 200 and other["name"].endswith(ext) and other["width"] == 48, other
    assert request(port, "GET", "/api/config")[1]["max_upload_bytes"] == MAX_UPLOAD


def test_an_upload_is_shown_and_segmented_as_its_format_means(server):
    """A palette PNG and a CMYK JPEG are shown as their colours, and the model reads the
    same pixels (both through `read_image`); a float TIFF with a NaN pixel is refused."""
    port, workdir, _ = server
    y, x = np.mgrid[:24, :32]
    picture = np.stack([x * 8, y * 10, (x + y) * 4], -1).astype(np.uint8)
    palette, cmyk = io.BytesIO(), io.BytesIO()
    Image.fromarray(picture).quantize(6).save(palette, format="PNG")
    Image.fromarray(picture).convert("CMYK").save(cmyk, format="JPEG", quality=95)
    for data, kind in ((palette, "image/png"), (cmyk, "image/jpeg")):
        with Image.open(io.BytesIO(data.getvalue())) as im:
            seen = np.asarray(im.convert("RGB"))  # What an image viewer shows.
        status, entry = _upload(port, "scan." + kind.split("/")[1], data.getvalue(), kind)
        assert status == 200, entry
        status, png = request(port, "GET", f"/api/image?name={urllib.parse.quote(entry['name'])}")
        shown = np.asarray(Image.open(io.BytesIO(png)))
        np.testing.assert_array_equal(shown, seen)
        stored = [f for f in os.listdir(os.path.join(workdir, "uploads")) if not f.endswith("json")]
        segmented = [read_image(os.path.join(workdir, "uploads", f)) for f in stored]
        assert any(np.array_equal(shown, a) for a in segmented if a.shape == shown.shape)
    nan = np.linspace(0, 1, 24, dtype=np.float32).reshape(4, 6)
    nan[0, 0] = np.nan
    buf = io.BytesIO()
    Image.fromarray(nan).save(buf, format="TIFF")
    status, answer = _upload(port, "nan.tif", buf.getvalue(), "image/tiff")
    assert status == 400 and "not finite" in answer["error"], answer


@pytest.mark.slow
def test_the_overlay_draws_each_saved_object_in_its_colour(server):
    port = server[0]
    status, empty = request(port, "GET", f"/api/overlay?image={BRAIN}")
    assert status == 200 and not np.asarray(Image.open(io.BytesIO(empty)))[..., 3].any()
    body = {"image": BRAIN, "box": [30, 20, 226, 236]}
    assert request(port, "POST", "/api/objects", body)[0] == 200
    layer = np.asarray(
        Image.open(io.BytesIO(request(port, "GET", f"/api/overlay?image={BRAIN}")[1]))
    )
    opaque = layer[..., 3] == 255  # The outline, in the PNG export's first object colour.
    assert layer.shape == (256, 256, 4) and opaque.any()
    assert (layer[opaque][:, :3] == export.palette()[3:6]).all()
    assert request(port, "GET", "/api/overlay?image=nope")[0] == 404


@pytest.mark.parametrize(
    "method, path, body, status, message",
    [
        ("GET", "/api/objects?image=nope", None, 404, "unknown image"),
        ("GET", "/api/objects?image=../../etc/passwd", None, 400, "not a path"),
        (
            "PATCH",
            "/api/objects",
            {"image": BRAIN, "id": "123456789abc", "label": "x"},
            404,
            "no saved object",
        ),
        ("DELETE", "/api/objects", {"image": BRAIN, "id": "../objects"}, 404, "no saved object"),
        ("DELETE", "/api/objects", {"image": BRAIN, "id": 7}, 400, "id:"),
        (
            "PATCH",
            "/api/objects",
            {"image": BRAIN, "id": "x", "label": "y", "z": 1},
            400,
            "unknown fields",
        ),
        (
            "POST",
            "/api/objects",
            {"image": BRAIN, "clicks": [[128, 128, 1]], "label": ""},
            400,
            "label",
        ),
        (
            "POST",
            "/api/objects",
            {"image": BRAIN, "clicks": [[128, 128, 1]], "label": "a\nb"},
            400,
            "label",
        ),
        (
            "POST",
            "/api/objects",
            {"image": BRAIN, "clicks": [[128, 128, 1]], "label": ["x"]},
            400,
            "label",
        ),
        (
            "POST",
            "/api/objects",
            {"image": BRAIN, "clicks": [[128, 128, 1]], "id": "nope"},
            404,
            "no saved",
        ),
        ("POST", "/api/objects", {"image": BRAIN}, 400, "at least one click"),
        ("PATCH", "/api/predict", {}, 404, "no such endpoint"),
        ("GET", "/api/export?format=xml", None, 400, "format"),
        ("GET", "/api/export", None, 400, "format"),
        ("GET", "/api/export?format=coco&segmentation=mesh", None, 400, "segmentation"),
    ],
)
def test_labelling_routes_answer_a_clear_4xx(server, method, path, body, status, message):
    port = server[0]
    got, answer = request(port, method, path, body)
    assert got == status and message in answer["error"], answer


@pytest.mark.parametrize(
    "name, kind, data, status, message",
    [
        ("../../evil.png", "image/png", "png", 400, "not a path"),
        ("evil\\x.png", "image/png", "png", 400, "not a path"),
        ("notes.txt", "image/png", "png", 400, ".png, .jpg"),
        ("a.png", "text/plain", "png", 415, "PNG, JPEG or TIFF"),
        ("a.png", "application/json", "png", 415, "PNG, JPEG or TIFF"),
        ("a.png", "image/png", b"not an image", 400, "not a readable PNG"),
        ("a.jpg", "image/jpeg", "png", 400, "a PNG image, sent as image/jpeg"),
        ("a.png", "image/png", "big", 413, "over the upload limit of 1 MiB"),
        ("a.png", "image/png", "4097x4096", 400, "4097×4096: over 16,777,216 pixels"),
    ],
)
def test_a_bad_upload_is_refused_and_nothing_is_written(server, name, kind, data, status, message):
    port, workdir, _ = server
    if data == "png":
        data = _png(np.zeros((8, 8, 3), np.uint8))
    elif data == "big":
        data = b"\0" * (MAX_UPLOAD + 1)
    elif data == "4097x4096":  # One column over the pixel bound; a few KiB as a PNG.
        data = _png(np.zeros((4096, 4097), np.uint8))
    got, answer = _upload(port, name, data, kind)
    assert got == status and message in answer["error"], answer
    assert os.listdir(os.path.join(workdir, "uploads")) == []


def test_a_second_server_on_one_workdir_is_refused(server):
    with pytest.raises(WorkdirBusy, match="annotations are being written by"):
        annotations.AnnotationStore(server[1])


def test_a_damaged_objects_file_stops_the_start_and_is_kept(tmp_path):
    (tmp_path / "objects").mkdir()
    damaged = tmp_path / "objects" / "0123.json"
    damaged.write_text('{"image": "a", "objects": [')
    with pytest.raises(DataError, match="0123.json: not a saved-objects file"):
        annotations.AnnotationStore(str(tmp_path))
    assert damaged.read_text() == '{"image": "a", "objects": ['


@pytest.mark.slow
def test_embeddings_come_from_disk_after_a_restart_and_the_cache_is_bounded(
    litemedsam, fingerprint, tmp_path
):
    body = PromptRequest(BRAIN, clicks=[[128, 128, 1]])
    first = _service(litemedsam, fingerprint, str(tmp_path / "embeddings"))
    computed = first.predict(body)
    assert (first.cache.misses, first.cache.hits) == (1, 0)
    restarted = _service(litemedsam, fingerprint, str(tmp_path / "embeddings"))  # As restarted.
    again = restarted.predict(body)
    assert (restarted.cache.misses, restarted.cache.hits) == (0, 1)
    for key in ("mask", "eig", "iou", "suggestion"):
        assert again[key] == computed[key], key

    one = first.cache.size()
    bounded = EmbeddingCache(str(tmp_path / "embeddings"), int(1.5 * one))
    service = api.Service(
        {"litemedsam": litemedsam},
        Catalog.from_dataset("bundled"),
        SETTINGS,
        {"litemedsam": fingerprint},
        bounded,
    )
    service.predict(PromptRequest("dsb2018_nuclei.png", clicks=[[128, 128, 1]]))
    assert bounded.size() <= 1.5 * one and bounded.misses == 1
    service.predict(body)  # The brain's entry was the older one: evicted, computed again.
    assert bounded.misses == 2


@pytest.mark.slow
def test_a_file_replaced_by_another_picture_of_same_size_and_time_is_segmented_anew(
    litemedsam, tmp_path
):
    """The in-memory and disk embeddings are keyed by pixels, not by (size, mtime)."""
    rng = np.random.default_rng(3)
    pictures = [(rng.random((64, 64)) * 255).astype(np.uint8) for _ in range(2)]
    pictures[1][16:48, 16:48] = 255  # A bright square the model sees.
    folder = tmp_path / "images"
    folder.mkdir()
    path = folder / "scan.tif"  # Uncompressed: both pictures make files of one size.
    Image.fromarray(pictures[0]).save(path)
    stat = os.stat(path)
    cache = EmbeddingCache(str(tmp_path / "embeddings"))
    service = api.Service(
        {"litemedsam": litemedsam},
        Catalog.from_folder(str(folder)),
        SETTINGS,
        {"litemedsam": "f" * 16},
        cache,
    )
    prompt = PromptRequest("scan.tif", clicks=[[32, 32, 1]])
    first = service.predict(prompt)
    Image.fromarray(pictures[1]).save(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (os.stat(path).st_size, os.stat(path).st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    swapped = service.predict(prompt)
    fresh = api.Service(
        {"litemedsam": litemedsam}, Catalog.from_folder(str(folder)), SETTINGS
    ).predict(prompt)
    assert swapped["mask"] == fresh["mask"] and swapped["iou"] == fresh["iou"]
    assert swapped["iou"] != first["iou"]  # The pictures differ to the model.


def _folder_server(litemedsam, folder, workdir):
    """A server of the images in `folder` (no masks), saving to `workdir`."""
    service = api.Service({"litemedsam": litemedsam}, Catalog.from_folder(str(folder)), SETTINGS)
    return serve_in_thread(service, str(workdir))


def _stop(server):
    server.shutdown()
    server.labelling.store.close()


def _box_object(port, name):
    return request(port, "POST", "/api/objects", {"image": name, "box": [8, 8, 56, 40]})


@pytest.mark.slow
def test_a_save_rename_or_delete_that_fails_to_reach_the_disk_changes_nothing(litemedsam, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.full((48, 64), 90, np.uint8)).save(folder / "a.png")
    server, port = _folder_server(litemedsam, folder, tmp_path / "work")
    status, kept = _box_object(port, "a.png")
    assert status == 200, kept
    objects = tmp_path / "work" / "objects"
    shutil.move(objects, tmp_path / "away")
    objects.write_text("a file where the folder was: every write fails")  # As a full disk.
    try:
        assert _box_object(port, "a.png")[0] == 500
        rename = {"image": "a.png", "id": kept["id"], "label": "renamed"}
        assert request(port, "PATCH", "/api/objects", rename)[0] == 500
        delete = {"image": "a.png", "id": kept["id"]}
        assert request(port, "DELETE", "/api/objects", delete)[0] == 500
        listed = request(port, "GET", "/api/objects?image=a.png")[1]["objects"]
        assert [(o["id"], o["label"]) for o in listed] == [(kept["id"], "object")]
    finally:
        _stop(server)
        objects.unlink()
        shutil.move(tmp_path / "away", objects)
    server, port = _folder_server(litemedsam, folder, tmp_path / "work")  # A restart.
    listed = request(port, "GET", "/api/objects?image=a.png")[1]["objects"]
    _stop(server)
    assert [(o["id"], o["label"]) for o in listed] == [(kept["id"], "object")]


@pytest.mark.slow
def test_same_file_names_in_another_folder_have_their_own_objects(litemedsam, tmp_path):
    for folder, value in (("a", 90), ("b", 200)):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.full((48, 64), value, np.uint8)).save(tmp_path / folder / "x.png")
    server, port = _folder_server(litemedsam, tmp_path / "a", tmp_path / "work")
    assert _box_object(port, "x.png")[0] == 200
    _stop(server)
    server, port = _folder_server(litemedsam, tmp_path / "b", tmp_path / "work")
    listed = request(port, "GET", "/api/objects?image=x.png")[1]["objects"]
    images = request(port, "GET", "/api/images")[1]
    _stop(server)
    assert listed == [] and images[0]["objects"] == 0


@pytest.mark.slow
def test_objects_of_an_image_whose_file_changed_are_flagged_never_mixed(litemedsam, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.full((48, 64), 90, np.uint8)).save(folder / "a.png")
    server, port = _folder_server(litemedsam, folder, tmp_path / "work")
    try:
        status, saved = _box_object(port, "a.png")
        assert status == 200 and saved["image_size"] == [48, 64], saved
        Image.fromarray(np.full((30, 50), 90, np.uint8)).save(folder / "a.png")  # Replaced.
        listed = request(port, "GET", "/api/objects?image=a.png")[1]["objects"]
        assert [o["stale"] for o in listed] == [True]
        status, overlay = request(port, "GET", "/api/overlay?image=a.png")
        assert status == 200 and np.asarray(Image.open(io.BytesIO(overlay))).shape == (30, 50, 4)
        for kind in ("coco", "png"):
            status, answer = request(port, "GET", f"/api/export?format={kind}")
            assert status == 409 and "a.png" in answer["error"] and "stale" in answer["error"]
        delete = {"image": "a.png", "id": saved["id"]}
        assert request(port, "DELETE", "/api/objects", delete)[0] == 200
        assert request(port, "GET", "/api/export?format=coco")[0] == 200
    finally:
        _stop(server)


def test_an_upload_name_the_server_accepted_is_read_back_after_a_restart(server):
    port, _, restart = server
    long_name = "a" * 116 + ".png"  # The longest name accepted: with its hash, longer.
    status, entry = _upload(port, long_name, _png(np.zeros((8, 8, 3), np.uint8)))
    assert status == 200, entry
    port = restart()
    assert entry["name"] in [i["name"] for i in request(port, "GET", "/api/images")[1]]


def test_simultaneous_uploads_of_the_same_bytes_all_succeed_as_one_image(server):
    import concurrent.futures

    port, workdir, _ = server
    data = _png((np.random.default_rng(5).random((40, 40, 3)) * 255).astype(np.uint8))
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda i: _upload(port, f"same{i}.png", data), range(6)))
    assert [status for status, _ in answers] == [200] * 6, answers
    assert len({answer["name"] for _, answer in answers}) == 1
    kept = os.listdir(os.path.join(workdir, "uploads"))
    assert len(kept) == 2 and not [f for f in kept if ".tmp" in f]


def _predicted(port, body) -> np.ndarray:
    answer = request(port, "POST", "/api/predict", body)[1]
    return rle.decode(answer["mask"])


def _coco(port, tmp_path) -> dict:
    status, data = request(port, "GET", "/api/export?format=coco")
    assert status == 200, data
    return data


def test_classes_fix_labels_and_ids_and_an_object_keeps_its_strokes_and_confidence(
    litemedsam, fingerprint, shared_cache, tmp_path
):
    workdir = str(tmp_path / "work")
    service = _service(litemedsam, fingerprint, shared_cache)
    server, port = serve_in_thread(service, workdir, classes=("brain", "ventricle"))
    try:
        listed = request(port, "GET", "/api/config")[1]["classes"]
        assert [(c["name"], c["id"], c["key"]) for c in listed] == [
            ("brain", 1, "1"), ("ventricle", 2, "2")
        ]  # fmt: skip
        prompt = {"image": BRAIN, "box": [30, 20, 226, 236]}
        status, answer = request(port, "POST", "/api/objects", {**prompt, "label": "nucleus"})
        assert status == 400 and "not one of the classes ['brain', 'ventricle']" in answer["error"]
        strokes = [
            {"mode": "brush", "radius": 6, "points": [[10, 10], [40, 12]]},
            {"mode": "eraser", "radius": 4, "points": [[128, 128]]},
        ]
        status, obj = request(port, "POST", "/api/objects",
                              {**prompt, "strokes": strokes, "label": "brain"})  # fmt: skip
        assert status == 200, obj
        assert obj["strokes"] == [{**s, "radius": float(s["radius"])} for s in strokes]
        assert 0 < obj["predicted_iou"] <= 1.2 and obj["max_eig"] >= 0
        model_mask = _predicted(port, prompt)
        edited = strokes_lib.apply(model_mask, strokes_lib.parse(strokes, 256, 256))
        saved = saved_masks(workdir)[obj["id"]]
        assert np.array_equal(saved, edited) and not np.array_equal(saved, model_mask)
        assert np.array_equal(_predicted(port, {**prompt, "strokes": strokes}), saved)
        # Dice and IoU against the ground truth are the edited mask's.
        answer = request(port, "POST", "/api/predict", {**prompt, "strokes": strokes})[1]
        gt = service.entry(BRAIN).load()[1]
        inter, total = (saved & gt).sum(), saved.sum() + gt.sum()
        np.testing.assert_allclose(answer["dice"], 2 * inter / total, rtol=1e-6)
        np.testing.assert_allclose(answer["gt_iou"], inter / (total - inter), rtol=1e-6)
        coco = _coco(port, tmp_path)
        assert coco["categories"] == [{"id": 1, "name": "brain"}, {"id": 2, "name": "ventricle"}]
        (ann,) = coco["annotations"]
        image = next(i for i in coco["images"] if i["id"] == ann["image_id"])
        assert image["file_name"] == "mni152_axial_090.png" and ann["category_id"] == 1
        assert ann["eigjax"]["strokes"] == obj["strokes"]
        assert ann["eigjax"]["predicted_iou"] == obj["predicted_iou"]
    finally:
        server.shutdown()
        server.labelling.store.close()


@pytest.mark.slow
def test_free_labels_keep_the_category_id_of_their_first_save(server, tmp_path):
    port, workdir, restart = server
    for label in ("zeta", "alpha"):
        body = {"image": BRAIN, "box": [30, 20, 226, 236], "label": label}
        assert request(port, "POST", "/api/objects", body)[0] == 200
    first = _coco(port, tmp_path)
    assert first["categories"] == [{"id": 1, "name": "zeta"}, {"id": 2, "name": "alpha"}]
    port = restart()
    body = {"image": "quokka_photo.png", "box": [20, 20, 200, 200], "label": "beta"}
    assert request(port, "POST", "/api/objects", body)[0] == 200
    after = _coco(port, tmp_path)
    assert after["categories"] == [*first["categories"], {"id": 3, "name": "beta"}]
    assert [i["id"] for i in after["images"]] == [i["id"] for i in first["images"]]


def test_an_image_marked_done_or_skipped_stays_so_after_a_restart(server):
    port, workdir, restart = server
    status, entry = request(port, "PATCH", "/api/images", {"image": BRAIN, "status": "done"})
    assert status == 200 and entry["status"] == "done" and entry["name"] == BRAIN
    skipped = {"image": "quokka_photo.png", "status": "skipped"}
    assert request(port, "PATCH", "/api/images", skipped)[0] == 200
    status, answer = request(port, "PATCH", "/api/images", {"image": BRAIN, "status": "ok"})
    assert status == 400 and "status: one of ['todo', 'done', 'skipped']" in answer["error"]
    port = restart()
    listed = {i["name"]: i["status"] for i in request(port, "GET", "/api/images")[1]}
    assert listed[BRAIN] == "done" and listed["quokka_photo.png"] == "skipped"
    assert sum(v == "todo" for v in listed.values()) == 2
    request(port, "PATCH", "/api/images", {"image": BRAIN, "status": "todo"})
    assert request(port, "GET", "/api/images")[1][1]["status"] == "todo"
