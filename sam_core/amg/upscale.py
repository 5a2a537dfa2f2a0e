"""Upscaling low-resolution mask logits to the original image, as one separable linear map.

SAM's post-processing is: bilinear (align_corners=False) from the low-res grid (256) to the padded input
square (1024), crop to the resized image (h, w), then bilinear to the original size (H, W). Every step is
linear and separable, so the whole chain is one (H, 256) matrix applied to the rows and one (W, 256) matrix
applied to the columns. Each output row draws on at most a few neighbouring low-res rows, so the row map is
stored as a start index plus a short run of weights ("taps") and applied with gathers; the column map, which
produces the full-size output, is a dense matmul (BLAS is faster there than gathers, and the extra terms
are exact zeros). ``binarize`` and ``chunks`` produce the full-size output in pieces of bounded size, so that only
bool masks are ever held at full size.

Shape legend: L low-res side (256), S padded input side (1024), h/w resized size, H/W output size,
T taps per output pixel, M masks.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import numpy as np

from ..image_transforms import bilinear_matrix


def _composed_matrix(low_res_size: int, padded_size: int, kept: int, out_size: int) -> np.ndarray:
    """(out_size, low_res_size): resize low-res -> padded, keep the first ``kept``, resize kept -> out_size."""
    return bilinear_matrix(kept, out_size) @ bilinear_matrix(low_res_size, padded_size)[:kept]


def _to_taps(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Banded (out, in) matrix -> (start (out,) int64, weights (out, T) float32) with T the widest band."""
    nonzero = matrix != 0
    first = np.argmax(nonzero, axis=1)
    last = matrix.shape[1] - 1 - np.argmax(nonzero[:, ::-1], axis=1)
    width = int((last - first).max()) + 1
    start = np.minimum(first, matrix.shape[1] - width)
    columns = start[:, None] + np.arange(width)[None, :]
    weights = np.take_along_axis(matrix, columns, axis=1)
    return start.astype(np.int64), weights.astype(np.float32)


#: Relative float32 slack of the upscaled values, used to keep count_bounds safe.
ROUNDING_MARGIN = 1e-5
#: The most bytes of full-size float32 logits that MaskUpscaler.chunks produces at once. A mask that fits (up to
#: 2048 x 2048 pixels) is one matmul as in ``__call__``; a larger one is cut into row bands, and BLAS then rounds
#: some products differently (its result depends on the matrix shapes and thread split), so a pixel whose logit
#: is within float32 rounding of the threshold may flip, as it may between machines.
CHUNK_BYTES = 16 * 2**20
#: The fewest rows of a chunk (a one-row product would run as a BLAS matrix-vector product).
MIN_CHUNK_ROWS = 16
#: About the fewest floating-point operations of one block product of MaskUpscaler.column_chunks (narrower blocks skip
#: more zeros of the column map, but each product starts BLAS's threads).
MIN_BLOCK_FLOPS = 2**26
#: The same for :meth:`MaskUpscaler.binarize` (a click's few masks): narrower blocks, more of the zeros skipped.
BINARIZE_BLOCK_FLOPS = 2**22


