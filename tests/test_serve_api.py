"""``dualsam serve``'s JSON API through FastAPI's TestClient on the shipped default model: every endpoint, every error
(413, 422 with the argument named, 404 with the re-upload message), cache eviction by size, masks equal to
``dualsam segment``'s and to direct SamPredictor / generate_masks calls, and threads racing on two images."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from dualsam.generate import generate_masks
from dualsam.resources import EXAMPLE_IMAGE
from dualsam.segment import segment_image
from sam_core.predictor import SamPredictor
from tests.helpers.cli_helpers import MASK_AGREEMENT, SCORES_ATOL, assert_bad_input, run_cli, tiny  # noqa: F401
from tests.helpers.images import synthetic_image
from tests.helpers.serve_client import (
    JOB_TIMEOUT_S,
    POLL_S,
    assert_error,
    bomb_png,
    example_id,
    low_res_logits,
    png_bytes,
    png_mask,
    rle_mask,
    segment,
    upload,
    upload_ok,
    wait_for,
)  # fmt: skip

pytest.importorskip("torch")
pytest.importorskip("fastapi")
pytest.importorskip("httpx2")

from fastapi.testclient import TestClient  # noqa: E402

from dualsam.models import load_model  # noqa: E402
from dualsam.serve import INSTALL_HINT, threads  # noqa: E402
from dualsam.serve.app import STATIC_DIR, create_app  # noqa: E402
from dualsam.serve.jobs import JobRunner, QueueFullError  # noqa: E402
from dualsam.serve.masks import png_data_url  # noqa: E402
from dualsam.serve.memory import tune_malloc  # noqa: E402
from dualsam.serve.session import CONCURRENT_SLOTS  # noqa: E402

#: The shipped example's default point (sam_core/data/example.json) and a box around its ellipse.
POINT = [475.0, 297.0]
BOX = [369.0, 208.0, 577.0, 384.0]
#: Predicted IoUs of the same decoder call on the same embedding: equal but for float formatting in JSON.
SCORE_ATOL = 1e-6


@pytest.fixture(scope="module")
def loaded():
    return load_model(None, "torch")


@pytest.fixture(scope="module")
def client(loaded):
    with TestClient(create_app(loaded)) as test_client:
        yield test_client


# ---------------------------------------------------------------------------------------------------- endpoints
def test_health_page_and_docs(client):
    health = client.get("/api/health").json()
    assert health["status"] == "ok"
    assert health["model"]["spec"] == "default" and health["model"]["backend"] == "torch"
    assert health["max_upload_bytes"] == 25 * 2**20 and health["cache"]["limit_bytes"] == 1024 * 2**20
    page = client.get("/")
    assert page.status_code == 200 and '<script type="module" src="/static/app.js">' in page.text
    # pyproject's package-data "serve/static/*" ships the files of this one folder: no subfolders.
    assert all(path.is_file() for path in STATIC_DIR.iterdir())
    names = {path.name for path in STATIC_DIR.iterdir()}
    assert {"index.html", "style.css", "app.js", "api.js", "drawing.js", "prompts.js", "masks.js"} <= names
    for name in sorted(names):
        reply = client.get(f"/static/{name}")
        assert reply.status_code == 200
        assert reply.text == (STATIC_DIR / name).read_text(encoding="utf-8")
        assert "http://" not in reply.text and "https://" not in reply.text, f"{name} must load nothing from elsewhere"
        if name.endswith(".js"):  # an ES module: browsers run it only when served as JavaScript
            assert reply.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript")
            for target in re.findall(r'\bfrom "([^"]+)"', reply.text):
                assert target.startswith("./") and target[2:] in names, f"{name} imports {target}: not a static file"
    schema = client.get("/openapi.json").json()
    assert {"/api/images", "/api/images/{image_id}/segment", "/api/images/{image_id}/generate"} <= set(schema["paths"])
    assert {"/api/jobs/{job_id}", "/api/health"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200


def test_upload_gives_a_content_hash_and_reuses_the_embedding(client):
    first = upload_ok(client, EXAMPLE_IMAGE.read_bytes())
    assert (first["width"], first["height"]) == Image.open(EXAMPLE_IMAGE).size
    assert len(first["image_id"]) == 32 and int(first["image_id"], 16) >= 0
    # The same pixels in another encoding: the same id, no second encoder run.
    again = upload_ok(client, png_bytes(np.asarray(Image.open(EXAMPLE_IMAGE).convert("RGB")), compress_level=0))
    assert again["image_id"] == first["image_id"] and again["cached"] and again["embed_ms"] < first["embed_ms"]


def test_upload_applies_exif_orientation(client):
    array = synthetic_image(20, 40, seed=1)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", exif=exif)
    info = upload_ok(client, buffer.getvalue())
    assert (info["width"], info["height"]) == (20, 40)


def test_segment_equals_the_cli(client, capsys, tmp_path):
    """The API's mask, scores, area and box for the example's point equal ``dualsam segment``'s files."""
    image_id = example_id(client)
    reply = segment(client, image_id, points=[POINT])
    assert reply.status_code == 200, reply.text
    body = reply.json()
    code, _, err = run_cli(capsys, "segment", EXAMPLE_IMAGE, "--point", "475,297", "--out", tmp_path)
    assert code == 0, err
    report = json.loads((tmp_path / "result.json").read_text())
    cli_mask = np.asarray(Image.open(tmp_path / "mask_0.png")) > 0
    [mask] = body["masks"]
    assert np.array_equal(rle_mask(mask), cli_mask)
    assert np.array_equal(png_mask(mask), cli_mask)
    assert mask["score"] == pytest.approx(report["scores"][0], abs=SCORE_ATOL)
    assert [mask["area"]] == report["areas"] and [mask["box"]] == report["boxes"]
    assert body["best"] == 0
    assert (body["width"], body["height"]) == (report["image"]["width"], report["image"]["height"])


