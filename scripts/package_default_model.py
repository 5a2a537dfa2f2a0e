"""Copies a finished training of scripts/train_default.py into the package as the default model.

    python scripts/package_default_model.py runs/tiny [runs/tiny-stage2 ...]

Several run directories are the stages of one training, in order, each started from the previous one's final
weights (``--init-from``). Writes sam_core/data/default_model/: config.json, model.safetensors and
preprocessor_config.json (the last stage's final ``save_pretrained``), train_log.jsonl (every segment of every
stage, steps and segment numbers continued across stages, with a ``stage`` field), loss_curve.png
(scripts/plot_training_log.py, needs matplotlib) and training.json (each stage's recipe, the schedule and the wall
time of each segment). TRAINING.md, the human-readable account, is written by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

from plot_training_log import main as plot_log
from plot_training_log import read_log

from dualsam.resources import DEFAULT_MODEL_DIR
from sam_core.atomic import atomic_path, write_json
from sam_torch.training.checkpoint import load_trainer_state
from sam_torch.training.trainer import CHECKPOINT_DIR, FINAL_DIR, LOG_NAME

MODEL_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")
#: The shipped model's training, on one H100 (16 CPU cores) from the repository root with
#: ``PYTHONPATH=. USE_TF=0 OMP_NUM_THREADS=1``: a 45-second throughput probe (discarded) that sized the schedule
#: (0.9 x 15 minutes at its rate), then stage 1 in two segments (one per device call), then stage 2 at full scene
#: difficulty from stage 1's weights (packaged then as the default model), with a fresh data seed.
COMMANDS = (
    "python3 scripts/train_default.py --out /tmp/probe --steps 100000 --minutes 0.75 --workers 14",
    "python3 scripts/train_default.py --out runs/gpu --steps 6000 --minutes 6.8 --workers 14",
    "python3 scripts/train_default.py --out runs/gpu --resume --minutes 8.3 --workers 14 --eval-scenes 200",
    "python3 scripts/package_default_model.py runs/gpu",
    "python3 scripts/train_default.py --out runs/gpu2 --init-from sam_core/data/default_model --steps 2700 --lr 5e-4"
    " --warmup-steps 100 --curriculum-steps 0 --seed 1 --minutes 7.8 --workers 14 --eval-scenes 200",
    "python3 scripts/package_default_model.py runs/gpu runs/gpu2",
)
DEVICE = "1 NVIDIA H100 80GB HBM3 and 16 CPU cores (14 data workers); torch 2.11.0+cu130"
PROBE_MINUTES = 0.75


def segment_summary(steps: list[dict]) -> list[dict]:
    """Per segment: first and last step, wall seconds and mean images per second."""
    summary: dict[int, dict] = {}
    for record in steps:
        entry = summary.setdefault(record["segment"], {"segment": record["segment"], "first_step": record["step"]})
        entry.update(last_step=record["step"], wall_s=record["wall_s"], images_per_s=round(record["images_per_s"], 2))
    return list(summary.values())


def copy_file(source: str, target: str) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def combined_log(runs: list[str]) -> list[dict]:
    """Every record of the runs' logs, in order; a later stage's steps and segments continue the earlier ones'."""
    records, step_offset, segment_offset = [], 0, 0
    for stage, run in enumerate(runs):
        with open(os.path.join(run, LOG_NAME), encoding="utf-8") as handle:
            stage_records = [json.loads(line) for line in handle]
        for record in stage_records:
            records.append({**record, "stage": stage, "step": record["step"] + step_offset,
                            "segment": record["segment"] + segment_offset})  # fmt: skip
        step_offset += run_state(run)["config"]["total_steps"]
        segment_offset += 1 + max(r["segment"] for r in stage_records)
    return records


def run_state(run: str) -> dict:
    return load_trainer_state(os.path.join(run, CHECKPOINT_DIR))["trainer"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="the run directories of scripts/train_default.py, stage by stage")
    args = parser.parse_args(argv)
    for run in args.runs:
        if not os.path.isdir(os.path.join(run, FINAL_DIR)):
            parser.error(f"{run}/{FINAL_DIR} does not exist: the schedule has not finished (resume the run first)")
    os.makedirs(DEFAULT_MODEL_DIR, exist_ok=True)
    final = os.path.join(args.runs[-1], FINAL_DIR)
    for name in MODEL_FILES:
        copy_file(os.path.join(final, name), str(DEFAULT_MODEL_DIR / name))
    log = str(DEFAULT_MODEL_DIR / LOG_NAME)
    with atomic_path(log) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record, sort_keys=True) + "\n" for record in combined_log(args.runs))
    plot_log([log, str(DEFAULT_MODEL_DIR / "loss_curve.png")])
    stages = [run_state(run)["config"] for run in args.runs]
    steps, evals = read_log(log)
    segments = segment_summary(steps)
    facts = {
        "commands": list(COMMANDS),
        "device": DEVICE,
        "total_steps": sum(config["total_steps"] for config in stages),
        "stages": stages,
        "segments": segments,
        "wall_minutes": round(sum(s["wall_s"] for s in segments) / 60, 1),
        "wall_minutes_with_probe": round(sum(s["wall_s"] for s in segments) / 60 + PROBE_MINUTES, 1),
        "periodic_eval": [{k: r[k] for k in ("step", "point_miou", "box_miou")} for r in evals],
    }
    write_json(DEFAULT_MODEL_DIR / "training.json", facts)
    print(json.dumps({k: facts[k] for k in ("total_steps", "wall_minutes")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
