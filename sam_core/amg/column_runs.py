"""Run-length encoding straight from the masks' columns, for the mask generator.

The generator holds a chunk of masks as (M, w, h + 2) bool arrays whose rows are the masks' columns (the
column-major order of RLE; MaskUpscaler.column_chunks produces them without a transposing copy), with a zero
above and below every column. Each ones-run then starts and ends inside one column, so one pass over the
transitions gives the runs, and from them the box, the area and the RLE in the image frame (a crop's runs shift
to the image's columns and rows; no image-sized mask is built).

Counts are kept as compact unsigned arrays (4 bytes a run where a Python list costs about 40): the generator holds
the RLE of every mask that passes the filters until the box NMS, however many they are.

Shape legend: M masks, h/w crop height and width, H/W image height and width, R runs of one mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def padded_columns(count: int, crop_size: tuple[int, int]) -> np.ndarray:
    """(M, w, h + 2) bool zeros: M masks of an (h, w) crop, as columns with a zero row above and below."""
    height, width = crop_size
    return np.zeros((count, width, height + 2), dtype=bool)


@dataclass
class ColumnRuns:
    """One mask's ones-runs in its crop, in column-major order.

    Attributes:
        columns: (R,) int64 crop column of each run.
        top: (R,) int64 first row of each run.
        bottom: (R,) int64 row after the last row of each run.
    """

    columns: np.ndarray
    top: np.ndarray
    bottom: np.ndarray

    @property
    def area(self) -> int:
        return int((self.bottom - self.top).sum())

    def box(self) -> np.ndarray:
        """(4,) int64 XYXY box in the crop (inclusive right/bottom, as masks_to_boxes); zeros when empty."""
        if len(self.columns) == 0:
            return np.zeros(4, dtype=np.int64)
        return np.array([self.columns[0], self.top.min(), self.columns[-1], self.bottom.max() - 1], dtype=np.int64)

    def counts(self, crop_box: Sequence[int], image_size: tuple[int, int]) -> np.ndarray:
        """The uncompressed RLE counts of the mask placed in the image (as masks_to_rle of the uncropped mask).

        Args:
            crop_box: XYXY crop box in the image frame.
            image_size: (H, W) of the image.

        Returns:
            (2R' + 1 or 2R') unsigned counts: a zeros run first (0 when the first pixel is set), then runs
            alternating ones and zeros, the last run ending at the last pixel.
        """
        height, width = image_size
        x0, y0 = int(crop_box[0]), int(crop_box[1])
        offset = (self.columns + x0) * height + y0
        starts, stops = offset + self.top, offset + self.bottom
        touching = stops[:-1] == starts[1:]  # a run to the bottom of a full-height column goes on in the next
        if touching.any():
            starts, stops = starts[np.r_[True, ~touching]], stops[np.r_[~touching, True]]
        edges = np.empty(2 * len(starts) + 2, dtype=np.int64)
        edges[0], edges[-1] = 0, height * width
        edges[1:-1:2], edges[2:-1:2] = starts, stops
        counts = np.diff(edges)
        if len(counts) > 1 and counts[-1] == 0:
            counts = counts[:-1]
        return counts.astype(np.uint32 if height * width < 2**32 else np.int64)


def column_runs(columns: np.ndarray) -> list[ColumnRuns]:
    """The ones-runs of (M, w, h + 2) padded column masks (see :func:`padded_columns`), one ColumnRuns per mask."""
    count, width, rows = columns.shape
    runs = []
    for mask in columns.reshape(count, width * rows):
        edges = np.flatnonzero(mask[1:] != mask[:-1]) + 1  # the first pixel of each new value (2-D nonzero is slower)
        starts, stops = edges[0::2], edges[1::2]  # the zero padding: every run rises, then falls in its column
        column = starts // rows
        runs.append(ColumnRuns(columns=column, top=starts - column * rows - 1, bottom=stops - column * rows - 1))
    return runs