def test_segment_points_box_multimask_and_mask_input_equal_the_predictor(client, loaded):
    image_id = example_id(client)
    rgb = np.asarray(Image.open(EXAMPLE_IMAGE).convert("RGB"))
    predictor = SamPredictor(loaded.model)
    predictor.set_image(rgb)
    prompts = dict(points=[POINT, [200.0, 100.0]], labels=[1, 0], box=BOX)
    reply = segment(client, image_id, **prompts, multimask=True, return_mask_input=True)
    assert reply.status_code == 200, reply.text
    masks = reply.json()["masks"]
    expected = segment_image(predictor, **prompts, multimask=True)
    assert len(masks) == 3
    for k, mask in enumerate(masks):
        assert np.array_equal(rle_mask(mask), expected.masks[k])
        assert mask["score"] == pytest.approx(float(expected.scores[k]), abs=SCORE_ATOL)
        assert np.array_equal(low_res_logits(mask, expected.low_res_logits[k].shape), expected.low_res_logits[k])
    # The previous low-res mask as the next click's input.
    best = reply.json()["best"]
    again = segment(client, image_id, points=[POINT], mask_input=masks[best]["mask_input"])
    assert again.status_code == 200, again.text
    refined = segment_image(predictor, points=[POINT], mask_input=expected.low_res_logits[best][None])
    assert np.array_equal(rle_mask(again.json()["masks"][0]), refined.masks[0])


def test_clicks_on_the_traced_torch_decoder_equal_the_eager_predictor(client, loaded, monkeypatch):
    """After EAGER_CALLS clicks of a kind the torch backend decodes through its trace (sam_torch.backend.ModelGraphs):
    the replies stay equal to the eager predictor's, masks and low-res logits bit for bit."""
    from sam_torch import backend

    image_id = example_id(client)
    predictor = SamPredictor(loaded.model)
    predictor.set_image(np.asarray(Image.open(EXAMPLE_IMAGE).convert("RGB")))
    prompts = dict(points=[POINT, [120.0, 300.0]], labels=[1, 0])
    expected = segment_image(predictor, **prompts, multimask=True)  # eager: this kind's first call
    graphs = backend.ModelGraphs.of(loaded.model)
    traced_before = len(graphs._graphs)
    monkeypatch.setattr(backend, "EAGER_CALLS", 1)
    for _ in range(3):
        reply = segment(client, image_id, **prompts, multimask=True, return_mask_input=True)
        assert reply.status_code == 200, reply.text
        for k, mask in enumerate(reply.json()["masks"]):
            assert np.array_equal(rle_mask(mask), expected.masks[k])
            assert np.array_equal(low_res_logits(mask, expected.low_res_logits[k].shape), expected.low_res_logits[k])
    assert len(graphs._graphs) == traced_before + 1


