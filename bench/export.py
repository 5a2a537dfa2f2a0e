"""Benchmark: the exported graphs against the framework models, in one run, on this machine.

For the default model and a ViT-B-sized model (informative random weights: speed does not depend on the values), the
median latency of:
  - the image encoder: our torch model, our Keras model, ONNX Runtime fp32 and int8, LiteRT fp32 and int8;
  - the prompt decoder, one call with 1 prompt and one with 64 prompts (one point each, 3 masks per prompt).
Every contender runs through sam_core's PredictionBackend (the path SamPredictor and the mask generator take); runs
alternate between contenders, so a change in the machine's load hits them all alike. Export times and file sizes
are reported too.

    python bench/export.py [--runs 5] [--skip-vitb] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np
from machine import load_line, machine_line

from sam_core.atomic import write_json

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository, for tests.helpers

PROMPT_COUNTS = (1, 64)


def vitb_directory(directory: str) -> str:
    """A sam-vit-base save_pretrained directory with informative random weights."""
    import torch

    from sam_core import SamConfig
    from sam_torch import SamModel
    from tests.helpers.sam_weights import informative_state

    model = SamModel(SamConfig.from_preset("sam-vit-base"))
    state = informative_state({k: tuple(v.shape) for k, v in model.state_dict().items()}, seed=0)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    model.save_pretrained(directory)
    return directory


def backends(spec: str | None, scratch: str, log: Callable[[str], None]) -> dict[str, object]:
    """name -> PredictionBackend for every contender of one model (exports written under ``scratch``)."""
    from dualsam.models import load_model
    from dualsam.runtimes.onnx_backend import OnnxBackend
    from dualsam.runtimes.tflite_backend import TfliteBackend
    from sam_core.backend import as_backend
    from sam_tf.tflite_export import export_tflite
    from sam_torch.onnx_export import export_onnx

    torch_model = load_model(spec, "torch").model
    keras_model = load_model(spec, "tf").model
    onnx_dir, tflite_dir = os.path.join(scratch, "onnx"), os.path.join(scratch, "tflite")
    for name, export, model, directory in (("ONNX", export_onnx, torch_model, onnx_dir),
                                           ("LiteRT", export_tflite, keras_model, tflite_dir)):  # fmt: skip
        start = time.perf_counter()
        export(model, directory, quantize="int8", check=False)
        sizes = {f: os.path.getsize(os.path.join(directory, f)) / 1e6 for f in sorted(os.listdir(directory))
                 if f.endswith((".onnx", ".tflite"))}  # fmt: skip
        log(f"{name} export (fp32 + int8, no check): {time.perf_counter() - start:.0f} s; "
            + ", ".join(f"{f} {mb:.1f} MB" for f, mb in sizes.items()))  # fmt: skip
    return {
        "torch (ours)": as_backend(torch_model),
        "Keras (ours)": as_backend(keras_model),
        "ONNX Runtime fp32": OnnxBackend(onnx_dir),
        "ONNX Runtime int8": OnnxBackend(onnx_dir, precision="int8"),
        "LiteRT fp32": TfliteBackend(tflite_dir),
        "LiteRT int8": TfliteBackend(tflite_dir, precision="int8"),
    }


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(contenders: dict[str, object], runs: int) -> dict[str, dict[str, float]]:
    """name -> {"encoder", "decoder 1", "decoder 64"}: median seconds of ``runs`` alternating runs (after a warm-up)."""
    rng = np.random.default_rng(0)
    first = next(iter(contenders.values()))
    side = first.image_size
    pixels = rng.normal(size=(1, 3, side, side)).astype(np.float32)
    points = {count: rng.uniform(0, side, size=(1, count, 1, 2)) for count in PROMPT_COUNTS}
    labels = {count: np.ones((1, count, 1), np.int64) for count in PROMPT_COUNTS}
    embeddings = {name: backend.embed(pixels) for name, backend in contenders.items()}  # warm-up
    jobs: dict[str, dict[str, Callable[[], object]]] = {}
    for name, backend in contenders.items():
        jobs[name] = {"encoder": lambda b=backend: np.asarray(b.embed(pixels))}
        for count in PROMPT_COUNTS:
            jobs[name][f"decoder {count}"] = lambda b=backend, e=embeddings[name], c=count: b.decode(
                e, points=points[c], labels=labels[c], multimask_output=True
            )
            jobs[name][f"decoder {count}"]()  # warm-up
    times: dict[str, dict[str, list[float]]] = {name: {job: [] for job in fns} for name, fns in jobs.items()}
    for _ in range(runs):
        for name, fns in jobs.items():
            for job, fn in fns.items():
                times[name][job].append(timed(fn))
    return {name: {job: statistics.median(values) for job, values in by_job.items()} for name, by_job in times.items()}


def report(title: str, results: dict[str, dict[str, float]]) -> list[str]:
    base = results["torch (ours)"]["encoder"]
    lines = [title, "| contender | encoder ms | vs torch | decoder, 1 prompt ms | decoder, 64 prompts ms |",
             "|---|---|---|---|---|"]  # fmt: skip
    for name, row in results.items():
        lines.append(f"| {name} | {1e3 * row['encoder']:.0f} | {row['encoder'] / base:.2f}x | "
                     f"{1e3 * row['decoder 1']:.1f} | {1e3 * row['decoder 64']:.1f} |")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-vitb", action="store_true")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    print(machine_line())
    print(load_line("before"), flush=True)
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        models = {"default model": None}
        if not args.skip_vitb:
            models["ViT-B-sized model"] = vitb_directory(os.path.join(scratch, "vitb"))
        for title, spec in models.items():
            directory = os.path.join(scratch, title.replace(" ", "_"))
            contenders = backends(spec, directory, lambda line, title=title: print(f"  {title}: {line}", flush=True))
            results[title] = measure(contenders, args.runs)
            print("\n".join(report(title, results[title])), flush=True)
    print(load_line("after"))
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
