"""Benchmark: dataset throughput of dualsam segment, in one run, on this machine.

48 images of mixed sizes with the default model, and 8 with a ViT-B-sized model (informative random weights: speed
does not depend on the values). Images/s of:
  (a) one ``dualsam segment IMAGE`` process per image (the model loaded every time);
  (b) one ``dualsam segment DIR --out ...`` dataset run (the local engine: the model loaded once, images read in
      background threads);
  (c) the same run on the Ray engine on the same cores, with 1 and with 2 actors: joining a running local cluster
      (``ray start --head --num-cpus 2`` beforehand, then ``--address``: how jobs use a cluster; the cluster is left
      to finish its own start-up, until the CPUs are 90% idle, and then runs two jobs, each timed: the first job a
      cluster runs pays for more cold start than the later ones), and starting a fresh cluster inside the command
      (``ray.init()``, a few seconds more per job).
Targets: (b) >= 5x (a) with the default model; Ray's overhead <= 15% against (b) at equal cores.
The load average is printed before and after: figures from a busy machine are not comparable.

    python bench/batch.py [--images 48] [--vitb-images 8] [--skip-vitb] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from machine import load_line, machine_line, wait_quiet
from PIL import Image

from sam_core.atomic import write_json

SIZES = [(480, 640), (640, 480), (768, 1024), (300, 900), (1080, 1920), (512, 512)]


def make_images(directory: str, count: int) -> None:
    from sam_core.synthetic import make_scene

    for index in range(count):
        height, width = SIZES[index % len(SIZES)]
        scene = make_scene(index, long_side=(512, 512))
        image = Image.fromarray(scene.image).resize((width, height), Image.BILINEAR)
        image.save(os.path.join(directory, f"{index:03d}.jpg"), quality=90)


def vitb_model(directory: str) -> str:
    """A sam-vit-base directory with informative random weights."""
    import torch

    from sam_core import SamConfig
    from sam_torch import SamModel

    torch.manual_seed(0)
    model = SamModel(SamConfig.from_preset("sam-vit-base"))
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim > 1:
                parameter.normal_(0, 0.02)
    model.save_pretrained(directory)
    return directory


def dualsam(*args: str) -> float:
    """Seconds of one ``dualsam`` process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dualsam", *args], check=True, capture_output=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})  # fmt: skip
    return time.perf_counter() - start


RAY_RUNS = {"1 actor x 2 CPUs": ["--workers", "1", "--cpus-per-worker", "2"],
            "2 actors x 1 CPU": ["--workers", "2", "--cpus-per-worker", "1"]}  # fmt: skip


def ray_cluster(command: str) -> None:
    """``ray start --head`` (2 CPUs) or ``ray stop`` for the runs that join a running cluster."""
    ray = os.path.join(os.path.dirname(sys.executable), "ray")
    args = ["start", "--head", "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats"]
    subprocess.run([ray, *(args if command == "start" else ["stop"])], check=True, capture_output=True)


def measure(images: str, model: list[str], scratch: str) -> dict[str, float]:
    """Images/s of (a), (b) and the Ray runs for the images in ``images``."""
    paths = sorted(os.path.join(images, name) for name in os.listdir(images))
    point = ["--point", "100,100"]
    rates = {}
    seconds = sum(dualsam("segment", path, *point, *model, "--out", os.path.join(scratch, "a")) for path in paths)
    rates["(a) a process per image"] = len(paths) / seconds

    def timed(label: str, extra: list[str]) -> None:
        out = os.path.join(scratch, "out")
        shutil.rmtree(out, ignore_errors=True)
        seconds = dualsam("segment", images, *point, *model, "--out", out, "--no-progress", *extra)
        rates[label] = len(paths) / seconds
        shutil.rmtree(out, ignore_errors=True)

    wait_quiet()
    timed("(b) dataset run, local engine", [])
    for name, extra in RAY_RUNS.items():
        ray_cluster("start")
        wait_quiet()
        for job in ("first job", "second job"):
            timed(f"(c) Ray, running cluster, {name}, its {job}", ["--engine", "ray", "--address", "auto", *extra])
        ray_cluster("stop")
    for name, extra in RAY_RUNS.items():
        wait_quiet()
        timed(f"(c) Ray, cluster started per job, {name}", ["--engine", "ray", *extra])
    return rates


def report(name: str, rates: dict[str, float]) -> list[str]:
    base, local = rates["(a) a process per image"], rates["(b) dataset run, local engine"]
    lines = [f"{name}", "| run | images/s | vs (a) | vs (b) |", "|---|---|---|---|"]
    for label, rate in rates.items():
        lines.append(f"| {label} | {rate:.2f} | {rate / base:.2f}x | {rate / local:.2f}x |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--vitb-images", type=int, default=8)
    parser.add_argument("--skip-vitb", action="store_true")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    print(machine_line())
    print(load_line("before"))
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        images = os.path.join(scratch, "images")
        os.makedirs(images)
        make_images(images, args.images)
        results["default model"] = measure(images, [], scratch)
        print("\n".join(report(f"default model, {args.images} images", results["default model"])))
        if not args.skip_vitb:
            few = os.path.join(scratch, "few")
            os.makedirs(few)
            for name in sorted(os.listdir(images))[: args.vitb_images]:
                shutil.copy(os.path.join(images, name), few)
            model = ["--model", vitb_model(os.path.join(scratch, "vitb"))]
            results["ViT-B"] = measure(few, model, scratch)
            print("\n".join(report(f"ViT-B-sized model, {args.vitb_images} images", results["ViT-B"])))
    print(load_line("after"))
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