def test_generate_job_progress_and_result(client, loaded):
    image_id = example_id(client)
    started = client.post(f"/api/images/{image_id}/generate", json={"points_per_side": 6})
    assert started.status_code == 202, started.text
    assert started.json()["status"] in ("queued", "running") and started.json()["image_id"] == image_id
    job = wait_for(client, started.json()["job_id"])
    assert job["status"] == "done" and job["progress"] == 1.0 and job["error"] is None, job
    rgb = np.asarray(Image.open(EXAMPLE_IMAGE).convert("RGB"))
    expected = sorted(generate_masks(loaded.model, rgb, points_per_side=6), key=lambda r: -r["area"])
    assert len(job["masks"]) == len(expected) > 0
    for got, want in zip(job["masks"], expected):
        assert got["rle"] == want["segmentation"]
        assert np.array_equal(png_mask(got), rle_mask(got)) and got["area"] == rle_mask(got).sum() == want["area"]
        assert got["predicted_iou"] == pytest.approx(want["predicted_iou"], abs=SCORE_ATOL)
    # The default options (body omitted) also run.
    default = client.post(f"/api/images/{image_id}/generate")
    assert default.status_code == 202, default.text


def test_generate_reports_progress_through_a_callable(loaded):
    """The job's progress: ``progress(done, total)`` after each point batch of the mask generator."""
    calls = []
    rgb = synthetic_image(40, 50, seed=6)
    generate_masks(loaded.model, rgb, points_per_side=4, points_per_batch=5, progress=lambda *c: calls.append(c))
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]  # 16 points in batches of 5


# ---------------------------------------------------------------------------------------------------- errors
def test_oversized_uploads_answer_413(loaded):
    with TestClient(create_app(loaded, max_upload_mb=0.01)) as small:
        # Refused from the Content-Length alone, and by counting the bytes read (a body under the framing slack).
        assert_error(upload(small, os.urandom(200_000)), 413, "upload_too_large", "0.01 MiB")
        assert_error(upload(small, os.urandom(20_000)), 413, "upload_too_large")
        assert small.get("/api/health").status_code == 200


def test_non_images_and_bombs_answer_422(client):
    assert_error(upload(client, b"this is not an image"), 422, "bad_image", "cannot read image 'image.png'")
    assert_error(upload(client, b""), 422, "bad_image", "empty")
    assert_error(upload(client, EXAMPLE_IMAGE.read_bytes()[:300]), 422, "bad_image")
    assert_error(upload(client, bomb_png()), 422, "bad_image", "too large", "decompression bomb")
    missing = client.post("/api/images", files={"other": ("a.png", b"x", "image/png")})
    assert_error(missing, 422, "invalid_request", "file")
    assert client.get("/api/health").status_code == 200


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"points": [[700, 10]]}, "points: 700,10 lies outside the 640x459 image"),
        ({"points": [[-1, 10]]}, "points: -1,10 lies outside"),
        ({"points": [[10, 10]], "labels": [3]}, "labels must hold"),
        ({"points": [[10, 10]], "labels": [1, 0]}, "labels must hold"),
        ({"box": [50, 50, 10, 10]}, "box must be [x1, y1, x2, y2]"),
        ({"box": [0, 0, 641, 100]}, "box: 0,0,641,100 lies outside"),
        ({}, "give at least one prompt"),
        ({"points": [[10, 10]], "mask_input": "not base64!"}, "mask_input is not base64"),
        ({"points": [[10, 10]], "mask_input": base64.b64encode(b"\0" * 16).decode()}, "mask_input must hold"),
    ],
)
def test_bad_prompts_answer_422_naming_the_argument(client, body, needle):
    assert_error(segment(client, example_id(client), **body), 422, "bad_prompt", needle)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ('{"points": [[NaN, 3]]}', "points: nan,3"),
        ('{"box": [0, 0, Infinity, 3]}', "box must be"),
        ('{"points": [[1, 2, 3]]}', "points[0]"),
        ('{"points": "here"}', "points"),
        ('{"labels": ["x"], "points": [[1, 2]]}', "labels[0]"),
        ('{"points": [[1, 2]], "color": 3}', "color"),
        ('{"points": [[1, 2]', "request"),
    ],
)
def test_malformed_prompt_json_answers_422_naming_the_argument(client, raw, needle):
    reply = client.post(
        f"/api/images/{example_id(client)}/segment", content=raw, headers={"content-type": "application/json"}
    )
    assert reply.status_code == 422, reply.text
    assert needle in reply.json()["detail"], reply.json()


