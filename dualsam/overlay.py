"""Drawing masks and prompts over an image (numpy + pillow) for the command line's overlay.png.

Masks are filled with a translucent colour and outlined, largest first so that small masks stay visible.
Prompt markers: foreground points are green discs, background points red crosses (different shapes as well as
colours), and the box a blue rectangle; every marker has a white halo so it shows on any background.

The blend runs in bands of columns (float32 state for one band at a time); masks may be arrays or ``ColumnRle`` run
lengths, which decode one band at a time, so an overlay of many masks on a large image stays small in memory.

Shape legend: H/W image size, N points, M masks.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from PIL import Image, ImageDraw

from sam_core.amg.rle_columns import ColumnRle

#: The first colours (tab10-like); further masks get evenly spread hues.
PALETTE = np.array(
    [
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
        (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    ],
    dtype=np.uint8,
)  # fmt: skip
MASK_ALPHA = 0.5
FOREGROUND = (0, 200, 0)
BACKGROUND = (230, 0, 0)
BOX = (0, 120, 255)
HALO = (255, 255, 255)
#: Bytes of float32 blend state (H x band width x RGB) per band of columns; the overlay is blended band by band, so
#: its working memory does not grow with the image width.
BAND_BYTES = 8 * 2**20
#: An (H, W) bool array, or a mask kept as run lengths.
MaskLike = np.ndarray | ColumnRle


def mask_colors(count: int) -> np.ndarray:
    """(count, 3) uint8 colours: the palette, then golden-ratio hues."""
    extra = [
        tuple(int(255 * c) for c in colorsys.hsv_to_rgb((0.618034 * i) % 1.0, 0.75, 0.95))
        for i in range(max(0, count - len(PALETTE)))
    ]  # fmt: skip
    colors = np.concatenate([PALETTE, np.array(extra, dtype=np.uint8).reshape(-1, 3)])
    return colors[:count]


def _outline(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: mask pixels with a 4-neighbour outside the mask (or on the image border)."""
    padded = np.pad(mask, 1, constant_values=False)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~interior