class MaskUpscaler:
    """Maps (..., L, L) low-res logits to (..., H, W) logits at the original image size.

    Args:
        input_size: (h, w), the resized image inside the padded square.
        original_size: (H, W), the output size.
        padded_size: S, the model's input side (1024).
        low_res_size: L, the mask decoder's output side (256).
    """

    def __init__(
        self,
        input_size: tuple[int, int],
        original_size: tuple[int, int],
        *,
        padded_size: int = 1024,
        low_res_size: int = 256,
    ) -> None:
        self.input_size = tuple(int(s) for s in input_size)
        self.original_size = tuple(int(s) for s in original_size)
        self.low_res_size = int(low_res_size)
        rows = _composed_matrix(low_res_size, padded_size, self.input_size[0], self.original_size[0])
        cols = _composed_matrix(low_res_size, padded_size, self.input_size[1], self.original_size[1])
        self._row_start, self._row_weights = _to_taps(rows)
        self._col_matrix_t = np.ascontiguousarray(cols.T.astype(np.float32))  # (L, W)
        col_start, col_weights = _to_taps(cols)
        # For count bounds: how many output rows / columns read each window of low-res rows / columns.
        self._row_window, self._col_window = self._row_weights.shape[1], col_weights.shape[1]
        rows_per_start = np.bincount(self._row_start, minlength=low_res_size)
        cols_per_start = np.bincount(col_start, minlength=low_res_size)
        self._rows_per_start = rows_per_start[: low_res_size - self._row_window + 1]
        self._cols_per_start = cols_per_start[: low_res_size - self._col_window + 1]
        self._blocks: dict[int, list[tuple[slice, slice, np.ndarray]]] = {}  # column_chunks' blocks, by width

    def _check(self, logits: np.ndarray) -> np.ndarray:
        logits = np.asarray(logits, dtype=np.float32)
        if logits.shape[-2:] != (self.low_res_size, self.low_res_size):
            raise ValueError(
                f"expected low-res logits of shape (..., {self.low_res_size}, {self.low_res_size}), got {logits.shape}"
            )
        return logits

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        """Upscales (..., L, L) logits to (..., H, W) float32."""
        logits = self._check(logits)
        rows = _apply_taps(logits, self._row_start, self._row_weights, axis=-2)  # (..., H, L)
        return np.matmul(rows, self._col_matrix_t)

    def chunks(self, logits: np.ndarray) -> Iterator[tuple[slice, slice, np.ndarray]]:
        """Upscales (M, L, L) logits piece by piece, each piece at most about CHUNK_BYTES of float32.

        A piece is a group of whole masks when one mask fits (then its values are bit-identical to ``self(logits)``:
        the same taps and the same matmul per mask), else a band of rows of one mask (equal bands of at least
        MIN_CHUNK_ROWS / 2 rows, so that the product stays a matrix-matrix one; see CHUNK_BYTES on rounding).

        Yields:
            (masks, rows, values): slices into (M, H) and the (m, r, W) float32 upscaled logits there.
        """
        logits = self._check(logits)
        if logits.ndim != 3:
            raise ValueError(f"expected (M, L, L) low-res logits, got shape {logits.shape}")
        count, (height, width) = len(logits), self.original_size
        rows = min(height, max(MIN_CHUNK_ROWS, CHUNK_BYTES // (4 * width)))
        bands = -(-height // rows)
        rows = -(-height // bands)  # equal bands: no thin last band
        if bands == 1:
            per_group = max(1, CHUNK_BYTES // (4 * height * width))
            for first in range(0, count, per_group):
                masks = slice(first, min(first + per_group, count))
                yield masks, slice(0, height), self(logits[masks])
            return
        for index in range(count):
            for top in range(0, height, rows):
                band = slice(top, min(top + rows, height))
                taps = _apply_taps(logits[index : index + 1], self._row_start[band], self._row_weights[band], axis=-2)
                yield slice(index, index + 1), band, np.matmul(taps, self._col_matrix_t)

    def column_chunks(
        self, logits: np.ndarray, block_flops: int = MIN_BLOCK_FLOPS
    ) -> Iterator[tuple[slice, slice, np.ndarray]]:
        """The upscaled logits transposed, piece by piece: (M, W, H) values whose rows are the masks' columns (the
        column-major order of RLE, with no transposing copy).

        Masks go in groups whose row pass ((m, H, L) float32) fits CHUNK_BYTES. A group's output columns go in
        blocks, each one BLAS product (c, l) @ (l, m H) over the l low-res columns that the block's c columns draw
        on (the column map is banded: the other terms are exact zeros), so a mask costs a fraction of the dense
        product of ``__call__``. Blocks are wide enough that a product has about ``block_flops`` (BLAS starts its
        threads on every call: many small products stall on a busy machine) and small enough that its output fits
        CHUNK_BYTES. The sums are BLAS's over the same non-zero products, so values agree with ``__call__`` up to
        float32 rounding (a few ulps; a pixel within that of a threshold may flip).

        Yields:
            (masks, columns, values): slices into (M, W) and the (m, c, H) float32 values there, with
            ``values[k, j, i]`` the upscaled logit of mask ``masks.start + k`` at row i, column ``columns.start + j``.
        """
        logits = self._check(logits)
        if logits.ndim != 3:
            raise ValueError(f"expected (M, L, L) low-res logits, got shape {logits.shape}")
        count, (height, _), side = len(logits), self.original_size, self.low_res_size
        per_group = max(1, CHUNK_BYTES // (4 * height * side))
        for first in range(0, count, per_group):
            masks = slice(first, min(first + per_group, count))
            group = masks.stop - masks.start
            rows = _apply_taps(logits[masks], self._row_start, self._row_weights, axis=-2)  # (m, H, L)
            rows = rows.reshape(group * height, side)
            for columns, low, matrix in self._column_blocks(group * height, block_flops):
                values = np.matmul(matrix, rows[:, low].T)  # (c, l) @ (l, m H)
                yield masks, columns, values.reshape(len(matrix), group, height).transpose(1, 0, 2)

    def _column_blocks(self, length: int, block_flops: int) -> list[tuple[slice, slice, np.ndarray]]:
        """(output columns, low-res columns they draw on, (c, l) float32 block of the column map) per block, for
        products with ``length`` (m H) columns."""
        width, side = self.original_size[1], self.low_res_size
        wide = math.sqrt(block_flops * width / (2 * length * side))  # c * (c L / W) * length * 2 = block_flops
        size = int(min(width, max(MIN_CHUNK_ROWS, min(wide, CHUNK_BYTES // (4 * length)))))
        if size not in self._blocks:
            col_matrix = self._col_matrix_t.T  # (W, L)
            blocks = []
            for left in range(0, width, size):
                columns = slice(left, min(left + size, width))
                used = np.flatnonzero(col_matrix[columns].any(axis=0))
                low = slice(int(used[0]), int(used[-1]) + 1) if len(used) else slice(0, 1)
                blocks.append((columns, low, np.ascontiguousarray(col_matrix[columns, low])))
            self._blocks[size] = blocks
        return self._blocks[size]

    def binarize(self, logits: np.ndarray, threshold: float) -> np.ndarray:
        """``self(logits) > threshold`` as (..., H, W) bool, without ever holding the full float32 logits.

        The values come from :meth:`column_chunks` (banded products: a few low-res columns per output column, not
        all L; or :meth:`chunks`' row bands for an image so tall that one mask's row pass exceeds CHUNK_BYTES), so
        they equal ``self(logits)`` up to float32 rounding and a pixel within that of the threshold may flip. The
        result is a transposed view: each (H, W) mask is Fortran-ordered, column by column, the order of COCO RLE
        (pycocotools encodes it without a copy).
        """
        logits = self._check(logits)
        flat = logits.reshape(-1, *logits.shape[-2:])
        height, width = self.original_size
        out = np.empty((len(flat), width, height), dtype=bool)
        by_rows = out.transpose(0, 2, 1)  # (M, H, W) view
        if 4 * height * self.low_res_size <= CHUNK_BYTES:
            for masks, columns, values in self.column_chunks(flat, block_flops=BINARIZE_BLOCK_FLOPS):
                np.greater(values, threshold, out=out[masks, columns])
        else:  # one mask's row pass alone would exceed CHUNK_BYTES: bands of rows keep the pieces bounded
            for masks, rows, values in self.chunks(flat):
                np.greater(values, threshold, out=by_rows[masks, rows])
        return by_rows.reshape(*logits.shape[:-2], height, width)

    def count_bounds(self, logits: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """Bounds on the number of upscaled pixels above ``threshold``, without upscaling.

        Every output pixel is a convex combination of a small window of low-res cells, so it lies between the
        window's min and max: pixels whose window min is above the threshold are surely above, pixels whose
        window max is not above it surely are not. A margin covers float32 rounding, keeping the bounds safe.

        Args:
            logits: (M, L, L) low-res logits.
            threshold: the logit threshold.

        Returns:
            (lower, upper): (M,) int64 counts with lower <= |upscaled > threshold| <= upper.
        """
        logits = np.asarray(logits, dtype=np.float32)
        low, high = _window_extremes(logits, self._row_window, self._col_window)
        margin = ROUNDING_MARGIN * np.maximum(1.0, np.abs(logits).max(axis=(-2, -1), initial=0.0))[:, None, None]
        rows, cols = self._rows_per_start, self._cols_per_start
        lower = np.einsum("r,mrc,c->m", rows, (low > threshold + margin).astype(np.int64), cols)
        upper = np.einsum("r,mrc,c->m", rows, (high > threshold - margin).astype(np.int64), cols)
        return lower, upper


def _window_extremes(values: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of (..., L, L) over every rows x cols window: (..., L-rows+1, L-cols+1) each."""
    low = high = values
    for axis, size in ((-2, rows), (-1, cols)):
        length = low.shape[axis] - size + 1
        window = [np.take(low, np.arange(t, t + length), axis=axis) for t in range(size)]
        low = np.minimum.reduce(window)
        window = [np.take(high, np.arange(t, t + length), axis=axis) for t in range(size)]
        high = np.maximum.reduce(window)
    return low, high


def _apply_taps(values: np.ndarray, start: np.ndarray, weights: np.ndarray, axis: int) -> np.ndarray:
    """out[..., i, ...] = sum_t weights[i, t] * values[..., start[i] + t, ...] along ``axis``."""
    shape = [1] * values.ndim
    shape[axis] = len(start)
    out = None
    for tap in range(weights.shape[1]):
        term = np.take(values, start + tap, axis=axis)
        term *= weights[:, tap].reshape(shape)
        out = term if out is None else np.add(out, term, out=out)
    return out


@functools.lru_cache(maxsize=32)
def cached_upscaler(
    input_size: tuple[int, int], original_size: tuple[int, int], padded_size: int, low_res_size: int
) -> MaskUpscaler:
    """A shared MaskUpscaler per geometry (crops of one layer share theirs)."""
    return MaskUpscaler(input_size, original_size, padded_size=padded_size, low_res_size=low_res_size)
