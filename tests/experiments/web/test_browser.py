"""The web page in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`, driven by selenium) against the server on LiteMedSAM's real weights.

Skipped where Chromium or selenium is missing, unless EIGJAX_REQUIRE_BROWSER=1 (set by
.ci/run, which installs them): there a missing browser is a failure. The screenshot goes
to $EIGJAX_SCREENSHOTS (default: the test's temporary directory).
"""

import os
import re
import shutil
import time

import numpy as np
import pytest
from PIL import Image

from eigjax import models, protocol
from eigjax.models import cache, checkpoint
from experiments.embedding_cache import EmbeddingCache
from experiments.web import api
from experiments.web.catalog import Catalog
from tests.helpers import saved_masks, serve_in_thread

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
BRAIN = "mni152_axial_090.png"


def _require_browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium")
    if missing:
        if os.environ.get("EIGJAX_REQUIRE_BROWSER") == "1":
            pytest.fail(f"EIGJAX_REQUIRE_BROWSER=1 but missing: {missing}")
        pytest.skip(f"no browser: missing {missing}")


@pytest.fixture(scope="module")
def litemedsam():
    return models.load("litemedsam")


def _serve(model, workdir, classes=()):
    """A started server on the bundled samples, saving to `workdir`: (server, base URL)."""
    settings = protocol.Settings(grid=30, oracle_chunk=protocol.CPU_CHUNK)
    fingerprint = checkpoint.fingerprint(cache.converted_params("litemedsam"))
    embeddings = EmbeddingCache(os.path.join(workdir, "embeddings"), 64 << 20)
    service = api.Service(
        {"litemedsam": model},
        Catalog.from_dataset("bundled"),
        settings,
        {"litemedsam": fingerprint},
        embeddings,
    )
    server, port = serve_in_thread(service, workdir, max_upload=4 << 20, classes=classes)
    return server, f"http://127.0.0.1:{port}/"