def test_unknown_and_malformed_ids(client):
    unknown = "0" * 32
    assert_error(segment(client, unknown, points=[POINT]), 404, "image_not_found", "upload it again")
    assert_error(client.post(f"/api/images/{unknown}/generate"), 404, "image_not_found", "upload it again")
    for bad in ("abc", "0" * 31 + "G", "A" * 32, "..etc", "0" * 33):
        assert_error(segment(client, bad, points=[POINT]), 422, "bad_image_id", "image_id must be 32")
    assert_error(segment(client, "..%2F..%2Fetc%2Fpasswd", points=[POINT]), 404, "not_found")  # no such route
    assert_error(client.get(f"/api/jobs/{'0' * 32}"), 404, "job_not_found")
    assert_error(client.get("/api/jobs/nope"), 422, "bad_job_id", "job_id must be 32")
    image_id = example_id(client)
    assert_error(client.post(f"/api/images/{image_id}/generate", json={"points_per_side": 0}), 422, "invalid_request",
                 "points_per_side")  # fmt: skip
    assert_error(client.post(f"/api/images/{image_id}/generate", json={"crop": 1}), 422, "invalid_request", "crop")
    assert client.get("/api/health").status_code == 200


# ---------------------------------------------------------------------------------------------------- the cache
def test_cache_evicts_by_size_and_an_evicted_image_answers_404(loaded):
    images = [png_bytes(synthetic_image(48, 64, seed=seed)) for seed in (1, 2)]
    with TestClient(create_app(loaded)) as probe:
        sizes = [probe.get("/api/health").json()["cache"]["bytes"]]
        upload_ok(probe, images[0])
        sizes.append(probe.get("/api/health").json()["cache"]["bytes"])
    entry = sizes[1] - sizes[0]
    assert entry == 48 * 64 * 3 + 64 * 32 * 32 * 4  # pixels + the (1, 64, 32, 32) float32 embedding
    with TestClient(create_app(loaded, cache_mb=1.5 * entry / 2**20)) as small:
        first, second = (upload_ok(small, data)["image_id"] for data in images)
        stats = small.get("/api/health").json()["cache"]
        assert (stats["images"], stats["bytes"], stats["evictions"]) == (1, entry, 1)
        assert_error(segment(small, first, points=[[10, 10]]), 404, "image_not_found", "upload it again")
        assert segment(small, second, points=[[10, 10]]).status_code == 200
        again = upload_ok(small, images[0])
        assert again["image_id"] == first and not again["cached"]
        assert segment(small, first, points=[[10, 10]]).status_code == 200
        assert_error(segment(small, second, points=[[10, 10]]), 404, "image_not_found")
    with TestClient(create_app(loaded, cache_mb=0.5 * entry / 2**20)) as tiny_cache:
        assert_error(upload(tiny_cache, images[0]), 413, "image_too_large_for_cache", "--cache-mb")


def test_recently_used_images_stay(loaded):
    images = [png_bytes(synthetic_image(48, 64, seed=seed)) for seed in (1, 2, 3)]
    entry = 48 * 64 * 3 + 64 * 32 * 32 * 4
    with TestClient(create_app(loaded, cache_mb=2.5 * entry / 2**20)) as small:
        a, b = (upload_ok(small, data)["image_id"] for data in images[:2])
        assert segment(small, a, points=[[10, 10]]).status_code == 200  # a is now the most recently used
        upload_ok(small, images[2])
        assert segment(small, a, points=[[10, 10]]).status_code == 200
        assert_error(segment(small, b, points=[[10, 10]]), 404, "image_not_found")


