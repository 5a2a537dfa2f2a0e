"""Plots a training log (train_log.jsonl of sam_torch.training.Trainer) as a PNG: loss and training IoU per step,
the periodic held-out mIoU, and the boundaries of resumed segments. Needs matplotlib (not a dualsam dependency).

    python scripts/plot_training_log.py runs/tiny/train_log.jsonl runs/tiny/loss_curve.png
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def read_log(path: str) -> tuple[list[dict], list[dict]]:
    """(step records, eval records) of a JSON-lines training log."""
    steps, evals = [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            (evals if record.get("event") == "eval" else steps).append(record)
    return steps, evals


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` values (fewer at the start)."""
    cumsum = np.concatenate([[0.0], np.cumsum(values)])
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (cumsum[ends] - cumsum[starts]) / (ends - starts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", help="train_log.jsonl")
    parser.add_argument("out", help="PNG to write")
    parser.add_argument("--window", type=int, default=10, help="moving-average window, in log records")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    steps, evals = read_log(args.log)
    x = np.array([r["step"] for r in steps])
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, constrained_layout=True)
    top.plot(x, smooth(np.array([r["loss"] for r in steps]), args.window), label="loss (point + box passes)")
    top.set_ylabel("training loss")
    for key, label in (("point_iou", "train IoU, point prompts"), ("box_iou", "train IoU, box prompts")):
        bottom.plot(x, smooth(np.array([r[key] for r in steps]), args.window), label=label, alpha=0.8)
    if evals:
        ex = [r["step"] for r in evals]
        bottom.plot(ex, [r["point_miou"] for r in evals], "o-", label="held-out mIoU, interior point")
        bottom.plot(ex, [r["box_miou"] for r in evals], "s-", label="held-out mIoU, box")
    bottom.set_ylabel("IoU")
    bottom.set_xlabel("step")
    bottom.set_ylim(0, 1)
    for record, previous in zip(steps[1:], steps[:-1]):
        if record["segment"] != previous["segment"]:
            for axis in (top, bottom):
                axis.axvline(previous["step"], color="grey", linestyle=":", linewidth=1)
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
        axis.legend(loc="best", fontsize=8)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
