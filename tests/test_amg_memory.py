"""The mask generator's peak memory is bounded whatever survives its filters: one batch's working set, plus a few
bytes a run for the RLE of each mask that passed (held until the box NMS), never a full-resolution mask per
candidate.

A numpy-only backend makes every candidate pass thresholds of 0 with the whole image as its box (the box NMS then
keeps one), so the run with 9x the candidates holds 9x the survivors until the NMS, with batches of the same size.
Peak memory is measured with tracemalloc, which sees numpy's arrays and Python's objects.
"""

from __future__ import annotations

import tracemalloc

import numpy as np

import sam_core.mask_generator as mask_generator
from sam_core.amg import upscale
from sam_core.mask_generator import SamAutomaticMaskGenerator

HEIGHT, WIDTH = 200, 300
POINTS_PER_BATCH = 16
#: Working budgets of the measured runs: a chunk of 4 full-size bool masks, 1 MB of float32 logits at a time.
CHUNK_MASKS = 4
CHUNK_BYTES = 2**20
#: What each survivor may add until the NMS: its packed RLE (~640 runs here), box and scores (~0.4 KB measured).
#: Holding its full-resolution bool mask would add 8x this.
SURVIVOR_BYTES = HEIGHT * WIDTH // 8
#: The band of rows (1024 frame) that every mask leaves out, inside the image.
BAND_ROW = 320


class HoleBackend:
    """A PredictionBackend whose three masks per point cover the image but for a disc around the point."""

    image_size, low_res_size = 1024, 256

    def embed(self, pixel_values: np.ndarray) -> np.ndarray:
        return np.zeros((len(pixel_values), 1, 1, 1), dtype=np.float32)

    def repeat_embeddings(self, embeddings: np.ndarray, count: int) -> np.ndarray:
        return np.repeat(embeddings, count, axis=0)

    def decode(self, embeddings, *, points=None, labels=None, boxes=None, masks=None, multimask_output=True):
        """(1, P, 3, L, L) logits 4 - 8 exp(-d^2 / r^2), d the distance to the point (1024 frame), r = 40, 80, 120,
        less 8 across a band of rows (every column gets two more runs)."""
        side = self.low_res_size
        centres = np.arange(side, dtype=np.float32) * 4 + 2
        x, y = (points[0, :, 0, axis, None, None].astype(np.float32) for axis in (0, 1))
        distance = (centres[None, None, :] - x) ** 2 + (centres[None, :, None] - y) ** 2  # (P, L, L)
        logits = np.empty((1, len(distance), 3, side, side), dtype=np.float32)
        for index, radius in enumerate((40, 80, 120)):
            np.exp(distance / np.float32(-radius * radius), out=logits[0, :, index])
            logits[0, :, index] *= -8
            logits[0, :, index] += 4
        logits[..., np.abs(centres - BAND_ROW) < 20, :] -= 8
        return logits, np.full((1, len(distance), 3), 0.9, dtype=np.float32)


def _peak_bytes(points_per_side: int, image: np.ndarray) -> tuple[int, list]:
    generator = SamAutomaticMaskGenerator(
        HoleBackend(),
        points_per_side=points_per_side,
        points_per_batch=POINTS_PER_BATCH,
        pred_iou_thresh=0.0,
        stability_score_thresh=0.0,
        output_mode="uncompressed_rle",
    )
    tracemalloc.start()
    try:
        records = generator.generate(image, image_embedding=np.zeros((1, 1, 1, 1), np.float32))  # no pixel arrays
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, records


def test_peak_does_not_grow_with_the_survivors(monkeypatch):
    monkeypatch.setattr(mask_generator, "UPSCALE_CHUNK_BYTES", CHUNK_MASKS * (HEIGHT + 2) * WIDTH)
    monkeypatch.setattr(upscale, "CHUNK_BYTES", CHUNK_BYTES)
    image = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    few, few_records = _peak_bytes(4, image)  # one full batch: 48 candidates
    many, many_records = _peak_bytes(12, image)  # 432 candidates
    for records in (few_records, many_records):
        assert len(records) == 1 and records[0]["bbox"] == [0, 0, WIDTH - 1, HEIGHT - 1]
    survivors = 3 * (12**2 - 4**2)
    assert many - few <= survivors * SURVIVOR_BYTES, f"{(many - few) / survivors:.0f} bytes per survivor"
    # One batch's working set (its low-res logits and the backend's temporaries, a copy of a chunk's logits, one
    # chunk of padded bool masks, a few pieces of float32 logits and their row pass), plus the survivors.
    batch = POINTS_PER_BATCH * 3 * HoleBackend.low_res_size**2 * 4
    working = 2 * batch + CHUNK_MASKS * (HEIGHT + 2) * WIDTH + 4 * CHUNK_BYTES + 3 * 12**2 * SURVIVOR_BYTES
    assert many <= working, f"peak {many / 2**20:.1f} MB, bound {working / 2**20:.1f} MB"
