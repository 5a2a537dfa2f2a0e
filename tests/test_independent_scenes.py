"""Tests of the independent scene generator (tests/independent_scenes.py) alone; no models here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tests.helpers.independent_scenes import (
    BACKGROUND_KINDS,
    FILL_KINDS,
    MIN_AREA_FRACTION,
    MIN_AREA_PIXELS,
    SHAPE_KINDS,
    IndependentScene,
    draw_scene,
    independent_scenes,
)

SEED, COUNT = 11, 100
RING = 6  # width of the background ring around an object, pixels


@dataclass
class Summary:
    """What the tests need from one scene, so that 100 scenes need not stay in memory."""

    shape: tuple[int, ...]
    dtype: np.dtype
    mask_shapes: list[tuple[int, ...]]
    mask_dtypes: list[np.dtype]
    areas: list[int]
    overlap: int  # pixels covered by more than one mask
    kinds: list[str]
    fills: list[str]
    background: str
    contrasts: list[float]  # per object with a background ring: |mean inside - mean of ring|, RGB


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """(h, w) bool -> (h, w) bool dilated by a (2 radius + 1) square, separably with shifted slices."""
    out = mask.copy()
    for axis in (0, 1):
        grown = out.copy()
        for d in range(1, radius + 1):
            lead = [slice(None)] * 2
            lag = [slice(None)] * 2
            lead[axis], lag[axis] = slice(d, None), slice(None, -d)
            grown[tuple(lead)] |= out[tuple(lag)]
            grown[tuple(lag)] |= out[tuple(lead)]
        out = grown
    return out


def _contrasts(scene: IndependentScene) -> list[float]:
    """Per object: RGB distance between its mean colour and the mean of the nearby background ring."""
    covered = np.logical_or.reduce(scene.masks)
    out = []
    for mask in scene.masks:
        ys, xs = np.nonzero(mask)
        y0, x0 = max(ys.min() - RING, 0), max(xs.min() - RING, 0)
        window = (slice(y0, ys.max() + RING + 1), slice(x0, xs.max() + RING + 1))
        ring = _dilate(mask[window], RING) & ~covered[window]
        if ring.sum() < 16:  # surrounded by other objects: no background to compare with
            continue
        image = scene.image[window].astype(np.float64)
        out.append(float(np.linalg.norm(image[mask[window]].mean(0) - image[ring].mean(0))))
    return out


def _summarize(scene: IndependentScene) -> Summary:
    return Summary(
        shape=scene.image.shape,
        dtype=scene.image.dtype,
        mask_shapes=[m.shape for m in scene.masks],
        mask_dtypes=[m.dtype for m in scene.masks],
        areas=[int(m.sum()) for m in scene.masks],
        overlap=int((np.sum(scene.masks, axis=0) > 1).sum()),
        kinds=scene.kinds,
        fills=scene.fills,
        background=scene.background,
        contrasts=_contrasts(scene),
    )


@pytest.fixture(scope="module")
def summaries() -> list[Summary]:
    return [_summarize(draw_scene((SEED, i))) for i in range(COUNT)]


def _same(a: IndependentScene, b: IndependentScene) -> bool:
    return (
        np.array_equal(a.image, b.image)
        and len(a.masks) == len(b.masks)
        and all(np.array_equal(x, y) for x, y in zip(a.masks, b.masks))
        and (a.kinds, a.fills, a.background) == (b.kinds, b.fills, b.background)
    )


def test_deterministic_for_a_seed() -> None:
    assert _same(draw_scene(5), draw_scene(5))
    assert _same(independent_scenes(3, 2)[1], draw_scene((3, 1)))


def test_differs_across_seeds() -> None:
    first, second = draw_scene(5), draw_scene(6)
    assert first.image.shape != second.image.shape or not np.array_equal(first.image, second.image)
    a, b = independent_scenes(0, 3), independent_scenes(1, 3)
    assert len({s.image.shape for s in a + b}) > 1
    assert not any(_same(x, y) for x, y in zip(a, b))


def test_masks_boolean_disjoint_and_large_enough(summaries: list[Summary]) -> None:
    for s in summaries:
        height, width = s.shape[:2]
        min_area = max(MIN_AREA_PIXELS, MIN_AREA_FRACTION * height * width)
        assert all(shape == (height, width) for shape in s.mask_shapes)
        assert all(dtype == np.bool_ for dtype in s.mask_dtypes)
        assert s.overlap == 0
        assert all(area >= min_area for area in s.areas), (s.areas, min_area)


def test_one_to_six_objects(summaries: list[Summary]) -> None:
    counts = [len(s.areas) for s in summaries]
    assert min(counts) >= 1 and max(counts) <= 6
    assert len(set(counts)) >= 4  # the count varies
    assert all(len(s.kinds) == len(s.fills) == len(s.areas) for s in summaries)


def test_image_sizes_within_bounds(summaries: list[Summary]) -> None:
    for s in summaries:
        assert s.dtype == np.uint8 and len(s.shape) == 3 and s.shape[2] == 3
        short, long = sorted(s.shape[:2])
        assert 256 <= long <= 1024
        assert 0.4 - 1 / long <= short / long <= 1.0
    assert any(s.shape[0] > s.shape[1] for s in summaries)  # portrait
    assert any(s.shape[0] < s.shape[1] for s in summaries)  # landscape
    longs = [max(s.shape[:2]) for s in summaries]
    assert min(longs) < 400 and max(longs) > 900  # the range is used, not one size


def test_every_kind_occurs(summaries: list[Summary]) -> None:
    assert {k for s in summaries for k in s.kinds} == set(SHAPE_KINDS)
    assert {f for s in summaries for f in s.fills} == set(FILL_KINDS)
    assert {s.background for s in summaries} == set(BACKGROUND_KINDS)


def test_objects_stand_out_from_the_background(summaries: list[Summary]) -> None:
    contrasts = np.array([c for s in summaries for c in s.contrasts])
    assert len(contrasts) > 150
    assert np.mean(contrasts >= 30) >= 0.95, np.sort(contrasts)[:20]
