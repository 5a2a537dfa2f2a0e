"""Dataset runs (dualsam.batch and the CLI's dataset mode): the same masks as the single-image command, broken images
in errors.jsonl with exit 3, prompt files and COCO boxes with categories, pycocotools reads the result, resume after a
kill gives the same bytes, and the Ray engine gives the local engine's annotations."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from dualsam.batch import EngineOptions, InputError, segment_dataset
from dualsam.batch.tasks import expand_images, read_prompts_file
from sam_core.amg.rle import coco_rle_to_mask
from tests.helpers.cli_helpers import run_cli, tiny  # noqa: F401 (pytest fixtures used as arguments)
from tests.helpers.dataset_images import BROKEN, image_size, prompt_point, write_dataset_images

COCO = pytest.importorskip("pycocotools.coco")
QUIET = EngineOptions(progress=False)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("dataset"))
    return directory, write_dataset_images(directory)


@pytest.fixture(scope="module")
def prompts_file(folder, tmp_path_factory):
    """One point per readable image (a third of the way in), joined with a box for two of them."""
    directory, made = folder
    path = str(tmp_path_factory.mktemp("prompts") / "prompts.jsonl")
    with open(path, "w", encoding="utf-8") as handle:
        for name in sorted(made):
            entry = {"image": os.path.join(directory, name), "points": [[1.0, 1.0]], "labels": [1]}
            if name not in BROKEN:
                width, height = image_size(os.path.join(directory, name))
                entry["points"] = [prompt_point(width, height)]
                if name in ("rgb_2.png", "gray.png"):
                    entry["boxes"] = [[2, 2, width - 2, height - 2]]
            handle.write(json.dumps(entry) + "\n")
    return path


def _load(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def test_folder_run_equals_the_single_image_command(tiny, folder, prompts_file, tmp_path, capsys):
    directory, made = folder
    code, out, err = run_cli(capsys, "segment", "--prompts", prompts_file, "--model", tiny[0], "--out",
                             str(tmp_path / "ds"), "--no-progress")  # fmt: skip
    assert code == 3, err  # two broken files
    assert "12 images" in out and "10 ok, 2 failed" in out
    errors = [json.loads(line) for line in open(tmp_path / "ds" / "errors.jsonl", encoding="utf-8")]
    assert [e["image"] for e in errors] == sorted(BROKEN)
    assert "empty" in errors[0]["error"] and "cannot read image" in errors[1]["error"]
    coco = COCO.COCO(str(tmp_path / "ds" / "annotations.json"))  # pycocotools reads it
    by_name = {image["file_name"]: image for image in coco.dataset["images"]}
    assert sorted(by_name) == sorted(set(made) - set(BROKEN))
    prompts = read_prompts_file(prompts_file)
    for name, image in by_name.items():
        path = os.path.join(directory, name)
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        assert len(annotations) == 1, name  # points and one box form one prompt
        width, height = image_size(path)
        assert (image["width"], image["height"]) == (width, height), name
        (prompt,) = prompts[path]
        x, y = prompt.points[0]
        box = ["--box", ",".join(f"{v:g}" for v in prompt.box)] if prompt.box else []
        single = tmp_path / "single" / name.replace("/", "_")
        code, _, err = run_cli(capsys, "segment", path, "--point", f"{x},{y}", *box, "--model", tiny[0],
                               "--out", str(single))  # fmt: skip
        assert code == 0, err
        reference = np.asarray(Image.open(single / "mask_0.png")) > 0
        ours = coco.annToMask(annotations[0]).astype(bool)
        np.testing.assert_array_equal(ours, reference, err_msg=name)
        assert annotations[0]["predicted_iou"] == _load(single / "result.json")["scores"][0], name
        assert annotations[0]["area"] == int(reference.sum())


def test_coco_boxes_keep_their_categories(tiny, folder, tmp_path):
    directory, _ = folder
    detections = {
        "images": [{"id": 7, "file_name": "rgb_0.png", "width": 64, "height": 48},
                   {"id": 9, "file_name": "gray.png", "width": 70, "height": 50}],
        "annotations": [{"id": 1, "image_id": 7, "bbox": [5, 5, 30, 20], "category_id": 3},
                        {"id": 2, "image_id": 7, "bbox": [30, 10, 20, 30], "category_id": 5},
                        {"id": 3, "image_id": 9, "bbox": [10, 10, 40, 30], "category_id": 3}],
        "categories": [{"id": 3, "name": "cat"}, {"id": 5, "name": "dog"}],
    }  # fmt: skip
    path = tmp_path / "detections.json"
    path.write_text(json.dumps(detections))
    summary = segment_dataset(boxes_from=str(path), images_root=directory, out=str(tmp_path / "out"),
                              model=tiny[0], engine=QUIET)  # fmt: skip
    assert (summary.succeeded, summary.failed) == (2, 0)
    result = _load(summary.annotations)
    assert [i["id"] for i in result["images"]] == [9, 7]  # ids from the COCO file, ordered by path
    assert [(a["image_id"], a["category_id"]) for a in result["annotations"]] == [(9, 3), (7, 3), (7, 5)]
    assert result["categories"] == detections["categories"]
    # The box prompt's mask: the decoder's answer for that box, through the predictor.
    from sam_core.predictor import SamPredictor
    from tests.helpers.dataset_images import as_array

    predictor = SamPredictor(tiny[1])
    predictor.set_image(as_array(os.path.join(directory, "rgb_0.png")))
    masks, scores, _ = predictor.predict(box=np.array([5, 5, 35, 25]), multimask_output=False)
    np.testing.assert_array_equal(coco_rle_to_mask(result["annotations"][1]["segmentation"]), masks[0])
    assert result["annotations"][1]["predicted_iou"] == pytest.approx(float(scores[0]), abs=1e-6)


def test_generate_dataset_matches_the_single_image_generator(tiny, folder, tmp_path, capsys):
    directory, _ = folder
    options = ["--points-per-side", "3", "--pred-iou-thresh", "0", "--stability-score-thresh", "0"]
    code, _, err = run_cli(capsys, "generate", os.path.join(directory, "rgb_*.png"), "--model", tiny[0], *options,
                           "--out", str(tmp_path / "g"), "--no-progress")  # fmt: skip
    assert code == 0, err
    result = _load(tmp_path / "g" / "annotations.json")
    assert [i["file_name"] for i in result["images"]] == [f"rgb_{i}.png" for i in range(5)]
    code, _, err = run_cli(capsys, "generate", os.path.join(directory, "rgb_3.png"), "--model", tiny[0], *options,
                           "--out", str(tmp_path / "one"), "--no-progress")  # fmt: skip
    single = _load(tmp_path / "one" / "masks.json")
    ours = [a for a in result["annotations"] if a["image_id"] == 4]
    assert [a["segmentation"] for a in ours] == [r["segmentation"] for r in single]
    assert [a["stability_score"] for a in ours] == [r["stability_score"] for r in single]


def test_batched_encoder_gives_the_same_masks(tiny, folder, prompts_file, tmp_path):
    one = segment_dataset(prompts=prompts_file, out=str(tmp_path / "b1"), model=tiny[0], engine=QUIET)
    four = segment_dataset(prompts=prompts_file, out=str(tmp_path / "b4"), model=tiny[0],
                           engine=EngineOptions(batch_size=4, progress=False))  # fmt: skip
    a, b = _load(one.annotations), _load(four.annotations)
    assert [x["image_id"] for x in a["annotations"]] == [x["image_id"] for x in b["annotations"]]
    for x, y in zip(a["annotations"], b["annotations"]):
        # Several images per encoder call change float32 summation order only: scores agree to rounding and
        # masks on all but pixels whose logit is within rounding of 0.
        assert x["predicted_iou"] == pytest.approx(y["predicted_iou"], abs=1e-5)
        agree = (coco_rle_to_mask(x["segmentation"]) == coco_rle_to_mask(y["segmentation"])).mean()
        assert agree >= 0.999


def test_bad_dataset_arguments(tiny, folder, prompts_file, tmp_path, capsys):
    directory, _ = folder
    with pytest.raises(InputError, match="matches no file"):
        expand_images([os.path.join(directory, "*.nothing")])
    with pytest.raises(InputError, match="give one prompt source"):
        segment_dataset([directory], out=str(tmp_path / "x"), model=tiny[0])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"image": "a.png", "points": [[1, 2]], "labels": [7]}\n')
    with pytest.raises(InputError, match="bad.jsonl line 1: labels must hold"):
        read_prompts_file(str(bad))
    code, _, err = run_cli(capsys, "segment", directory, "--point", "1,1", "--model", tiny[0])
    assert code == 2 and "needs --out" in err
    code, _, err = run_cli(capsys, "segment", "--prompts", prompts_file, "--model", tiny[0], "--out",
                           str(tmp_path / "o"), "--batch-size", "0")  # fmt: skip
    assert code == 2 and "batch_size must be a positive integer" in err


def _run_subprocess(args: list[str]) -> subprocess.Popen:
    # One fp32 GEMM path in every process: in "auto" mode each process times the paths itself, and on a busy machine
    # two may choose differently, which moves predicted_iou in its last float32 digits (README, resume).
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "DUALSAM_FAST_GEMM": "off"}
    return subprocess.Popen([sys.executable, "-m", "dualsam", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)  # fmt: skip


def test_a_killed_run_resumes_to_the_same_bytes(tmp_path):
    """The default model (slow enough to be killed midway) on 16 images: SIGKILL after two shards, then resume."""
    images = tmp_path / "images"
    images.mkdir()
    from tests.helpers.images import synthetic_image

    for index in range(16):
        Image.fromarray(synthetic_image(200 + 7 * index, 260, seed=index)).save(images / f"img_{index:02d}.png")
    args = ["segment", str(images), "--point", "60,60", "--no-progress"]
    whole = _run_subprocess([*args, "--out", str(tmp_path / "whole")])
    assert whole.wait(timeout=600) == 0, whole.stderr.read().decode()
    shards = tmp_path / "killed" / "shards"
    killed = _run_subprocess([*args, "--out", str(tmp_path / "killed")])
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and killed.poll() is None:
        if shards.is_dir() and len([n for n in os.listdir(shards) if n.endswith(".jsonl")]) >= 2:
            killed.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    done = [n for n in os.listdir(shards) if n.endswith(".jsonl")]
    assert 2 <= len(done) < 16 and not (tmp_path / "killed" / "annotations.json").exists()
    resumed = _run_subprocess([*args, "--out", str(tmp_path / "killed")])
    assert resumed.wait(timeout=600) == 0
    assert f"{len(done)} done earlier" in resumed.stdout.read().decode()
    resumed_bytes = (tmp_path / "killed" / "annotations.json").read_bytes()
    assert resumed_bytes == (tmp_path / "whole" / "annotations.json").read_bytes()
    assert not [n for n in os.listdir(shards) if n.startswith(".")], "a half-written shard was left behind"


def test_ray_engine_gives_the_local_annotations(tiny, folder, prompts_file, tmp_path):
    pytest.importorskip("ray.data", reason="the ray extra (pip install 'dualsam[ray]') is not installed")
    local = segment_dataset(prompts=prompts_file, out=str(tmp_path / "local"), model=tiny[0], engine=QUIET)
    ray_run = segment_dataset(prompts=prompts_file, out=str(tmp_path / "ray"), model=tiny[0],
                              engine=EngineOptions(engine="ray", workers=2, progress=False))  # fmt: skip
    assert (ray_run.succeeded, ray_run.failed) == (local.succeeded, local.failed) == (10, 2)
    a, b = _load(local.annotations), _load(ray_run.annotations)
    assert a["images"] == b["images"]
    assert len(a["annotations"]) == len(b["annotations"])
    for x, y in zip(a["annotations"], b["annotations"]):
        # Ray actors run one thread each (OMP_NUM_THREADS=1): float32 sums in another order, so scores agree to
        # rounding; masks, boxes, areas and ids are the same.
        same = [key for key in x if key != "predicted_iou"]
        assert {k: x[k] for k in same} == {k: y[k] for k in same}
        assert x["predicted_iou"] == pytest.approx(y["predicted_iou"], abs=1e-5)
    pids = {json.loads(line)["pid"] for name in os.listdir(tmp_path / "ray" / "shards")
            for line in open(tmp_path / "ray" / "shards" / name, encoding="utf-8")}  # fmt: skip
    assert len(pids) == 2 and os.getpid() not in pids  # two actors did the work