def blend_masks(image: np.ndarray, masks: Iterable[MaskLike], colors: Sequence | np.ndarray | None = None,
                alpha: float = MASK_ALPHA) -> np.ndarray:  # fmt: skip
    """Colours masks over an image, in the order given (later masks on top).

    Args:
        image: (H, W, 3) uint8 RGB.
        masks: (H, W) bool masks or ``ColumnRle``; a sequence is read a band at a time, a one-shot iterable (e.g. a
            generator decoding RLEs one at a time) is kept as run lengths while it is consumed.
        colors: one RGB colour per mask (default: ``mask_colors``, assigned in order).
        alpha: opacity of the fill; outlines are opaque.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    out = np.empty(np.shape(image), dtype=np.uint8)
    for start, stop, band in blended_bands(image, masks, colors, alpha):
        out[:, start:stop] = band
    return out


def blend_image(image: np.ndarray, masks: Iterable[MaskLike], colors: Sequence | np.ndarray | None = None,
                alpha: float = MASK_ALPHA) -> Image.Image:  # fmt: skip
    """:func:`blend_masks` as an RGB PIL image, pasted band by band (no full-size array besides the image)."""
    height, width = np.shape(image)[:2]
    canvas = Image.new("RGB", (width, height))
    for start, _, band in blended_bands(image, masks, colors, alpha):
        canvas.paste(Image.fromarray(band), (start, 0))
    return canvas


def blended_bands(image: np.ndarray, masks: Iterable[MaskLike], colors: Sequence | np.ndarray | None = None,
                  alpha: float = MASK_ALPHA) -> Iterator[tuple[int, int, np.ndarray]]:  # fmt: skip
    """:func:`blend_masks` a band of columns at a time, with float32 state for one band only (BAND_BYTES).

    Every pixel goes through the same float32 operations as a whole-image blend (the outline of a band's edge
    column looks at the neighbouring band's column), so the result is the same.

    Yields:
        (start, stop, (H, stop - start, 3) uint8 RGB) for consecutive column bands.
    """
    image = np.asarray(image)
    height, width = image.shape[:2]
    items = _revisitable(masks, (height, width))
    palette = mask_colors(len(items)) if colors is None else np.asarray(colors).reshape(-1, 3)
    palette = [np.asarray(palette[index], dtype=np.float32) for index in range(len(items))]
    step = max(1, BAND_BYTES // (12 * height))
    for start in range(0, width, step):
        stop = min(start + step, width)
        low, high = max(start - 1, 0), min(stop + 1, width)  # one column more on each side, for the outlines
        kept = slice(start - low, stop - low)
        out = image[:, start:stop].astype(np.float32)
        for mask, color in zip(items, palette):
            wide = _columns(mask, low, high)
            if not wide.any():
                continue
            inside = wide[:, kept]
            out[inside] = (1.0 - alpha) * out[inside] + alpha * color
            out[_outline(wide)[:, kept]] = color
        yield start, stop, np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _revisitable(masks: Iterable[MaskLike], size: tuple[int, int]) -> list[MaskLike]:
    """The masks as a list that every band can read: as given from a sequence, as run lengths from a one-shot
    iterable (whose arrays may be decoded one at a time and must not all be kept)."""
    keep_arrays = isinstance(masks, (np.ndarray, Sequence))
    items: list[MaskLike] = []
    for index, mask in enumerate(masks):
        if not isinstance(mask, ColumnRle):
            mask = np.asarray(mask)
        if tuple(mask.shape) != tuple(size):
            raise ValueError(f"mask {index} has shape {tuple(mask.shape)}, the image {tuple(size)}")
        items.append(mask if keep_arrays or isinstance(mask, ColumnRle) else ColumnRle.from_mask(mask))
    return items


def _columns(mask: MaskLike, start: int, stop: int) -> np.ndarray:
    """(H, stop - start) bool columns of a mask."""
    if isinstance(mask, ColumnRle):
        return mask.columns(start, stop)
    return np.asarray(mask[:, start:stop], dtype=bool)


def _marker_radius(size: tuple[int, int]) -> int:
    return max(4, round(min(size) / 60))


def draw_prompts(image: np.ndarray, points: np.ndarray | None = None, labels: np.ndarray | None = None,
                 box: Sequence[float] | None = None) -> Image.Image:  # fmt: skip
    """Draws prompt markers on a copy of ``image``.

    Args:
        image: (H, W, 3) uint8 RGB.
        points: (N, 2) xy pixels.
        labels: (N,) 1 foreground, 0 background.
        box: XYXY pixels.

    Returns:
        The RGB PIL image with markers.
    """
    canvas = Image.fromarray(np.asarray(image, dtype=np.uint8))
    _draw_markers(canvas, points, labels, box)
    return canvas


def _draw_markers(canvas: Image.Image, points: np.ndarray | None, labels: np.ndarray | None,
                  box: Sequence[float] | None) -> None:  # fmt: skip
    """Draws the prompt markers of :func:`draw_prompts` onto ``canvas`` in place."""
    draw = ImageDraw.Draw(canvas)
    radius = _marker_radius(canvas.size[::-1])
    width = max(2, radius // 3)
    if box is not None:
        x0, y0, x1, y1 = (float(v) for v in box)
        draw.rectangle((x0, y0, x1, y1), outline=HALO, width=width + 2)
        draw.rectangle((x0 + 1, y0 + 1, x1 - 1, y1 - 1), outline=BOX, width=width)
    for (x, y), label in zip(np.asarray(points if points is not None else np.zeros((0, 2))).reshape(-1, 2),
                             np.asarray(labels if labels is not None else np.zeros(0)).reshape(-1)):  # fmt: skip
        if int(label) == 1:
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=FOREGROUND, outline=HALO, width=width)
        else:
            arms = ((x - radius, y - radius, x + radius, y + radius), (x - radius, y + radius, x + radius, y - radius))
            for arm in arms:
                draw.line(arm, fill=HALO, width=width + 3)
            for arm in arms:
                draw.line(arm, fill=BACKGROUND, width=width + 1)


def render_overlay(image: np.ndarray, masks: Sequence[np.ndarray], points: np.ndarray | None = None,
                   labels: np.ndarray | None = None, box: Sequence[float] | None = None) -> Image.Image:  # fmt: skip
    """Masks (largest drawn first, colour by position in ``masks``) plus prompt markers, as an RGB PIL image."""
    order = sorted(range(len(masks)), key=lambda i: -int(np.count_nonzero(masks[i])))
    colors = mask_colors(len(masks))
    canvas = blend_image(image, [masks[i] for i in order], colors[order] if order else None)
    _draw_markers(canvas, points, labels, box)
    return canvas
