"""Drawing masks and prompts over an image (numpy + pillow) for the command line's overlay.png.

Masks are filled with a translucent colour and outlined, largest first so that small masks stay visible.
Prompt markers: foreground points are green discs, background points red crosses (different shapes as well as
colours), and the box a blue rectangle; every marker has a white halo so it shows on any background.

Shape legend: H/W image size, N points, M masks.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw

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


def blend_masks(image: np.ndarray, masks: Iterable[np.ndarray], colors: Sequence | np.ndarray | None = None,
                alpha: float = MASK_ALPHA) -> np.ndarray:  # fmt: skip
    """Colours masks over an image, in the order given (later masks on top).

    Args:
        image: (H, W, 3) uint8 RGB.
        masks: (H, W) bool masks (any iterable, e.g. a generator decoding RLEs one at a time).
        colors: one RGB colour per mask (default: ``mask_colors``, assigned in order).
        alpha: opacity of the fill; outlines are opaque.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    out = np.asarray(image, dtype=np.float32).copy()
    palette = None if colors is None else np.asarray(colors, dtype=np.float32).reshape(-1, 3)
    for index, mask in enumerate(masks):
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != out.shape[:2]:
            raise ValueError(f"mask {index} has shape {mask.shape}, the image {out.shape[:2]}")
        color = palette[index] if palette is not None else mask_colors(index + 1)[index].astype(np.float32)
        out[mask] = (1.0 - alpha) * out[mask] + alpha * color
        out[_outline(mask)] = color
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


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
    return canvas


def render_overlay(image: np.ndarray, masks: Sequence[np.ndarray], points: np.ndarray | None = None,
                   labels: np.ndarray | None = None, box: Sequence[float] | None = None) -> Image.Image:  # fmt: skip
    """Masks (largest drawn first, colour by position in ``masks``) plus prompt markers, as an RGB PIL image."""
    order = sorted(range(len(masks)), key=lambda i: -int(np.count_nonzero(masks[i])))
    colors = mask_colors(len(masks))
    blended = blend_masks(image, (masks[i] for i in order), colors[order] if order else None)
    return draw_prompts(blended, points, labels, box)