def _stop(server):
    server.shutdown()
    server.labelling.store.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium whose downloads go to its `download_dir`."""
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1100,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.download_dir = str(tmp_path_factory.mktemp("downloads"))
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": driver.download_dir}
    )
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser, litemedsam, tmp_path):
    """The browser with the page loaded."""
    server, url = _serve(litemedsam, str(tmp_path / "work"))
    browser.get(url)
    yield browser
    _stop(server)


def _wait(driver, predicate, what, timeout=240):
    from selenium.webdriver.support.ui import WebDriverWait

    state = lambda d: d.find_element("tag name", "body").get_attribute("data-state")  # noqa: E731
    try:
        WebDriverWait(driver, timeout, poll_frequency=0.1).until(
            lambda d: state(d) in ("ready", "error") and predicate(d)
        )
    except Exception as e:
        status = driver.find_element("id", "status").text
        raise AssertionError(f"waiting for {what}: state {state(driver)}, status {status!r}") from e
    assert state(driver) == "ready", driver.find_element("id", "status").text


def _text(driver, element_id):
    return driver.find_element("id", element_id).text


@pytest.mark.slow
def test_click_watch_the_mask_and_accept_the_suggestion(page, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = page
    _wait(driver, lambda d: len(Select(d.find_element("id", "image")).options) == 4, "images")
    Select(driver.find_element("id", "image")).select_by_value(BRAIN)
    _wait(driver, lambda d: "3 ground truths" in _text(d, "status"), "the brain slice")
    # The list hands the keys back once an image is chosen: N and P move at once.
    ActionChains(driver).send_keys("n").perform()
    _wait(driver, lambda d: _selected(d) != BRAIN, "N after choosing from the list")
    ActionChains(driver).send_keys("p").perform()
    _wait(driver, lambda d: _selected(d) == BRAIN, "P")
    canvas = driver.find_element("id", "canvas")
    ActionChains(driver).move_to_element_with_offset(canvas, 0, 0).click().perform()  # Centre.
    _wait(driver, lambda d: _text(d, "suggestion").startswith("("), "mask and suggestion")
    assert _text(driver, "clicks-count") == "1"
    suggestion = _text(driver, "suggestion")
    rows = driver.find_elements("css selector", "#history tbody tr")
    assert len(rows) == 1 and rows[0].text.startswith("1 + (")
    assert "nats" in _text(driver, "eig-max") and "nats" in _text(driver, "eig-top")
    assert driver.find_elements("css selector", "#tokens td.proposed")  # One token marked.

    ActionChains(driver).send_keys("a").perform()  # Accept the suggestion.
    _wait(driver, lambda d: _text(d, "clicks-count") == "2", "the accepted click")
    rows = driver.find_elements("css selector", "#history tbody tr")
    x, y = suggestion.strip("()").split(", ")
    assert len(rows) == 2 and f"({x}, {y}) (EIG)" in rows[1].text
    assert rows[1].text.split()[-3:][0] != "–"  # Dice against the ground truth.

    ActionChains(driver).move_to_element_with_offset(canvas, -200, -200).context_click().perform()
    _wait(driver, lambda d: _text(d, "clicks-count") == "3", "a negative click")
    assert "− (" in driver.find_elements("css selector", "#history tbody tr")[2].text
    driver.find_element("id", "undo").click()
    _wait(driver, lambda d: _text(d, "clicks-count") == "2", "undo")

    # A box around the brain, dragged: the box-trained model now segments it.
    drag = ActionChains(driver).move_to_element_with_offset(canvas, -190, -200)
    drag.click_and_hold().move_by_offset(190, 200).move_by_offset(190, 210).release().perform()
    _wait(driver, lambda d: len(d.find_elements("css selector", "#history tbody tr")) == 3, "box")
    row = driver.find_elements("css selector", "#history tbody tr")[2].text.split()
    assert row[1] == "box" and float(row[-3]) > 0.5, row  # Dice after the box.
    # Another of the image's ground truths scores the same prompts; earlier rows are cleared.
    assert Select(driver.find_element("id", "truth")).first_selected_option.text == "1. brain"
    Select(driver.find_element("id", "truth")).select_by_visible_text("3. white_matter")
    _wait(driver, lambda d: _history_dice(d)[-1] != row[-3], "Dice against the white matter")
    assert _history_dice(driver)[:2] == ["–", "–"]
    assert float(_history_dice(driver)[-1]) < float(row[-3])  # The box holds the whole brain.
    # The absolute EIG scale (0…ln 2): this map's EIG (~1e-4 nats) all but vanishes.
    shown = driver.execute_script("return arguments[0].toDataURL()", canvas)
    driver.find_element("id", "eig-absolute").click()
    _wait(driver, lambda d: _text(d, "eig-top") == "ln 2 = 0.693 nats", "the absolute scale")
    assert driver.execute_script("return arguments[0].toDataURL()", canvas) != shown
    driver.find_element("id", "eig-absolute").click()
    _wait(driver, lambda d: _text(d, "eig-top").endswith("e-4 nats"), "the relative scale")
    assert driver.execute_script("return arguments[0].toDataURL()", canvas) == shown

    out = os.environ.get("EIGJAX_SCREENSHOTS", str(tmp_path))
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "serve.png")
    driver.save_screenshot(path)
    assert os.path.getsize(path) > 10_000

    # The Oracle counts the grid points it has tried; Esc stops it after its current part.
    ActionChains(driver).send_keys("o").perform()
    WebDriverWait(driver, 240, poll_frequency=0.1).until(
        lambda d: re.search(r"tries every grid point: [1-9]\d* of 900", _text(d, "status"))
    )
    driver.save_screenshot(os.path.join(out, "oracle.png"))
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    _wait(driver, lambda d: "the Oracle was cancelled after" in _text(d, "status"), "cancel")
    assert driver.find_element("id", "oracle").text == "Oracle's next click (O)"


def _history_dice(driver) -> list[str]:
    return [r.text.split()[-3] for r in driver.find_elements("css selector", "#history tbody tr")]


def _selected(driver) -> str:
    from selenium.webdriver.support.ui import Select

    return Select(driver.find_element("id", "image")).first_selected_option.get_attribute("value")


def _rows(driver, table):
    return [r.text for r in driver.find_elements("css selector", f"#{table} tbody tr")]


def _drag_box(driver, corner, size):
    """Drags a box on the canvas from `corner` (offsets from its centre, CSS pixels)."""
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = driver.find_element("id", "canvas")
    chain = ActionChains(driver).move_to_element_with_offset(canvas, *corner).click_and_hold()
    chain.move_by_offset(size[0] // 2, size[1] // 2).move_by_offset(*(v - v // 2 for v in size))
    chain.release().perform()


@pytest.mark.slow
def test_label_two_objects_restart_reopen_export_and_upload(browser, litemedsam, tmp_path):
    from pycocotools.coco import COCO
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    driver, workdir = browser, str(tmp_path / "work")
    server, url = _serve(litemedsam, workdir)
    driver.get(url)
    _wait(driver, lambda d: len(Select(d.find_element("id", "image")).options) == 4, "images")
    assert _text(driver, "progress").endswith(" 0 of 4 images have objects")
    Select(driver.find_element("id", "image")).select_by_value(BRAIN)
    _wait(driver, lambda d: "3 ground truths" in _text(d, "status"), "the brain slice")
    for label, corner, size in (
        ("brain", (-190, -200), (380, 410)),
        ("ventricle", (-50, -60), (120, 120)),
    ):
        _drag_box(driver, corner, size)
        _wait(driver, lambda d: len(_rows(d, "history")) == 1, f"the {label} box")
        field = driver.find_element("id", "label")
        field.clear()
        saved = len(_rows(driver, "objects"))
        field.send_keys(label + "s")  # S types an S in the field: no shortcut there …
        assert field.get_attribute("value") == label + "s"
        field.send_keys(Keys.BACK_SPACE, Keys.ENTER)  # … and Enter saves.
        _wait(driver, lambda d, n=saved: len(_rows(d, "objects")) == n + 1, f"{label} saved")
        _wait(driver, lambda d, lb=label: lb in " ".join(_rows(d, "objects")), f"{label} saved")
    assert _text(driver, "progress").endswith(" 1 of 4 images have objects")

    _stop(server)  # A restart: the objects are on disk, the embedding too.
    server, url = _serve(litemedsam, workdir)
    try:
        driver.get(url)
        _wait(driver, lambda d: len(Select(d.find_element("id", "image")).options) == 4, "images")
        Select(driver.find_element("id", "image")).select_by_value(BRAIN)
        _wait(driver, lambda d: len(_rows(d, "objects")) == 2, "the saved objects listed")
        assert [r.split()[1] for r in _rows(driver, "objects")] == ["brain", "ventricle"]
        driver.find_elements("css selector", "#objects button.open")[0].click()
        _wait(driver, lambda d: len(_rows(d, "history")) == 1, "the brain reopened")
        assert _rows(driver, "history")[0].split()[1] == "box" and "brain" in _text(
            driver, "editing"
        )
        assert server.labelling.service.cache.hits == 1  # Embedded before the restart.
        out = os.environ.get("EIGJAX_SCREENSHOTS", str(tmp_path))
        os.makedirs(out, exist_ok=True)
        driver.save_screenshot(os.path.join(out, "label.png"))

        driver.find_element("id", "export-coco").click()
        path = os.path.join(driver.download_dir, "annotations.coco.json")
        deadline = time.time() + 30
        while not os.path.exists(path) and time.time() < deadline:
            time.sleep(0.1)
        coco, saved = COCO(path), saved_masks(workdir)
        anns = coco.loadAnns(coco.getAnnIds())
        assert sorted(a["eigjax"]["label"] for a in anns) == ["brain", "ventricle"]
        for ann in anns:
            assert np.array_equal(coco.annToMask(ann).astype(bool), saved[ann["eigjax"]["id"]])

        ActionChains(driver).send_keys("n").perform()  # The next image.
        _wait(
            driver,
            lambda d: (
                Select(d.find_element("id", "image")).first_selected_option.get_attribute("value")
                != BRAIN
            ),
            "N",
        )
        picture = np.zeros((120, 160, 3), np.uint8)
        picture[30:90, 40:120] = 220
        Image.fromarray(picture).save(tmp_path / "my photo.png")
        driver.find_element("id", "upload").send_keys(str(tmp_path / "my photo.png"))
        _wait(driver, lambda d: "160×120" in _text(d, "status"), "the uploaded image shown")
        chosen = Select(driver.find_element("id", "image")).first_selected_option.get_attribute(
            "value"
        )
        assert chosen.startswith("my photo-") and chosen.endswith(".png")
        assert len(Select(driver.find_element("id", "image")).options) == 5
    finally:
        _stop(server)


@pytest.mark.slow
def test_classes_a_brush_stroke_zoom_and_contrast(browser, litemedsam, tmp_path):
    """A class key, a brush stroke saved and reproduced after a restart, the wheel's zoom
    and Fit, the contrast window."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import Select

    from experiments.web import strokes

    driver, workdir = browser, str(tmp_path / "work")
    server, url = _serve(litemedsam, workdir, classes=("brain", "ventricle"))
    try:
        driver.get(url)
        _wait(driver, lambda d: len(Select(d.find_element("id", "image")).options) == 4, "images")
        Select(driver.find_element("id", "image")).select_by_value(BRAIN)
        _wait(driver, lambda d: "3 ground truths" in _text(d, "status"), "the brain slice")
        assert driver.find_element("id", "label").get_attribute("value") == "brain"
        ActionChains(driver).send_keys("2").perform()  # The second class's key.
        assert driver.find_element("id", "label").get_attribute("value") == "ventricle"
        ActionChains(driver).send_keys("1").perform()
        _drag_box(driver, (-190, -200), (380, 410))
        _wait(driver, lambda d: len(_rows(d, "history")) == 1, "the box")
        ActionChains(driver).send_keys("b").perform()  # The brush: a stroke in a corner.
        canvas = driver.find_element("id", "canvas")
        chain = ActionChains(driver).move_to_element_with_offset(canvas, -240, -240)
        chain.click_and_hold().move_by_offset(30, 0).move_by_offset(30, 10).release().perform()
        _wait(driver, lambda d: len(_rows(d, "history")) == 2, "the stroke")
        assert _rows(driver, "history")[1].split()[1] == "brush"
        ActionChains(driver).send_keys("s").perform()
        _wait(driver, lambda d: len(_rows(d, "objects")) == 1, "the object saved")
        assert "1 stroke" in _rows(driver, "objects")[0]

        (obj,) = server.labelling.store.objects(
            (BRAIN, server.labelling.service.entry(BRAIN).source)
        )
        _stop(server)  # A restart: the saved mask is the model's mask, then the stroke.
        server, url = _serve(litemedsam, workdir, classes=("brain", "ventricle"))
        driver.get(url)
        _wait(driver, lambda d: len(Select(d.find_element("id", "image")).options) == 4, "images")
        Select(driver.find_element("id", "image")).select_by_value(BRAIN)
        _wait(driver, lambda d: len(_rows(d, "objects")) == 1, "the saved object listed")
        driver.find_elements("css selector", "#objects button.open")[0].click()
        _wait(driver, lambda d: len(_rows(d, "history")) == 2, "reopened with its stroke")
        model_mask = server.labelling.service.feedback(
            _prompt(BRAIN, box=obj["prompts"]["box"])
        ).feedback.mask
        redrawn = strokes.apply(np.asarray(model_mask), strokes.parse(obj["strokes"], 256, 256))
        assert np.array_equal(saved_masks(workdir)[obj["id"]], redrawn)
        assert not np.array_equal(redrawn, np.asarray(model_mask))

        canvas = driver.find_element("id", "canvas")  # The page's, since its reload.
        ActionChains(driver).scroll_to_element(canvas).perform()
        ActionChains(driver).move_to_element(canvas).perform()
        driver.execute_script(
            "arguments[0].dispatchEvent(new WheelEvent('wheel', {deltaY: -300, clientX: "
            "arguments[0].getBoundingClientRect().left + 100, clientY: "
            "arguments[0].getBoundingClientRect().top + 100, bubbles: true, cancelable: true}))",
            canvas,
        )
        assert float(_text(driver, "zoom").rstrip("×")) > 2
        ActionChains(driver).send_keys("f").perform()
        assert _text(driver, "zoom") == "1.0×"
        driver.execute_script(
            "const low = document.getElementById('low'); low.value = 60;"
            "low.dispatchEvent(new Event('input'));"
        )
        assert _text(driver, "window") == "60–255"
        assert driver.execute_script("return state.display !== null")
        driver.find_element("id", "auto-contrast").click()
        assert _text(driver, "window") != "60–255"
        out = os.environ.get("EIGJAX_SCREENSHOTS", str(tmp_path))
        os.makedirs(out, exist_ok=True)
        driver.save_screenshot(os.path.join(out, "tools.png"))
        ActionChains(driver).send_keys("d").perform()  # Done: on to the next image to do.
        _wait(driver, lambda d: _selected(d) != BRAIN, "D")
        assert _text(driver, "progress").startswith("1 of 4 done · 0 skipped")
    finally:
        _stop(server)


def _prompt(image, box):
    from experiments.web.messages import PromptRequest

    return PromptRequest(image=image, box=box)