# ---------------------------------------------------------------------------------------------------- concurrency
def test_concurrent_clicks_on_two_images_equal_sequential_calls(client):
    ids = [upload_ok(client, png_bytes(synthetic_image(90, 120, seed=seed)))["image_id"] for seed in (4, 5)]
    prompts = [{"points": [[x, y]], "multimask": True} for x, y in ((30, 40), (60, 20), (100, 70), (10, 80))]
    tasks = [(image_id, prompt) for image_id in ids for prompt in prompts] * 2
    sequential = {}
    for image_id, prompt in tasks[: len(tasks) // 2]:
        reply = segment(client, image_id, **prompt)
        assert reply.status_code == 200
        sequential[image_id, json.dumps(prompt)] = [(m["rle"], m["score"]) for m in reply.json()["masks"]]
    results, errors = [None] * len(tasks), []
    barrier = threading.Barrier(len(tasks))

    def worker(index: int) -> None:
        image_id, prompt = tasks[index]
        try:
            barrier.wait()
            reply = segment(client, image_id, **prompt)
            results[index] = [(m["rle"], m["score"]) for m in reply.json()["masks"]]
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(tasks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for (image_id, prompt), result in zip(tasks, results):
        assert result == sequential[image_id, json.dumps(prompt)]


def test_clicks_run_on_a_pool_of_one_thread_per_slot(loaded, monkeypatch):
    """A burst of clicks waits in the click pool's queue: at most `slots` threads ever run a click, all of them the
    pool's, and every click is answered."""
    from dualsam.serve import session as session_module

    names, lock = set(), threading.Lock()
    real_segment = session_module.ModelSession.segment

    def recording_segment(self, entry, **prompts):
        with lock:
            names.add(threading.current_thread().name)
        return real_segment(self, entry, **prompts)

    monkeypatch.setattr(session_module.ModelSession, "segment", recording_segment)
    with TestClient(create_app(loaded)) as burst_client:
        image_id = example_id(burst_client)
        replies = [None] * 12
        barrier = threading.Barrier(len(replies))

        def click(index: int) -> None:
            barrier.wait()
            replies[index] = segment(burst_client, image_id, points=[[40 + index, 50]], multimask=True)

        clickers = [threading.Thread(target=click, args=(i,)) for i in range(len(replies))]
        for thread in clickers:
            thread.start()
        for thread in clickers:
            thread.join()
        slots = burst_client.app.state.session.slots
    assert [reply.status_code for reply in replies] == [200] * len(replies)
    assert 1 <= len(names) <= slots and all(name.startswith("dualsam-click") for name in names), names


def test_the_keras_backend_serves_the_same_masks_behind_its_lock(client):
    """--backend tf: one model call at a time (a lock), masks as torch's but for pixels within rounding of 0."""
    pytest.importorskip("keras")
    session_tf = load_model(None, "tf")
    with TestClient(create_app(session_tf)) as keras_client:
        assert keras_client.app.state.session.slots == 1
        image_id = example_id(keras_client)
        got = segment(keras_client, image_id, points=[POINT], box=BOX, multimask=True).json()["masks"]
    want = segment(client, example_id(client), points=[POINT], box=BOX, multimask=True).json()["masks"]
    for mask_tf, mask_torch in zip(got, want):
        assert (rle_mask(mask_tf) == rle_mask(mask_torch)).mean() >= MASK_AGREEMENT
        assert mask_tf["score"] == pytest.approx(mask_torch["score"], abs=SCORES_ATOL)


def test_the_onnx_backend_serves_the_predictors_masks(tiny, tmp_path):
    """--backend onnx: the tiny model exported to ONNX, loaded as ``dualsam serve`` loads it and served; /segment's
    masks, scores and low-res logits (also with a mask input) and /generate's records equal SamPredictor's and
    generate_masks' on the same OnnxBackend."""
    pytest.importorskip("onnx", reason="ONNX export needs onnx: pip install 'dualsam[onnx]'")
    pytest.importorskip("onnxruntime", reason="--backend onnx needs ONNX Runtime: pip install 'dualsam[onnx]'")
    from dualsam.runtimes.onnx_backend import OnnxBackend
    from sam_torch.onnx_export import export_onnx

    export_onnx(tiny[1], tmp_path, check=False)  # the export's own check runs in tests/test_onnx_export.py
    served = load_model(str(tmp_path), "onnx")
    assert isinstance(served.model, OnnxBackend)
    rgb = synthetic_image(45, 67, seed=3)
    prompts = dict(points=[[20.5, 14.0], [50.0, 33.0]], labels=[1, 0], box=[6.0, 4.0, 60.0, 40.0])
    everything = dict(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0)  # random weights: no cut
    predictor = SamPredictor(served.model)
    predictor.set_image(rgb)
    expected = segment_image(predictor, **prompts, multimask=True)
    assert any(0 < mask.sum() < mask.size for mask in expected.masks), "an empty or full mask proves little"
    with TestClient(create_app(served)) as onnx_client:
        health = onnx_client.get("/api/health").json()
        assert health["model"]["backend"] == "onnx" and onnx_client.app.state.session.slots == CONCURRENT_SLOTS
        image_id = upload_ok(onnx_client, png_bytes(rgb))["image_id"]
        reply = segment(onnx_client, image_id, **prompts, multimask=True, return_mask_input=True)
        assert reply.status_code == 200, reply.text
        masks, best = reply.json()["masks"], reply.json()["best"]
        again = segment(onnx_client, image_id, points=prompts["points"][:1], mask_input=masks[best]["mask_input"])
        assert again.status_code == 200, again.text
        started = onnx_client.post(f"/api/images/{image_id}/generate", json=everything)
        job = wait_for(onnx_client, started.json()["job_id"])
    assert len(masks) == 3
    for k, mask in enumerate(masks):
        assert np.array_equal(rle_mask(mask), expected.masks[k]) and np.array_equal(png_mask(mask), expected.masks[k])
        assert mask["score"] == pytest.approx(float(expected.scores[k]), abs=SCORE_ATOL)
        assert np.array_equal(low_res_logits(mask, expected.low_res_logits[k].shape), expected.low_res_logits[k])
    refined = segment_image(predictor, points=prompts["points"][:1], mask_input=expected.low_res_logits[best][None])
    assert np.array_equal(rle_mask(again.json()["masks"][0]), refined.masks[0])
    records = sorted(generate_masks(served.model, rgb, **everything), key=lambda r: -r["area"])
    assert job["status"] == "done" and len(job["masks"]) == len(records) > 0, job
    assert [m["rle"] for m in job["masks"]] == [r["segmentation"] for r in records]


@pytest.mark.parametrize("shape", [(1, 1), (3, 9), (17, 8), (459, 640)])
def test_png_data_urls_are_1bit_pngs_of_the_mask(shape):
    mask = np.random.default_rng(shape[1]).random(shape) > 0.5
    url = png_data_url(mask)
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert (image.mode, image.size) == ("1", shape[::-1])
    assert np.array_equal(png_mask({"png": url}), mask)


def test_job_runner_queue_bound_failures_and_forgetting():
    release = threading.Event()
    runner = JobRunner(keep=1, max_queued=1)
    running = runner.submit("a" * 32, lambda progress: release.wait(JOB_TIMEOUT_S))
    queued = runner.submit("b" * 32, lambda progress: 1 / 0)
    with pytest.raises(QueueFullError, match="1 jobs are waiting"):
        runner.submit("c" * 32, lambda progress: None)
    release.set()
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while runner.get(queued.job_id).status not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(POLL_S)
    assert running.status == "done" and running.result is True
    assert queued.status == "failed" and queued.error == "ZeroDivisionError: division by zero"
    assert runner.get(running.job_id) is None and runner.get(queued.job_id) is queued  # keep=1: the latest stays
    runner.shutdown()


# ---------------------------------------------------------------------------------------------------- the command
def test_serve_command_parses_and_runs_uvicorn_on_localhost(capsys, monkeypatch):
    import uvicorn

    calls, shares = [], []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append((app, kwargs)))
    # The command sets process-wide thread counts; record the call instead of changing this test process's.
    monkeypatch.setattr(threads, "share_cores", lambda backend, slots, model=None: shares.append((backend, slots)) or 1)
    code, _, err = run_cli(capsys, "serve", "--cache-mb", "64", "--port", "8123")
    assert code == 0, err
    [(app, kwargs)] = calls
    assert kwargs["host"] == "127.0.0.1" and kwargs["port"] == 8123
    assert app.state.cache.limit_bytes == 64 * 2**20
    assert shares == [("torch", CONCURRENT_SLOTS)]
    assert "http://127.0.0.1:8123/" in err and f"{CONCURRENT_SLOTS} model calls at once, threads per call: 1" in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--dtype", "fp16"], "--dtype must be one of fp32, bf16, got 'fp16'"),
        (["--cache-mb", "0"], "--cache-mb must be a positive"),
        (["--max-upload-mb", "-1"], "--max-upload-mb must be a positive"),
        (["--port", "70000"], "--port must be 0..65535"),
        (["--backend", "jax"], "unknown backend 'jax'"),
        (["--port", "x"], "invalid int value"),
    ],
)
def test_serve_command_bad_input_exits_2(capsys, argv, needle):
    code, _, err = run_cli(capsys, "serve", *argv)
    assert_bad_input(code, err, "serve", needle)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_server_tunes_malloc():
    assert tune_malloc() is True


