"""The web page in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`, driven by selenium) against the server on LiteMedSAM's real weights.

Skipped where Chromium or selenium is missing, unless EIGJAX_REQUIRE_BROWSER=1 (set by
.ci/run, which installs them): there a missing browser is a failure. The screenshot goes
to $EIGJAX_SCREENSHOTS (default: the test's temporary directory).
"""

import os
import shutil
import threading

import pytest

from eigjax import models, protocol
from experiments import api, serve
from experiments.catalog import Catalog

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
BRAIN = "mni152_axial_090_brain_000"


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
def page(tmp_path_factory):
    """(driver, base URL) with the page loaded and ready."""
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    settings = protocol.Settings(grid=30, oracle_chunk=protocol.CPU_CHUNK)
    service = api.Service(
        {"litemedsam": models.load("litemedsam")}, Catalog.from_dataset("bundled"), settings
    )
    server = serve.make_server(service, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
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
    try:
        driver.get(f"http://127.0.0.1:{server.server_address[1]}/")
        yield driver
    finally:
        driver.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)


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


def test_click_watch_the_mask_and_accept_the_suggestion(page, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import Select

    driver = page
    _wait(driver, lambda d: len(Select(d.find_element("id", "image")).options) == 10, "images")
    Select(driver.find_element("id", "image")).select_by_value(BRAIN)
    _wait(driver, lambda d: "with ground truth" in _text(d, "status"), "the brain slice")
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

    out = os.environ.get("EIGJAX_SCREENSHOTS", str(tmp_path))
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "serve.png")
    driver.save_screenshot(path)
    assert os.path.getsize(path) > 10_000
