"""Independent synthetic scenes: a check that the default model generalizes beyond its own training data.

The shipped small SAM is trained on scenes from ``sam_core.synthetic``; its quality bar must "also hold for
scenes of the same description drawn independently of your generator". This module is that independent
generator. It was written from the issue's description only, without reading ``sam_core.synthetic``:

    "A synthetic scene generator (seeded, numpy + pillow) with each object's visible mask: 1 to 6 objects:
    ellipses, rectangles, triangles, random polygons, possibly overlapping; solid or gradient fills, over
    plain, noisy or textured backgrounds; images 256 to 1024 px on the long side, any aspect ratio."

How it works: every object is rasterized into its own small pillow "L" layer with ``ImageDraw`` primitives
(ellipses axis-aligned, then turned with ``Image.rotate`` about their centre; rectangles as rotated 4-gons;
triangles from three random points with a minimum area; random polygons as radial polygons with sorted angles
or as convex hulls of random points). Objects whose visible remainder would be too small are removed *before*
painting, then the survivors are painted in z-order, so each mask is exactly what is visible of its object.
Fills are solid, linear or radial gradients, chosen to contrast with what lies under the object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SHAPE_KINDS = ("ellipse", "rectangle", "triangle", "polygon")
FILL_KINDS = ("solid", "linear", "radial")
BACKGROUND_KINDS = ("plain", "noise", "value_noise", "rings", "hatch", "dots", "gradient")
MIN_LONG, MAX_LONG = 256, 1024  # long side of the image, pixels
MIN_ASPECT = 0.4  # short side / long side
MIN_EXTENT, MAX_EXTENT = 0.06, 0.40  # radius-like object extent, fraction of the short side
MIN_AREA_FRACTION, MIN_AREA_PIXELS = 0.002, 64  # smallest visible area an object may keep
MIN_CONTRAST = 45.0  # least RGB distance of every fill colour from the mean colour under the object

_BILINEAR = Image.Resampling.BILINEAR
_BICUBIC = Image.Resampling.BICUBIC


@dataclass
class IndependentScene:
    """One scene and the visible mask of each of its objects.

    Attributes
    ----------
    image : np.ndarray
        (H, W, 3) uint8 RGB image.
    masks : list[np.ndarray]
        O (H, W) bool visible masks, bottom to top; pairwise disjoint, none empty, 1 <= O <= 6.
    kinds : list[str]
        O shape kinds, one of ``SHAPE_KINDS`` each.
    fills : list[str]
        O fill kinds, one of ``FILL_KINDS`` each.
    background : str
        The background kind, one of ``BACKGROUND_KINDS``.
    """

    image: np.ndarray
    masks: list[np.ndarray]
    kinds: list[str]
    fills: list[str]
    background: str


@dataclass
class _Layer:
    """One object's footprint: a (h, w) bool ``crop`` whose top-left pixel is (y0, x0) of the image."""

    y0: int
    x0: int
    crop: np.ndarray
    kind: str

    def window(self) -> tuple[slice, slice]:
        h, w = self.crop.shape
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)


def draw_scene(seed: int | Sequence[int]) -> IndependentScene:
    """Draw one scene, deterministically for ``seed`` (anything ``np.random.default_rng`` takes)."""
    rng = np.random.default_rng(list(seed) if isinstance(seed, Sequence) else seed)
    height, width = _image_size(rng)
    while True:  # redraw until at least one object stays visible enough
        background, background_kind = _background(rng, height, width)
        layers = [_shape_layer(rng, SHAPE_KINDS[rng.integers(len(SHAPE_KINDS))], height, width)
                  for _ in range(int(rng.integers(1, 7)))]
        layers, owner = _survivors(layers, height, width)
        if layers:
            break
    image, fills = _paint(rng, background, layers)
    return IndependentScene(
        image=np.clip(np.rint(image), 0, 255).astype(np.uint8),
        masks=[owner == i for i in range(len(layers))],
        kinds=[layer.kind for layer in layers],
        fills=fills,
        background=background_kind,
    )


def independent_scenes(seed: int, count: int) -> list[IndependentScene]:
    """Draw ``count`` scenes; scene i is ``draw_scene((seed, i))``."""
    return [draw_scene((seed, i)) for i in range(count)]


# ----------------------------------------------------------------------------------------------- geometry