def test_threads_per_model_call_split_the_cores_among_the_slots():
    assert threads.threads_per_call(2, cores=2) == 1 and threads.threads_per_call(1, cores=2) == 2
    assert threads.threads_per_call(2, cores=16) == 8 and threads.threads_per_call(4, cores=2) == 1
    with pytest.raises(ValueError, match="slots"):
        threads.threads_per_call(0)


def test_share_cores_sets_torch_threads_and_one_blas_thread():
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    before = torch.get_num_threads()
    with threadpool_limits(limits=None):  # restores numpy's BLAS threads on exit
        try:
            assert threads.share_cores("torch", 2) == threads.threads_per_call(2)
            assert torch.get_num_threads() == threads.threads_per_call(2)
            blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
            assert blas and all(pool["num_threads"] == 1 for pool in blas)
        finally:
            torch.set_num_threads(before)


def test_share_cores_reopens_onnx_sessions_with_their_share(tiny, tmp_path):
    """--backend onnx: share_cores reopens the sessions with cores // slots non-spinning threads; masks unchanged."""
    pytest.importorskip("onnx", reason="ONNX export needs onnx: pip install 'dualsam[onnx]'")
    pytest.importorskip("onnxruntime", reason="--backend onnx needs ONNX Runtime: pip install 'dualsam[onnx]'")
    from threadpoolctl import threadpool_limits

    from sam_torch.onnx_export import export_onnx

    export_onnx(tiny[1], tmp_path, check=False)
    served = load_model(str(tmp_path), "onnx")
    rgb = synthetic_image(45, 67, seed=4)
    predictor = SamPredictor(served.model)
    predictor.set_image(rgb)
    before = segment_image(predictor, points=[[20.5, 14.0]], multimask=True)
    with threadpool_limits(limits=None):  # restores numpy's BLAS threads on exit
        assert threads.share_cores("onnx", 2, served.model) == threads.threads_per_call(2)
    for session in (served.model.encoder, served.model.decoder):
        options = session.get_session_options()
        assert options.intra_op_num_threads == threads.threads_per_call(2)
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    predictor = SamPredictor(served.model)
    predictor.set_image(rgb)
    after = segment_image(predictor, points=[[20.5, 14.0]], multimask=True)
    assert any(0 < mask.sum() < mask.size for mask in before.masks), "an empty or full mask proves little"
    np.testing.assert_array_equal(after.masks, before.masks)
    np.testing.assert_allclose(after.scores, before.scores, rtol=0, atol=SCORE_ATOL)


