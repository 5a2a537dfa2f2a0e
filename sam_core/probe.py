"""The fixed probe that checks a converted or exported model against its source (``dualsam convert --verify``,
the ONNX export's self-check): one smooth image and point, box, point+box and mask prompts.

Shape legend: S image size, L low-res mask side (4 * S / patch).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .config import SamConfig


def probe_inputs(config: SamConfig) -> tuple[np.ndarray, list[dict]]:
    """The fixed probe: (1, 3, S, S) pixel values (a smooth pattern, zero padding below) and the prompts.

    Returns:
        pixel values and a list of prompt dicts (name, points (1,1,N,2), labels (1,1,N), boxes (1,1,4), masks
        (1,1,L,L)), each in the S-pixel frame.
    """
    side = config.vision_config.image_size
    low_res = 4 * config.vision_config.grid_size
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    channels = [np.sin(6 * xx + c) * np.cos(4 * yy - c) + 0.5 * (xx - yy) for c in range(3)]
    pixels = np.stack(channels)[None].astype(np.float32)
    pixels[..., int(0.75 * side):, :] = 0.0
    u, v = np.mgrid[0:low_res, 0:low_res].astype(np.float32) / low_res
    mask = (8.0 - 40.0 * ((u - 0.4) ** 2 + (v - 0.5) ** 2))[None, None].astype(np.float32)
    point = np.array([[[[0.3 * side, 0.45 * side]]]], np.float32)
    box = np.array([[[0.1 * side, 0.2 * side, 0.7 * side, 0.65 * side]]], np.float32)
    prompts = [
        {"name": "point", "points": point, "labels": np.ones((1, 1, 1), np.int64)},
        {"name": "box", "boxes": box},
        {"name": "point+box", "points": point, "labels": np.ones((1, 1, 1), np.int64), "boxes": box},
        {"name": "point+mask", "points": point, "labels": np.ones((1, 1, 1), np.int64), "masks": mask},
    ]
    return pixels, prompts


@dataclass(frozen=True)
class Deviation:
    """One output of a checked model against its reference: max|Δ| and the bound it must stay under.

    Attributes:
        output: the output's name (e.g. "point/multi/pred_masks").
        max_abs_diff: max |ours - reference| (inf when the shapes differ).
        bound: rtol * max(1, max|reference|).
        model: which checked model ("torch", "tf", "" for a single one).
    """

    output: str
    max_abs_diff: float
    bound: float
    model: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.max_abs_diff <= self.bound)

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "FAIL"
        name = f"{self.model:<6} {self.output:<34}" if self.model else f"{self.output:<50}"
        return f"{name} max|Δ| {self.max_abs_diff:.3g}  (bound {self.bound:.3g})  {verdict}"


def deviation(name: str, ours: np.ndarray, reference: np.ndarray, rtol: float, model: str = "") -> Deviation:
    """max|ours - reference| against rtol * max(1, max|reference|) (float64 arithmetic)."""
    ref = np.asarray(reference, np.float64)
    mine = np.asarray(ours, np.float64)
    diff = float(np.max(np.abs(mine - ref))) if mine.shape == ref.shape else float("inf")
    return Deviation(name, diff, rtol * max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0), model)