def _image_size(rng: np.random.Generator) -> tuple[int, int]:
    """(H, W): long side uniform in [256, 1024], short/long uniform in [0.4, 1], landscape or portrait."""
    long = int(rng.integers(MIN_LONG, MAX_LONG + 1))
    short = max(int(round(long * rng.uniform(MIN_ASPECT, 1.0))), 1)
    return (long, short) if rng.random() < 0.5 else (short, long)


def _shape_layer(rng: np.random.Generator, kind: str, height: int, width: int) -> _Layer:
    """Rasterize one object of ``kind`` with its centre inside the image."""
    radius = rng.uniform(MIN_EXTENT, MAX_EXTENT) * min(height, width)
    centre = np.array([rng.uniform(0, width), rng.uniform(0, height)])  # (x, y)
    if kind == "ellipse":
        return _ellipse_layer(rng, radius, centre, height, width)
    vertices = {"rectangle": _rectangle, "triangle": _triangle, "polygon": _polygon}[kind](rng, radius)
    return _polygon_layer(vertices + centre, height, width, kind)


def _ellipse_layer(rng: np.random.Generator, radius: float, centre: np.ndarray, height: int,
                   width: int) -> _Layer:
    """An axis-aligned ellipse drawn on a square patch, rotated about the patch centre, then clipped."""
    a, b = radius, radius * rng.uniform(0.35, 1.0)
    side = 2 * int(np.ceil(a)) + 3
    c = side / 2
    patch = Image.new("L", (side, side), 0)
    ImageDraw.Draw(patch).ellipse([c - a, c - b, c + a, c + b], fill=255)
    patch = patch.rotate(rng.uniform(0, 180), resample=_BILINEAR, center=(c, c))
    top, left = int(round(centre[1] - c)), int(round(centre[0] - c))
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + side, height), min(left + side, width)
    crop = np.asarray(patch)[y0 - top : y1 - top, x0 - left : x1 - left] >= 128
    return _Layer(y0, x0, crop, "ellipse")


def _polygon_layer(vertices: np.ndarray, height: int, width: int, kind: str) -> _Layer:
    """Fill the (K, 2) xy polygon ``vertices`` on a layer the size of its bounding box within the image."""
    x0, y0 = (max(int(np.floor(v)), 0) for v in vertices.min(axis=0))
    x1 = min(int(np.ceil(vertices[:, 0].max())) + 1, width)
    y1 = min(int(np.ceil(vertices[:, 1].max())) + 1, height)
    layer = Image.new("L", (max(x1 - x0, 1), max(y1 - y0, 1)), 0)
    ImageDraw.Draw(layer).polygon([tuple(p) for p in (vertices - (x0, y0)).tolist()], fill=255)
    return _Layer(y0, x0, np.asarray(layer)[: y1 - y0, : x1 - x0] > 0, kind)


def _rectangle(rng: np.random.Generator, radius: float) -> np.ndarray:
    """(4, 2) corners of a rectangle with half-diagonal ``radius``, turned by a random angle."""
    beta, angle = rng.uniform(0.25, np.pi / 4), rng.uniform(0, np.pi)
    half = radius * np.array([np.cos(beta), np.sin(beta)])
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return corners @ rotation.T


def _triangle(rng: np.random.Generator, radius: float) -> np.ndarray:
    """(3, 2) random points within ``radius`` of the centre, spanning at least 0.25 radius**2."""
    for _ in range(32):
        points = _polar(rng.uniform(0, 2 * np.pi, 3), radius * rng.uniform(0.5, 1.0, 3))
        if _area(points) >= 0.25 * radius**2:
            return points
    return _polar(rng.uniform(0, 2 * np.pi) + np.arange(3) * 2 * np.pi / 3, np.full(3, radius))


def _polygon(rng: np.random.Generator, radius: float) -> np.ndarray:
    """(K, 2) random polygon: radial (sorted angles, random radii) or convex hull of random points."""
    for _ in range(32):
        if rng.random() < 0.5:
            k = int(rng.integers(5, 12))
            points = _polar(np.sort(rng.uniform(0, 2 * np.pi, k)), radius * rng.uniform(0.4, 1.0, k))
        else:
            k = int(rng.integers(6, 14))
            points = _convex_hull(_polar(rng.uniform(0, 2 * np.pi, k), radius * np.sqrt(rng.uniform(0, 1, k))))
        if len(points) >= 3 and _area(points) >= 0.3 * radius**2:
            return points
    return _polar(np.arange(6) * np.pi / 3, np.full(6, radius))


