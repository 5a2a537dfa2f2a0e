"""The ``dualsam serve`` page in a real browser: headless Chromium (Debian's package) driven by Playwright, against a
live server on 127.0.0.1 with the default model. ``make test-browser`` installs both and runs this file.

It uploads the shipped example, clicks its default point and checks that the mask drawn on the page equals the API's
for the same prompts, adds a negative point, drags a box, undoes, keeps a mask, runs "segment everything", downloads
the COCO JSON and reads it with pycocotools, checks that a bad file, a too-large upload and an unreachable server are
reported on the page, that a dropped image opens, and that an image evicted from the server's cache is uploaded again
by the page itself; it saves a screenshot (``DUALSAM_SERVE_SCREENSHOT``, for the README).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from dualsam.resources import EXAMPLE_IMAGE, EXAMPLE_PROMPTS
from sam_core.amg.rle import coco_rle_to_mask

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("DUALSAM_CHROMIUM", "/usr/bin/chromium")
#: Upload limit of the live server (MiB): above the example image, below the noise image made to exceed it.
MAX_UPLOAD_MB = 1
START_TIMEOUT_S = 120
STEP_TIMEOUT_MS = 60_000
EVERYTHING_TIMEOUT_MS = 300_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.load(reply)


@contextlib.contextmanager
def live_server(*options: str):
    """A live ``dualsam serve`` (default model, torch) on a free localhost port; yields (base URL, process)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "dualsam", "serve", "--port", str(port), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            get_json(f"{base}/api/health")
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"dualsam serve did not start: {process.communicate()[0]}")
            time.sleep(0.3)
    try:
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def server():
    with live_server("--max-upload-mb", str(MAX_UPLOAD_MB)) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="make test-browser installs playwright")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: make test-browser installs Debian's chromium")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def page_state(page) -> dict:
    return page.evaluate(
        "() => ({points: dualsam.points, labels: dualsam.labels, box: dualsam.box, count: dualsam.segmentCount, "
        "masks: dualsam.masks.length, chosen: dualsam.chosen})"
    )


def drawn_mask(page) -> np.ndarray:
    """(H, W) bool: the pixels the page painted on its current-mask canvas."""
    width, height, alpha = page.evaluate(
        """() => { const c = document.getElementById('current-mask');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   const a = []; for (let i = 3; i < d.length; i += 4) a.push(d[i] > 0 ? 1 : 0);
                   return [c.width, c.height, a]; }"""
    )
    return np.array(alpha, dtype=bool).reshape(height, width)


def api_mask(base: str, image_id: str, state: dict) -> np.ndarray:
    """The API's chosen mask for the prompts the page holds."""
    body = {"multimask": True}
    if state["points"]:
        body.update(points=state["points"], labels=state["labels"])
    if state["box"]:
        body["box"] = state["box"]
    reply = get_json(f"{base}/api/images/{image_id}/segment", body)
    return coco_rle_to_mask(reply["masks"][state["chosen"]]["rle"])


def to_screen(page, x: float, y: float) -> tuple[float, float]:
    """Image pixels -> page coordinates on the prompt canvas."""
    rect = page.evaluate(
        "() => { const r = document.getElementById('prompts').getBoundingClientRect();"
        " return [r.left, r.top, r.width, r.height, dualsam.width, dualsam.height]; }"
    )
    left, top, width, height, image_width, image_height = rect
    return left + x * width / image_width, top + y * height / image_height


def wait_for_segment(page, count: int) -> dict:
    page.wait_for_function(f"() => dualsam.segmentCount >= {count} && dualsam.busy === 0", timeout=STEP_TIMEOUT_MS)
    return page_state(page)


def assert_page_matches_api(page, base: str, image_id: str) -> np.ndarray:
    state = page_state(page)
    drawn = drawn_mask(page)
    assert drawn.any(), "no mask was drawn"
    assert np.array_equal(drawn, api_mask(base, image_id, state))
    return drawn


