"""Benchmark: automatic mask generation on one large image, ours against Meta's and transformers', in one run.

The same informative random weights (speed and memory do not depend on the values; random weights make masks that
cover most of the image) for:
  - ours-torch and ours-keras: sam_core's SamAutomaticMaskGenerator on sam_torch / sam_tf (its default
    points_per_batch);
  - meta: segment-anything's SamAutomaticMaskGenerator, in .venv-meta (tests/oracles/meta_oracle.py);
  - transformers: transformers' mask-generation pipeline (SamModel + SamImageProcessor), when transformers is installed;
  - with --before REV, ours-torch and ours-keras again from that git revision (``git archive``; the working tree is
    not touched), for before/after figures from the same run.
Two threshold settings: Meta's defaults, and "keep-all" (pred_iou_thresh and stability_score_thresh at 0, so that
every candidate mask passes the filters and must be held until the box NMS). Each contender runs in a process of its
own, one after another, with the same thread count; a row gives the seconds of the generate call (image encoding
included), the process's peak resident memory (model included) and the growth during the call, and the masks
returned. The image is synthetic (gradients, an ellipse, a rectangle, noise). The load average is printed before and
after each row: figures from a busy machine are not comparable.

    python bench/amg.py [--preset sam-vit-base] [--points-per-side 32] [--image-size 1500x2250]
                        [--contenders ours-torch,ours-keras,meta,transformers] [--modes default,keep-all]
                        [--before REV] [--threads N] [--timeout S] [--json OUT.json]

The lead's full case is the default (ViT-B, 1500 x 2250, 32 x 32 points). To run small: --preset tiny (the
parity tests' tiny SAM) --points-per-side 8 --image-size 600x900.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from machine import load_line, machine_line

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository, for tests.*

from sam_core.atomic import write_json  # noqa: E402
from tests.oracles.meta_runner import META_PYTHON, ORACLE, meta_arch  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(REPO, "bench", "amg_worker.py")
CONTENDERS = ("ours-torch", "ours-keras", "meta", "transformers")
#: Meta's thresholds, and every candidate kept by the filters (the box NMS still runs).
MODES = {
    "default": dict(pred_iou_thresh=0.88, stability_score_thresh=0.95, box_nms_thresh=0.7),
    "keep-all": dict(pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=0.7),
}
#: Meta's and transformers' points per decoder call (their default); ours uses its own default.
REFERENCE_POINTS_PER_BATCH = 64
PACKAGES = ("sam_core", "sam_torch", "sam_tf", "weights_convert", "dualsam")


def model_config(preset: str):
    """A SamConfig: a named preset (sam-vit-base, ...), or "tiny" (tests.helpers.sam_weights.tiny_config)."""
    from sam_core import SamConfig

    if preset == "tiny":
        from tests.helpers.sam_weights import tiny_config

        return tiny_config()
    return SamConfig.from_preset(preset)


def write_weights(preset: str, directory: str) -> dict:
    """Saves informative random weights as a save_pretrained directory and as Meta's .pth; returns Meta's spec."""
    import torch

    from sam_core.weights import canonical_to_meta
    from sam_torch import SamModel
    from tests.helpers.sam_weights import informative_state

    config = model_config(preset)
    model = SamModel(config)
    state = informative_state({key: tuple(value.shape) for key, value in model.state_dict().items()}, seed=0)
    model.load_state_dict({key: torch.from_numpy(value) for key, value in state.items()})
    model.save_pretrained(os.path.join(directory, "model"))
    checkpoint = os.path.join(directory, "meta.pth")
    torch.save({key: torch.from_numpy(value) for key, value in canonical_to_meta(state).items()}, checkpoint)
    return {"checkpoint": checkpoint, "arch": meta_arch(config)}


def export_revision(revision: str, directory: str) -> str:
    """The sam_* packages of a git revision, extracted under ``directory`` (for PYTHONPATH)."""
    target = os.path.join(directory, f"rev-{revision.replace('/', '_')}")
    os.makedirs(target, exist_ok=True)
    archive = subprocess.run(["git", "-C", REPO, "archive", revision, *PACKAGES], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", target], input=archive.stdout, check=True)
    return target


def run_worker(spec: dict, directory: str, timeout: float | None, pythonpath: str | None = None) -> dict:
    """One contender in its own process: bench/amg_worker.py (ours, transformers) or Meta's oracle."""
    path = os.path.join(directory, f"spec-{time.monotonic_ns()}.json")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if spec["contender"] == "meta":
        task = {"kind": "amg", "name": "amg", "kwargs": spec["kwargs"]}
        spec = {**spec["meta"], "image": spec["image"], "tasks": [task], "threads": spec["threads"]}
        spec["out"] = path + ".npz"
        command = [META_PYTHON, ORACLE, path]
    else:
        command = [sys.executable, WORKER, path]
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(spec, handle)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {result.returncode}"}
    if command[0] == META_PYTHON:
        with open(path + ".npz.json", encoding="utf-8") as handle:
            report = json.load(handle)["amg"]
        for name in (path + ".npz", path + ".npz.json"):
            os.remove(name)
        return {
            "seconds": report["seconds"],
            "masks": len(report["records"]),
            "peak_rss_mb": report["peak_rss_kb"] / 1024,
            "rss_before_mb": report["rss_before_kb"] / 1024,
        }
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="sam-vit-base", help="model size (a SamConfig preset, or 'tiny')")
    parser.add_argument("--points-per-side", type=int, default=32)
    parser.add_argument("--image-size", default="1500x2250", help="HxW of the image")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--before", metavar="REV", help="also run ours from this git revision (e.g. HEAD)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op threads of every contender")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per contender run")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    height, width = (int(v) for v in args.image_size.lower().split("x"))
    contenders = [name for name in args.contenders.split(",") if name]
    unknown = sorted(set(contenders) - set(CONTENDERS)) + sorted(set(args.modes.split(",")) - set(MODES))
    if unknown:
        parser.error(f"unknown contender or mode: {', '.join(unknown)}")
    if "meta" in contenders and not os.path.exists(META_PYTHON):
        print(f"meta: skipped, no {META_PYTHON}")
        contenders.remove("meta")
    if "transformers" in contenders:
        try:
            import transformers  # noqa: F401
        except ImportError:
            print("transformers: skipped, not installed")
            contenders.remove("transformers")

    print(machine_line())
    print(f"preset {args.preset}, image {height}x{width}, {args.points_per_side}^2 points, {args.threads} threads")
    print(load_line("before"), flush=True)
    from tests.helpers.images import synthetic_image

    results = []
    with tempfile.TemporaryDirectory(prefix="bench_amg_") as directory:
        meta = write_weights(args.preset, directory)
        image = os.path.join(directory, "image.npy")
        np.save(image, synthetic_image(height, width))
        runs = [(name, name, None) for name in contenders]
        if args.before:
            path = export_revision(args.before, directory)
            runs += [(f"{name}@{args.before}", name, path) for name in contenders if name.startswith("ours")]
        print(f"{'mode':9} {'contender':22} {'seconds':>9} {'x meta':>7} {'peak RSS MB':>12} {'growth MB':>10} "
              f"{'masks':>6}  load")  # fmt: skip
        for mode in args.modes.split(","):
            kwargs = dict(MODES[mode], points_per_side=args.points_per_side)
            meta_seconds = None
            for label, contender, pythonpath in sorted(runs, key=lambda run: run[1] != "meta"):
                spec = {"contender": contender, "model_dir": os.path.join(directory, "model"), "image": image,
                        "threads": args.threads, "meta": meta,
                        "kwargs": kwargs if contender.startswith("ours") else
                        dict(kwargs, points_per_batch=REFERENCE_POINTS_PER_BATCH)}  # fmt: skip
                row = {"mode": mode, "contender": label, **run_worker(spec, directory, args.timeout, pythonpath)}
                row["load"] = os.getloadavg()[0]
                results.append(row)
                if "error" in row:
                    print(f"{mode:9} {label:22} error: {row['error']}", flush=True)
                    continue
                meta_seconds = row["seconds"] if contender == "meta" else meta_seconds
                speedup = f"{meta_seconds / row['seconds']:7.2f}" if meta_seconds else f"{'-':>7}"
                print(f"{mode:9} {label:22} {row['seconds']:9.1f} {speedup} {row['peak_rss_mb']:12.0f} "
                      f"{row['peak_rss_mb'] - row['rss_before_mb']:10.0f} {row['masks']:6d}  {row['load']:.2f}",
                      flush=True)  # fmt: skip
    print(load_line("after"))
    if args.json:
        write_json(args.json, {"machine": machine_line(), "args": vars(args), "results": results})


if __name__ == "__main__":
    main()