def test_serve_command_without_the_extra_gives_the_pip_line(capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else real(name, *a))
    code, _, err = run_cli(capsys, "serve")
    assert_bad_input(code, err, "serve", INSTALL_HINT)


def test_long_calls_leave_a_slot_for_clicks(loaded, monkeypatch):
    """Uploads and segment-everything jobs take at most CONCURRENT_SLOTS - 1 slots: a click goes through while they
    run, and a second long call waits for the first."""
    from dualsam.serve import session as session_module

    session = session_module.ModelSession(loaded)
    entry = session.encode(synthetic_image(90, 120, seed=7))
    running, release = [], threading.Event()

    def blocking_generate(*args, **kwargs):
        running.append(threading.get_ident())
        assert release.wait(timeout=60)
        return []

    monkeypatch.setattr(session_module, "generate_masks", blocking_generate)
    jobs = [threading.Thread(target=session.generate, args=(entry,)) for _ in range(2)]
    for job in jobs:
        job.start()
    deadline = time.monotonic() + 30
    while not running and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        result = session.segment(entry, points=[[30.0, 40.0]], labels=[1], multimask=True)
        assert len(result.masks) == 3 and len(running) == CONCURRENT_SLOTS - 1  # the second long call still waits
    finally:
        release.set()
        for job in jobs:
            job.join(timeout=60)
    assert len(running) == 2
