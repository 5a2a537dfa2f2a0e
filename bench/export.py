"""Benchmark: the exported graphs against the framework models, in one run, on this machine.

For the default model and a ViT-B-sized model (informative random weights: speed does not depend on the values), the
median latency of:
  - the image encoder: our torch model, our Keras model, ONNX Runtime fp32 and int8, LiteRT fp32 and int8;
  - the prompt decoder, one call with 1 prompt and one with 64 prompts (one point each, 3 masks per prompt).
Every contender runs through sam_core's PredictionBackend (the path SamPredictor and the mask generator take), in a
process of its own, one contender after another: six ViT-B runtimes do not fit in one process on a 24 GiB machine
(ONNX Runtime's and LiteRT's arenas keep their peak activations). Each row reports the process's peak resident
memory and the load average when it ended; figures from a busy machine are not comparable. Export times and file
sizes are reported too.

    python bench/export.py [--runs 5] [--skip-vitb] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np
from machine import load_line, machine_line, peak_rss_kib

from sam_core.atomic import write_json

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository, for tests.helpers

PROMPT_COUNTS = (1, 64)
#: Decoder calls before timing: more than either backend's eager calls before it traces the decoder
#: (sam_tf.backend.EAGER_CALLS, 10; sam_torch.backend.EAGER_CALLS, 20), so every row times the steady state a
#: predictor or mask generator reaches.
WARMUP_DECODER_CALLS = 22


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


def export_both(spec: str | None, onnx_dir: str, tflite_dir: str) -> None:
    """Writes the ONNX (from torch) and LiteRT (from Keras) exports, fp32 + int8, without their checks. Runs in a
    child process: the converters' memory (several GB for ViT-B) is returned before the runtimes load."""
    from dualsam.models import load_model
    from sam_tf.tflite_export import export_tflite
    from sam_torch.onnx_export import export_onnx

    for name, export, backend, directory in (("ONNX", export_onnx, "torch", onnx_dir),
                                             ("LiteRT", export_tflite, "tf", tflite_dir)):  # fmt: skip
        start = time.perf_counter()
        export(load_model(spec, backend).model, directory, quantize="int8", check=False)
        sizes = {f: os.path.getsize(os.path.join(directory, f)) / 1e6 for f in sorted(os.listdir(directory))
                 if f.endswith((".onnx", ".tflite"))}  # fmt: skip
        print(f"  {name} export (fp32 + int8, no check): {time.perf_counter() - start:.0f} s; "
              + ", ".join(f"{f} {mb:.1f} MB" for f, mb in sizes.items()), flush=True)  # fmt: skip


CONTENDERS = ("torch (ours)", "Keras (ours)", "ONNX Runtime fp32", "ONNX Runtime int8", "LiteRT fp32", "LiteRT int8")


def contender(name: str, spec: str | None, scratch: str) -> object:
    """The PredictionBackend of contender ``name`` (exports read from ``scratch``, written by :func:`export_both`)."""
    from dualsam.models import load_model
    from dualsam.runtimes.onnx_backend import OnnxBackend
    from dualsam.runtimes.tflite_backend import TfliteBackend
    from sam_core.backend import as_backend

    precision = "int8" if name.endswith("int8") else "float32"
    if name.startswith("ONNX"):
        return OnnxBackend(os.path.join(scratch, "onnx"), precision=precision)
    if name.startswith("LiteRT"):
        return TfliteBackend(os.path.join(scratch, "tflite"), precision=precision)
    return as_backend(load_model(spec, "torch" if name.startswith("torch") else "tf").model)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(backend: object, runs: int) -> dict[str, float]:
    """{"encoder", "decoder 1", "decoder 64"}: median seconds of ``runs`` runs of each (after a warm-up)."""
    rng = np.random.default_rng(0)
    side = backend.image_size
    pixels = rng.normal(size=(1, 3, side, side)).astype(np.float32)
    embedding = backend.embed(pixels)  # warm-up
    jobs = {"encoder": lambda: np.asarray(backend.embed(pixels))}
    for count in PROMPT_COUNTS:
        points, labels = rng.uniform(0, side, size=(1, count, 1, 2)), np.ones((1, count, 1), np.int64)
        jobs[f"decoder {count}"] = lambda p=points, q=labels: backend.decode(
            embedding, points=p, labels=q, multimask_output=True
        )
        for _ in range(WARMUP_DECODER_CALLS):  # warm-up: steady state, past any tracing (torch's is per shape)
            jobs[f"decoder {count}"]()
    times: dict[str, list[float]] = {job: [] for job in jobs}
    for _ in range(runs):
        for job, fn in jobs.items():
            times[job].append(timed(fn))
    return {job: statistics.median(values) for job, values in times.items()}


def measure_in_child(name: str, spec: str | None, scratch: str, runs: int, queue: multiprocessing.Queue) -> None:
    """Child process: builds one contender, measures it, and puts its figures (and peak RSS, GiB) on ``queue``."""
    row = measure(contender(name, spec, scratch), runs)
    queue.put({**row, "peak_rss_gib": peak_rss_kib() / 2**20, "load_average": os.getloadavg()[0]})



def run_child(target: Callable[..., None], *args: object) -> dict | None:
    """Runs ``target(*args, queue)`` in a fresh (spawned) process; returns what it put on the queue, if anything."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=target, args=(*args, queue))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"{target.__name__}{args[:1]} failed (exit code {child.exitcode})")
    return None if queue.empty() else queue.get()


def export_in_child(spec: str | None, scratch: str, queue: multiprocessing.Queue) -> None:
    export_both(spec, os.path.join(scratch, "onnx"), os.path.join(scratch, "tflite"))


def report(title: str, results: dict[str, dict[str, float]]) -> list[str]:
    base = results["torch (ours)"]["encoder"]
    lines = [title, "| contender | encoder ms | vs torch | decoder, 1 prompt ms | decoder, 64 prompts ms | "
             "peak RSS GiB | load |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, row in results.items():
        lines.append(f"| {name} | {1e3 * row['encoder']:.0f} | {row['encoder'] / base:.2f}x | "
                     f"{1e3 * row['decoder 1']:.1f} | {1e3 * row['decoder 64']:.1f} | {row['peak_rss_gib']:.1f} | "
                     f"{row['load_average']:.1f} |")  # fmt: skip
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
            print(f"{title}:", flush=True)
            run_child(export_in_child, spec, directory)
            results[title] = {}
            for name in CONTENDERS:
                results[title][name] = run_child(measure_in_child, name, spec, directory, args.runs)
                print(f"  {name}: {json.dumps({k: round(v, 4) for k, v in results[title][name].items()})}", flush=True)
            print("\n".join(report(title, results[title])), flush=True)
    print(load_line("after"))
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
