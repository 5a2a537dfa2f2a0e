"""Copies a finished training run of scripts/train_default.py into the package as the default model.

    python scripts/package_default_model.py runs/tiny

Writes sam_core/data/default_model/: config.json, model.safetensors and preprocessor_config.json (the run's
final ``save_pretrained``), train_log.jsonl (every segment), loss_curve.png (scripts/plot_training_log.py, needs
matplotlib) and training.json (the recipe, the schedule and the wall time of each segment). TRAINING.md, the
human-readable account, is written by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

from plot_training_log import main as plot_log, read_log

from sam_core.atomic import atomic_path
from sam_core.cli_common import write_json
from sam_core.model_loading import DEFAULT_MODEL_DIR
from sam_torch.training.checkpoint import load_trainer_state
from sam_torch.training.trainer import CHECKPOINT_DIR, FINAL_DIR, LOG_NAME

MODEL_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")
#: The shipped model's training, on one H100 (16 CPU cores) from the repository root with
#: ``PYTHONPATH=. USE_TF=0 OMP_NUM_THREADS=1``: a 45-second throughput probe (discarded) that sized the schedule
#: (0.9 x 15 minutes at its rate), then the run in two segments, one per device call.
COMMANDS = (
    "python3 scripts/train_default.py --out /tmp/probe --steps 100000 --minutes 0.75 --workers 14",
    "python3 scripts/train_default.py --out runs/gpu --steps 6000 --minutes 6.8 --workers 14",
    "python3 scripts/train_default.py --out runs/gpu --resume --minutes 8.3 --workers 14 --eval-scenes 200",
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="the run directory of scripts/train_default.py (with model/ and the log)")
    args = parser.parse_args(argv)
    final = os.path.join(args.run, FINAL_DIR)
    if not os.path.isdir(final):
        parser.error(f"{final} does not exist: the schedule has not finished (resume the run first)")
    os.makedirs(DEFAULT_MODEL_DIR, exist_ok=True)
    for name in MODEL_FILES:
        copy_file(os.path.join(final, name), str(DEFAULT_MODEL_DIR / name))
    log = os.path.join(args.run, LOG_NAME)
    copy_file(log, str(DEFAULT_MODEL_DIR / LOG_NAME))
    plot_log([log, str(DEFAULT_MODEL_DIR / "loss_curve.png")])
    state = load_trainer_state(os.path.join(args.run, CHECKPOINT_DIR))["trainer"]
    steps, evals = read_log(log)
    segments = segment_summary(steps)
    facts = {
        "commands": list(COMMANDS),
        "device": DEVICE,
        "total_steps": state["config"]["total_steps"],
        "recipe": state["config"],
        "segments": segments,
        "wall_minutes": round(sum(s["wall_s"] for s in segments) / 60, 1),
        "wall_minutes_with_probe": round(sum(s["wall_s"] for s in segments) / 60 + PROBE_MINUTES, 1),
        "periodic_eval": [{k: r[k] for k in ("step", "point_miou", "box_miou")} for r in evals],
    }
    write_json(facts, str(DEFAULT_MODEL_DIR / "training.json"))
    print(json.dumps({k: facts[k] for k in ("total_steps", "wall_minutes")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