def test_click_to_segment_in_chromium(server, browser, tmp_path):
    base, _ = server
    page = browser.new_page(viewport={"width": 1280, "height": 820}, accept_downloads=True)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(base + "/")
    page.wait_for_function("() => dualsam.maxUploadBytes !== null")
    page.set_input_files("#file", str(EXAMPLE_IMAGE))
    page.wait_for_function("() => dualsam.imageId !== null && !document.getElementById('stage').hidden")
    image_id = page.evaluate("() => dualsam.imageId")
    assert page.evaluate("() => [dualsam.width, dualsam.height]") == [640, 459]

    # The default point: a positive click, the mask drawn equals the API's.
    point = json.loads(EXAMPLE_PROMPTS.read_text())["point"]
    page.mouse.click(*to_screen(page, *point))
    state = wait_for_segment(page, 1)
    assert state["labels"] == [1] and np.allclose(state["points"][0], point, atol=0.5)
    first = assert_page_matches_api(page, base, image_id)
    assert page.locator("#candidates button").count() == 3

    # A negative point (shift-click) outside the object.
    page.keyboard.down("Shift")
    page.mouse.click(*to_screen(page, 600, 60))
    page.keyboard.up("Shift")
    state = wait_for_segment(page, 2)
    assert state["labels"] == [1, 0]
    assert_page_matches_api(page, base, image_id)

    # A box, dragged around the ellipse.
    box = [369, 208, 577, 384]
    page.mouse.move(*to_screen(page, box[0], box[1]))
    page.mouse.down()
    for step in range(1, 6):
        page.mouse.move(*to_screen(page, box[0] + step * (box[2] - box[0]) / 5, box[1] + step * (box[3] - box[1]) / 5))
    page.mouse.up()
    state = wait_for_segment(page, 3)
    assert state["box"] is not None and np.allclose(state["box"], box, atol=0.5)
    assert_page_matches_api(page, base, image_id)

    # Undo removes the box; the mask is the two points' again.
    page.click("#undo")
    state = wait_for_segment(page, 4)
    assert state["box"] is None and len(state["points"]) == 2
    assert_page_matches_api(page, base, image_id)

    # Back to the single click, picked candidate kept in the list.
    page.click("#clear")
    page.mouse.click(*to_screen(page, *point))
    wait_for_segment(page, 5)
    assert np.array_equal(assert_page_matches_api(page, base, image_id), first)
    page.click("#keep")
    assert page_state(page)["masks"] == 1

    # Segment everything, with its progress bar.
    page.click("#everything")
    page.wait_for_function("() => !document.getElementById('progress').hidden", timeout=STEP_TIMEOUT_MS)
    page.wait_for_function(
        "() => document.getElementById('progress').hidden && dualsam.masks.length > 1", timeout=EVERYTHING_TIMEOUT_MS
    )
    count = page_state(page)["masks"]
    assert page.locator("#masks li").count() == count

    # A click on top, for the screenshot.
    page.mouse.click(*to_screen(page, 263, 217))
    wait_for_segment(page, 6)
    screenshot = os.environ.get("DUALSAM_SERVE_SCREENSHOT") or str(tmp_path / "serve.png")
    Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=screenshot)

    # The COCO JSON download, read by pycocotools.
    with page.expect_download() as download:
        page.click("#download-coco")
    path = tmp_path / "masks_coco.json"
    download.value.save_as(path)
    from pycocotools.coco import COCO

    coco = COCO(str(path))
    annotations = coco.loadAnns(coco.getAnnIds(imgIds=[1]))
    assert len(annotations) == count
    assert coco.imgs[1]["width"] == 640 and coco.imgs[1]["height"] == 459
    assert np.array_equal(coco.annToMask(annotations[0]).astype(bool), first)
    for annotation in annotations:
        assert coco.annToMask(annotation).sum() == annotation["area"] > 0

    # The selected masks as one PNG.
    with page.expect_download() as download:
        page.click("#download-png")
    assert download.value.suggested_filename.endswith(".png")
    assert not errors, errors
    page.close()


def test_errors_are_shown_on_the_page(server, browser, tmp_path):
    base, process = server
    page = browser.new_page()
    page.goto(base + "/")
    page.wait_for_function("() => dualsam.maxUploadBytes !== null")

    # Not an image.
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is not an image")
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#error:not([hidden])")
    assert "cannot open notes.png" in page.inner_text("#error")

    # Above --max-upload-mb: refused before it is sent.
    from PIL import Image

    noise = np.random.default_rng(0).integers(0, 256, (800, 800, 3), dtype=np.uint8)
    large = tmp_path / "large.png"
    Image.fromarray(noise).save(large)
    assert large.stat().st_size > MAX_UPLOAD_MB * 2**20
    page.set_input_files("#file", str(large))
    page.wait_for_function("() => document.getElementById('error').textContent.includes('too large')")

    # An image dropped on the page opens as one chosen with the button does.
    payload = base64.b64encode(EXAMPLE_IMAGE.read_bytes()).decode("ascii")
    transfer = page.evaluate_handle(
        """(data) => { const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
                       const transfer = new DataTransfer();
                       transfer.items.add(new File([bytes], 'example.png', {type: 'image/png'}));
                       return transfer; }""",
        payload,
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    page.wait_for_function("() => dualsam.imageId !== null && document.getElementById('error').hidden")
    assert page.evaluate("() => [dualsam.name, dualsam.width, dualsam.height]") == ["example.png", 640, 459]

    # The server gone: the next click says so.
    process.terminate()
    process.wait(timeout=30)
    page.mouse.click(*to_screen(page, 100, 100))
    page.wait_for_function(
        "() => document.getElementById('error').textContent.includes('cannot reach the dualsam server')",
        timeout=STEP_TIMEOUT_MS,
    )
    page.close()


def test_the_page_uploads_an_evicted_image_again(browser):
    """A cache that holds one image: another upload evicts the page's; the next click still gets its mask."""
    with live_server("--cache-mb", "1.5") as (base, _):
        page = browser.new_page()
        page.goto(base + "/")
        page.wait_for_function("() => dualsam.maxUploadBytes !== null")
        page.set_input_files("#file", str(EXAMPLE_IMAGE))
        page.wait_for_function("() => dualsam.imageId !== null && !document.getElementById('stage').hidden")
        image_id = page.evaluate("() => dualsam.imageId")
        # Another image, uploaded behind the page's back (from the page's origin, not through its state).
        status = page.evaluate(
            """async () => { const c = document.createElement('canvas'); c.width = 640; c.height = 459;
                 const x = c.getContext('2d'); x.fillStyle = '#5a5a5a'; x.fillRect(0, 0, 640, 459);
                 const blob = await new Promise((done) => c.toBlob(done, 'image/png'));
                 const form = new FormData(); form.append('file', blob, 'other.png');
                 return (await fetch('/api/images', {method: 'POST', body: form})).status; }"""
        )
        assert status == 200
        assert get_json(f"{base}/api/health")["cache"]["evictions"] == 1
        page.mouse.click(*to_screen(page, 475, 297))
        wait_for_segment(page, 1)
        assert page.evaluate("() => document.getElementById('error').hidden")
        assert get_json(f"{base}/api/health")["cache"]["evictions"] == 2  # the page's upload evicted the other
        assert page.evaluate("() => dualsam.imageId") == image_id
        assert_page_matches_api(page, base, image_id)
        page.close()
