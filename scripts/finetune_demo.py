"""The fine-tuning demonstration: the default model, fine-tuned on patterned rings, crosses and bars it has never seen
(scripts/make_finetune_demo_data.py), in each backend; held-out point and box mIoU before and after.

Example (the README's numbers):
    python scripts/make_finetune_demo_data.py --out demo_data
    python scripts/finetune_demo.py --data demo_data --out demo_runs            # torch, then tf
    python scripts/finetune_demo.py --data demo_data --out demo_runs --backends torch

Each backend runs ``dualsam.finetune`` on demo_data/train (its own --val-split 0: the evaluation is on
demo_data/heldout), then ``dualsam.evaluate`` on demo_data/heldout with the default model and with OUT/BACKEND/model.
Prints a table and writes OUT/demo_report.json (per backend: before, after, wall time, steps) and the machine's
load average at the start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from sam_core.atomic import write_json

#: The demonstration's recipe (tuned on the torch side; see the README section).
STEPS = 700
BATCH_SIZE = 4
LR = 1e-3
FREEZE = ("image_encoder",)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the folder written by make_finetune_demo_data.py")
    parser.add_argument("--out", required=True, help="run folder (one subfolder per backend)")
    parser.add_argument("--backends", default="torch,tf", help="comma-separated: torch, tf (default: both)")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--lr", type=float, default=LR)
    parser.add_argument("--freeze", default=",".join(FREEZE), help="parts kept fixed (default: image_encoder)")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from dualsam.evaluate import evaluate
    from dualsam.finetune import finetune

    args = parse_args(argv)
    train, heldout = (str(Path(args.data) / part / "annotations.json") for part in ("train", "heldout"))
    freeze = tuple(part for part in args.freeze.split(",") if part)
    results = {"load_average_start": os.getloadavg(), "cpu_count": os.cpu_count(), "backends": {}}
    for backend in [b for b in args.backends.split(",") if b]:
        start = time.perf_counter()
        before = evaluate(heldout, backend=backend)
        report = finetune(
            train, backend=backend, steps=args.steps, val_split=0.0, out=Path(args.out) / backend, freeze=freeze,
            batch_size=args.batch_size, lr=args.lr, progress=not args.no_progress,
        )  # fmt: skip
        after = evaluate(heldout, model=report.model_dir, backend=backend)
        results["backends"][backend] = {
            "before": before, "after": after, "steps": report.steps, "train_wall_s": report.wall_s,
            "wall_s": round(time.perf_counter() - start, 1),
        }  # fmt: skip
        print(f"{backend}: point mIoU {before['point_miou']:.3f} -> {after['point_miou']:.3f}, box mIoU "
              f"{before['box_miou']:.3f} -> {after['box_miou']:.3f} ({report.steps} steps, "
              f"{time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    results["load_average_end"] = os.getloadavg()
    write_json(Path(args.out) / "demo_report.json", results)
    print(json.dumps({b: {k: v[k]["point_miou"] for k in ("before", "after")} for b, v in results["backends"].items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
