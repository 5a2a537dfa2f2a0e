"""Trains the default tiny SAM on synthetic scenes (resumable; see sam_torch/training/recipe.py).

Examples:
    python scripts/train_default.py --out runs/tiny --minutes 120 --device cuda --workers 14
    python scripts/train_default.py --out runs/tiny --minutes 60 --resume     # continue the same schedule
    python scripts/train_default.py --out runs/more --init-from runs/tiny/model --steps 2000 --lr 5e-4  # a new stage
    python scripts/train_default.py --out runs/tiny --eval-only --eval-scenes 200

Writes runs/tiny/train_log.jsonl (one JSON object per logged step, with a ``segment`` id per (re)start),
runs/tiny/checkpoint/ (model + processor + optimizer/scheduler state) and, once the schedule is complete,
runs/tiny/model/ (save_pretrained), then prints the held-out point and box mIoU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

from sam_core.processing import SamProcessor
from sam_torch.modeling import SamModel
from sam_torch.training import Trainer, evaluate
from sam_torch.training.recipe import build_default_model, default_train_config
from sam_torch.training.trainer import CHECKPOINT_DIR, FINAL_DIR


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="run directory (log, checkpoint, final model)")
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock budget of this segment")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint if it exists")
    parser.add_argument("--steps", type=int, default=None, help="schedule length (total steps) of a new run")
    parser.add_argument("--batch-size", type=int, default=None, help="images per step of a new run")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate of a new run")
    parser.add_argument("--warmup-steps", type=int, default=None, help="warmup of a new run (default: 1/40 of it)")
    parser.add_argument("--curriculum-steps", type=int, default=None,
                        help="steps of a new run's easy-to-full scene ramp (default: 40%% of it; 0: full difficulty)")
    parser.add_argument("--init-from", default=None,
                        help="start a new run from these weights (a save_pretrained directory) instead of from scratch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--workers", type=int, default=1, help="data worker processes (0: draw scenes inline)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--eval-scenes", type=int, default=200, help="held-out scenes for the final evaluation")
    parser.add_argument("--eval-only", action="store_true", help="only evaluate OUT/model (or OUT/checkpoint)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.eval_only:
        final = os.path.join(args.out, FINAL_DIR)
        source = final if os.path.isdir(final) else os.path.join(args.out, CHECKPOINT_DIR)
        model, processor = SamModel.from_pretrained(source).to(device), SamProcessor.from_pretrained(source)
    else:
        resume = args.resume and os.path.isfile(os.path.join(args.out, CHECKPOINT_DIR, "trainer_state.pt"))
        if resume:
            trainer = Trainer.resume(args.out, data_workers=args.workers, device=device)
        else:
            given = (("total_steps", args.steps), ("batch_size", args.batch_size), ("lr", args.lr),
                     ("warmup_steps", args.warmup_steps), ("curriculum_steps", args.curriculum_steps),
                     ("init_from", args.init_from))  # fmt: skip
            config = default_train_config(seed=args.seed, **{k: v for k, v in given if v is not None})
            model = SamModel.from_pretrained(args.init_from) if args.init_from else build_default_model(args.seed)
            trainer = Trainer(model, config, args.out, data_workers=args.workers, device=device)
        print(f"segment {trainer.segment}: step {trainer.step} / {trainer.config.total_steps} on {device}",
              file=sys.stderr)  # fmt: skip
        last = trainer.fit(max_minutes=args.minutes)
        print(json.dumps({"step": trainer.step, **last}), file=sys.stderr)
        if trainer.step < trainer.config.total_steps:
            print("schedule not finished; run again with --resume to continue", file=sys.stderr)
            return 0
        model, processor = trainer.model, trainer.processor
    result = evaluate(model, processor, num_scenes=args.eval_scenes)
    print(json.dumps({"point_miou": result.point_miou, "box_miou": result.box_miou, "objects": result.num_objects}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
