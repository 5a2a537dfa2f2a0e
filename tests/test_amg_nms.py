"""Batched NMS in numpy: against a brute-force restatement of the greedy rule, and against torchvision's
batched_nms (run in .venv-meta) on random and tie-heavy inputs."""

from __future__ import annotations

import numpy as np
import pytest

from sam_core.amg import batched_nms, box_iou_one_to_many, nms
from tests.oracles.meta_runner import META_SKIP_REASON, meta_available, run_meta_functions


def _random_boxes(count: int, seed: int, size: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, size, (count, 2))
    wh = rng.integers(1, size // 2, (count, 2))
    return np.concatenate([xy, np.minimum(xy + wh, size)], axis=1).astype(np.int64)


def _greedy_reference(boxes, scores, categories, threshold):
    """The textbook greedy loop, pair by pair in float64."""
    order = sorted(range(len(boxes)), key=lambda i: (-float(np.float32(scores[i])), i))
    kept = []
    for i in order:
        ok = True
        for j in kept:
            if categories[i] != categories[j]:
                continue
            ix = max(0, min(boxes[i][2], boxes[j][2]) - max(boxes[i][0], boxes[j][0]))
            iy = max(0, min(boxes[i][3], boxes[j][3]) - max(boxes[i][1], boxes[j][1]))
            inter = ix * iy
            area_i = (boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1])
            area_j = (boxes[j][2] - boxes[j][0]) * (boxes[j][3] - boxes[j][1])
            union = area_i + area_j - inter
            if union > 0 and inter / union > threshold:
                ok = False
                break
        if ok:
            kept.append(i)
    return kept


@pytest.mark.parametrize("seed", range(4))
def test_nms_matches_greedy_definition(seed):
    boxes = _random_boxes(120, seed)
    rng = np.random.default_rng(seed + 10)
    scores = rng.choice([0.2, 0.5, 0.9], 120).astype(np.float32)  # many ties: input order breaks them
    categories = rng.integers(0, 3, 120)
    for threshold in (0.3, 0.7):
        expected = _greedy_reference(boxes, scores, categories, threshold)
        assert batched_nms(boxes, scores, categories, threshold).tolist() == expected
        single = _greedy_reference(boxes, scores, np.zeros(120), threshold)
        assert nms(boxes, scores, threshold).tolist() == single


def test_nms_edge_cases():
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []
    assert batched_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0), 0.5).tolist() == []
    # Degenerate boxes have IoU 0 with everything, so they never suppress nor get suppressed.
    boxes = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 5, 5]])
    assert nms(boxes, np.array([0.9, 0.8, 0.7]), 0.5).tolist() == [0, 1, 2]
    # IoU exactly at the threshold does not suppress (strictly greater suppresses).
    boxes = np.array([[0, 0, 10, 7], [0, 0, 10, 10]])  # IoU 70 / 100 = 0.7
    assert nms(boxes, np.array([0.9, 0.8]), 0.7).tolist() == [0, 1]
    assert nms(boxes, np.array([0.9, 0.8]), 0.69).tolist() == [0]
    assert box_iou_one_to_many(np.array([0, 0, 10, 10]), boxes).tolist() == [np.float32(0.7), 1.0]
    with pytest.raises(ValueError, match="same length"):
        nms(boxes, np.array([1.0]), 0.5)


@pytest.mark.skipif(not meta_available(), reason=META_SKIP_REASON)
def test_batched_nms_matches_torchvision(tmp_path):
    cases = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        boxes = _random_boxes(300, seed, size=1000)
        scores = (rng.integers(0, 20, 300) / 20).astype(np.float32) if seed else rng.random(300, dtype=np.float32)
        idxs = rng.integers(0, 2 if seed == 2 else 1, 300).astype(np.int64)
        cases.append((boxes, scores, idxs, 0.5 + 0.1 * seed))
    tasks = [
        ({"kind": "batched_nms", "name": f"c{i}", "iou_threshold": t}, {"boxes": b, "scores": s, "idxs": c})
        for i, (b, s, c, t) in enumerate(cases)
    ]
    reference = run_meta_functions(str(tmp_path), tasks)
    for i, (boxes, scores, idxs, threshold) in enumerate(cases):
        assert batched_nms(boxes, scores, idxs, threshold).tolist() == reference[f"c{i}/keep"].tolist()