def _polar(angles: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """(K,) angles and radii -> (K, 2) xy points."""
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _area(points: np.ndarray) -> float:
    """Shoelace area of the (K, 2) polygon."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """(K, 2) points -> (M, 2) counter-clockwise convex hull (Andrew's monotone chain)."""
    ordered = sorted(map(tuple, points.tolist()))

    def chain(seq: list[tuple[float, float]]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for p in seq:
            while len(out) >= 2 and ((out[-1][0] - out[-2][0]) * (p[1] - out[-2][1])
                                     - (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0])) <= 0:
                out.pop()
            out.append(p)
        return out[:-1]

    return np.array(chain(ordered) + chain(ordered[::-1]), dtype=np.float64).reshape(-1, 2)


def _survivors(layers: list[_Layer], height: int, width: int) -> tuple[list[_Layer], np.ndarray]:
    """Drop objects whose visible area is too small, until none is.

    Returns the kept layers (z-order kept) and the (H, W) int8 owner map: the index of the topmost kept
    object at each pixel, -1 for background.
    """
    min_area = max(MIN_AREA_PIXELS, MIN_AREA_FRACTION * height * width)
    while True:
        owner = np.full((height, width), -1, np.int8)
        for i, layer in enumerate(layers):
            owner[layer.window()][layer.crop] = i
        areas = np.bincount(owner.ravel().astype(np.intp) + 1, minlength=len(layers) + 1)[1:]
        keep = areas >= min_area
        if keep.all():
            return layers, owner
        layers = [layer for layer, k in zip(layers, keep) if k]


# -------------------------------------------------------------------------------------------- appearance


def _background(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, str]:
    """A (H, W, 3) float32 background in 0..255 and its kind."""
    kind = BACKGROUND_KINDS[rng.integers(len(BACKGROUND_KINDS))]
    base = rng.uniform(0, 255, 3).astype(np.float32)
    other = _shifted_colour(rng, base, 50, 140)
    if kind == "plain":
        image = np.broadcast_to(base, (height, width, 3))
    elif kind == "noise":
        image = base + rng.uniform(6, 28) * rng.standard_normal((height, width, 3), dtype=np.float32)
    elif kind == "value_noise":
        image = _value_noise(rng, base, height, width)
    elif kind == "rings":
        cx, cy = rng.uniform(-0.25, 1.25) * width, rng.uniform(-0.25, 1.25) * height
        period = rng.uniform(0.02, 0.12) * max(height, width)
        yy = (np.arange(height, dtype=np.float32)[:, None] - cy) ** 2
        xx = (np.arange(width, dtype=np.float32)[None, :] - cx) ** 2
        t = 0.5 + 0.5 * np.sin(np.sqrt(yy + xx) * np.float32(2 * np.pi / period))
        image = base + t[..., None] * (other - base)
    elif kind == "gradient":
        vertical = rng.random() < 0.5
        t = np.linspace(0, 1, height if vertical else width, dtype=np.float32)
        t = t[:, None, None] if vertical else t[None, :, None]
        image = np.broadcast_to(base + t * (other - base), (height, width, 3))
    else:  # "hatch" or "dots": pillow drawing on a plain canvas
        canvas = Image.new("RGB", (width, height), tuple(int(v) for v in base))
        (_hatch if kind == "hatch" else _dots)(rng, ImageDraw.Draw(canvas), other, height, width)
        image = np.asarray(canvas)
    return np.clip(image, 0, 255).astype(np.float32), kind


def _value_noise(rng: np.random.Generator, base: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, 3) value noise: 2 octaves of small random colour grids around ``base``, upsampled by pillow."""
    cells, spread = int(rng.integers(2, 6)), rng.uniform(40, 100)
    out = np.zeros((height, width, 3), np.float32)
    for octave, weight, resample in ((0, 2 / 3, _BICUBIC), (1, 1 / 3, _BILINEAR)):
        n = cells * 2**octave
        gh, gw = max(2, round(n * height / max(height, width))), max(2, round(n * width / max(height, width)))
        grid = np.clip(base + rng.uniform(-spread, spread, (gh, gw, 3)), 0, 255).astype(np.uint8)
        out += weight * np.asarray(Image.fromarray(grid).resize((width, height), resample), np.float32)
    return out


def _hatch(rng: np.random.Generator, draw: ImageDraw.ImageDraw, colour: np.ndarray, height: int,
           width: int) -> None:
    """Diagonal hatch lines (one direction, or crossed) in ``colour``."""
    spacing = rng.uniform(6, 28)
    line_width = int(rng.integers(1, max(2, int(spacing / 2))))
    fill = tuple(int(v) for v in colour)
    directions = [1, -1] if rng.random() < 0.3 else [int(rng.choice([1, -1]))]
    for sign in directions:  # lines x + sign * y = k
        for k in np.arange(-height, width + height, spacing):
            draw.line([(k, 0), (k - sign * height, height)], fill=fill, width=line_width)


def _dots(rng: np.random.Generator, draw: ImageDraw.ImageDraw, colour: np.ndarray, height: int,
          width: int) -> None:
    """Random speckles: small discs around ``colour`` scattered over the image."""
    count = int(height * width / rng.uniform(300, 1500))
    xs, ys = rng.uniform(0, width, count).tolist(), rng.uniform(0, height, count).tolist()
    radii = rng.uniform(0.8, 4.0, count).tolist()
    colours = np.clip(colour + rng.uniform(-30, 30, (count, 3)), 0, 255).astype(int).tolist()
    for x, y, r, c in zip(xs, ys, radii, colours):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(c))


def _paint(rng: np.random.Generator, background: np.ndarray,
           layers: list[_Layer]) -> tuple[np.ndarray, list[str]]:
    """Paint the layers bottom to top over the (H, W, 3) float32 ``background``; returns image and fills."""
    image, fills = background.copy(), []
    for layer in layers:
        window = layer.window()
        region = image[window]  # a view: writes go into ``image``
        refs = [region[layer.crop].mean(axis=0), background[window][layer.crop].mean(axis=0)]
        colours, fill = _fill(rng, refs, layer.crop.shape)
        region[layer.crop] = colours[layer.crop]
        fills.append(fill)
    return image, fills


def _fill(rng: np.random.Generator, refs: list[np.ndarray],
          shape: tuple[int, int]) -> tuple[np.ndarray, str]:
    """(h, w, 3) fill colours contrasting with every colour in ``refs``, and the fill kind."""
    kind = FILL_KINDS[rng.integers(len(FILL_KINDS))]
    first = _contrasting_colour(rng, refs)
    second = None if kind == "solid" else _gradient_partner(rng, first, refs)
    if second is None:
        return np.broadcast_to(first.astype(np.float32), (*shape, 3)), "solid"
    h, w = shape
    yy, xx = np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]
    if kind == "linear":
        phi = rng.uniform(0, 2 * np.pi)
        t = xx * np.float32(np.cos(phi)) + yy * np.float32(np.sin(phi))
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    else:
        fy, fx = rng.uniform(0, h), rng.uniform(0, w)
        t = np.sqrt((yy - fy) ** 2 + (xx - fx) ** 2)
        t = t / max(float(t.max()), 1e-6)
    return first.astype(np.float32) + t[..., None] * (second - first).astype(np.float32), kind


def _contrasting_colour(rng: np.random.Generator, refs: list[np.ndarray]) -> np.ndarray:
    """A random RGB colour at least MIN_CONTRAST + 25 from every reference colour."""
    for _ in range(32):
        colour = rng.uniform(0, 255, 3)
        if all(np.linalg.norm(colour - ref) >= MIN_CONTRAST + 25 for ref in refs):
            return colour
    ref = refs[0]
    return np.where(ref < 128, rng.uniform(200, 255, 3), rng.uniform(0, 55, 3))


def _gradient_partner(rng: np.random.Generator, first: np.ndarray, refs: list[np.ndarray]) -> np.ndarray | None:
    """A second gradient colour such that the whole segment first..second keeps MIN_CONTRAST from refs."""
    for _ in range(32):
        second = _shifted_colour(rng, first, 40, 160)
        if all(_segment_distance(ref, first, second) >= MIN_CONTRAST for ref in refs):
            return second
    return None


def _shifted_colour(rng: np.random.Generator, colour: np.ndarray, low: float, high: float) -> np.ndarray:
    """``colour`` moved by a random RGB offset whose length is in [low, high] (before clipping to 0..255)."""
    direction = rng.standard_normal(3)
    direction /= max(float(np.linalg.norm(direction)), 1e-9)
    return np.clip(colour + rng.uniform(low, high) * direction, 0, 255).astype(np.float32)


def _segment_distance(point: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance from ``point`` to the segment a..b (all (3,))."""
    ab = b - a
    t = float(np.clip(np.dot(point - a, ab) / max(float(np.dot(ab, ab)), 1e-9), 0.0, 1.0))
    return float(np.linalg.norm(a + t * ab - point))
