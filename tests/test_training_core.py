"""The framework-neutral training core (sam_core.training): the synthetic batches are the pre-move code's, the
dataset stream's epochs and skipping, per-instance targets, corrective points against a brute-force loop, the
micro-batch split, the config checks, and the per-category mIoU against hand-computed values. Numpy only."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import sam_core
from sam_core.datasets import DatasetItem
from sam_core.evaluation import evaluate_predictions
from sam_core.processing import SamProcessor
from sam_core.synthetic import make_scene
from sam_core.training import (
    BatchSource,
    PromptMix,
    TrainConfig,
    build_batch,
    corrective_points,
    processor_for_config,
    split_arrays,
    valid_cells,
)
from tests.helpers.training import SCENE, micro_config

REFERENCE = Path(__file__).parent / "data" / "training_batches_reference.json"
DEFAULT_MODEL = Path(sam_core.__file__).parent / "data" / "default_model"
#: The prompt mix of the recorded micro batches and of the default recipe (scripts/train_default.py).
MICRO_MIX = PromptMix(multi_point_probability=0.5, negative_fraction=0.3, boxes=True, corrective_rounds=0)
RECIPE_MIX = PromptMix(multi_point_probability=0.2, negative_fraction=0.3, boxes=True, corrective_rounds=0)


def sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


# ---------------------------------------------------------------------------------------------------- synthetic stream
@pytest.mark.parametrize(
    "name, steps",
    [("micro", [0, 1, 2, 3]), ("default", [0, 1, 20, 39, 40])],
)
def test_synthetic_source_gives_the_pre_move_arrays(name, steps):
    """tests/data/training_batches_reference.json holds sam_torch.training's output before the move (micro: 2 images
    x 2 prompts at 128 px; default: the default recipe's stream, 3 images x 4 prompts at 256 px with the curriculum
    of a 100-step schedule). The arrays must be bit-identical."""
    reference = json.loads(REFERENCE.read_text())
    if name == "micro":
        source = BatchSource(0, 2, 2, processor_for_config(micro_config()), dict(SCENE), 0.0, 0, MICRO_MIX)
    else:
        source = BatchSource(0, 3, 4, SamProcessor.from_pretrained(DEFAULT_MODEL), {}, 0.2, 40, RECIPE_MIX)
    for step in steps:
        expected, arrays = reference[f"{name}/{step}"], source.arrays(step)
        for key in ("pixel_values", "targets"):
            assert list(arrays[key].shape) == expected[key]["shape"]
            assert sha256(arrays[key]) == expected[key]["sha256"], (step, key)
        for key in ("input_points", "input_labels", "input_boxes", "original_sizes", "multimask"):
            np.testing.assert_array_equal(arrays[key], np.array(expected[key]), err_msg=f"{step} {key}")
        assert arrays["input_points"].dtype == np.float32 and arrays["input_labels"].dtype == np.int64
        assert "corrective_uniforms" not in arrays
        _, rng = source(step)  # the step's Generator is where the old code left it
        assert rng.random() == expected["rng_next"]


def test_arrays_contract_with_corrective_rounds():
    mix = PromptMix(corrective_rounds=2, boxes=False)
    source = BatchSource(3, 2, 3, processor_for_config(micro_config()), dict(SCENE), prompts=mix)
    arrays = source.arrays(1)
    assert "input_boxes" not in arrays
    uniforms = arrays["corrective_uniforms"]
    assert uniforms.shape == (2, 2, 3) and uniforms.dtype == np.float32
    assert 0.0 <= uniforms.min() and uniforms.max() < 1.0
    np.testing.assert_array_equal(arrays["valid_cells"], valid_cells(arrays["reshaped_input_sizes"], 128, 32))
    # The uniforms come from the step's Generator after the prompts: the same for the same step.
    np.testing.assert_array_equal(source.arrays(1)["corrective_uniforms"], uniforms)
    assert not np.array_equal(source.arrays(2)["corrective_uniforms"][:, :1], uniforms[:, :1])


# ---------------------------------------------------------------------------------------------------- datasets
class ListDataset:
    """A TrainingDataset over a list of items that counts reads."""

    def __init__(self, items: list[DatasetItem]) -> None:
        self.items, self.reads = items, []

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> DatasetItem:
        self.reads.append(index)
        return self.items[index]


def scene_item(seed: int, key: str | None = None) -> DatasetItem:
    scene = make_scene(seed, **SCENE)
    categories = np.arange(1, len(scene.masks) + 1)
    return DatasetItem(scene.image, np.stack(scene.masks), categories, key or str(seed))


def empty_item(key: str) -> DatasetItem:
    image = np.full((40, 60, 3), 128, dtype=np.uint8)
    return DatasetItem(image, np.zeros((1, 40, 60), dtype=bool), [3], key)


def test_dataset_epochs_are_seeded_permutations_of_the_training_indices():
    items = [scene_item(seed) for seed in range(8)]
    processor = processor_for_config(micro_config())
    source = BatchSource(5, 2, 1, processor, prompts=MICRO_MIX, dataset=ListDataset(items), indices=[1, 2, 4, 6])
    assert source.steps_per_epoch() == 2
    seen = []
    for step in range(4):  # two epochs
        source.dataset.reads.clear()
        source(step)
        seen.append(list(source.dataset.reads))
    first, second = seen[0] + seen[1], seen[2] + seen[3]
    assert sorted(first) == [1, 2, 4, 6] and sorted(second) == [1, 2, 4, 6]
    assert first != second  # a new order each epoch (for this seed)
    order = np.random.default_rng([5, 7919, 0]).permutation(4)
    assert first == [[1, 2, 4, 6][i] for i in order]
    # Same seed, same stream; pixel values are those of the items read.
    again = BatchSource(5, 2, 1, processor, prompts=MICRO_MIX, dataset=ListDataset(items), indices=[1, 2, 4, 6])
    np.testing.assert_array_equal(again.arrays(3)["pixel_values"], source.arrays(3)["pixel_values"])
    expected = processor(images=[items[i].image for i in seen[3]])["pixel_values"]
    np.testing.assert_array_equal(source.arrays(3)["pixel_values"], expected)


def test_items_without_instances_are_skipped_and_none_is_an_error():
    items = [empty_item("a"), scene_item(1), empty_item("b"), scene_item(2)]
    processor = processor_for_config(micro_config())
    source = BatchSource(0, 4, 2, processor, prompts=MICRO_MIX, dataset=ListDataset(items))
    batch, _ = source(0)
    # Every slot holds a usable item (the next usable one of the stream in place of an empty one).
    assert batch.targets.reshape(4, 2, -1).sum(-1).min() > 0
    assert set(source.dataset.reads) == {0, 1, 2, 3}
    nothing = BatchSource(0, 1, 1, processor, prompts=MICRO_MIX, dataset=ListDataset([empty_item("c")]))
    with pytest.raises(ValueError, match="none of the training items"):
        nothing.arrays(0)
    with pytest.raises(ValueError, match="no training items"):
        BatchSource(0, 1, 1, processor, dataset=ListDataset(items), indices=[])


def test_overlapping_instances_keep_their_own_targets():
    """COCO instances may overlap: each target is that instance's mask through the processor's NEAREST resize."""
    image = np.random.default_rng(0).integers(0, 255, (90, 70, 3), dtype=np.uint8)
    masks = np.zeros((2, 90, 70), dtype=bool)
    masks[0, 10:60, 5:50] = True
    masks[1, 30:85, 20:65] = True  # overlaps the first
    item = DatasetItem(image, masks, [1, 2], "overlap")
    processor = processor_for_config(micro_config())
    batch = build_batch([item], processor, 2, np.random.default_rng(0))
    assert sorted(batch.objects[0]) == [0, 1]
    for p, index in enumerate(batch.objects[0]):
        labels = processor(images=image, segmentation_maps=masks[index].astype(np.uint8))["labels"][0]
        np.testing.assert_array_equal(batch.targets[0, p] > 0.5, labels == 1)
    np.testing.assert_array_equal(batch.reshaped_input_sizes, [[128, 100]])


# ---------------------------------------------------------------------------------------------------- corrective
def brute_force_corrective(targets, predicted, valid, uniforms, input_size):
    batch, prompts, frame = targets.shape[:3]
    points = np.zeros((batch, prompts, 2))
    labels = np.zeros((batch, prompts), dtype=np.int64)
    for b in range(batch):
        for p in range(prompts):
            cells = [(y, x) for y in range(frame) for x in range(frame)
                     if valid[b, y, x] and targets[b, p, y, x] != predicted[b, p, y, x]]  # fmt: skip
            error = bool(cells)
            if not error:
                cells = [(y, x) for y in range(frame) for x in range(frame) if valid[b, y, x] and targets[b, p, y, x]]
            if not cells:
                y, x = 0, 0
            else:
                y, x = cells[min(int(uniforms[b, p] * len(cells)), len(cells) - 1)]
            labels[b, p] = 0 if error and not targets[b, p, y, x] else 1
            points[b, p] = ((x + 0.5) * input_size / frame, (y + 0.5) * input_size / frame)
    return points, labels


def test_corrective_points_match_a_brute_force_loop():
    rng = np.random.default_rng(4)
    frame, input_size = 12, 48
    targets = rng.random((3, 4, frame, frame)) < 0.3
    predicted = rng.random((3, 4, frame, frame)) < 0.3
    predicted[0, 0] = targets[0, 0]  # no error: a target cell, label 1
    targets[0, 1] = predicted[0, 1] = False  # nothing at all: cell (0, 0), label 1
    predicted[1, 2] = targets[1, 2] | True  # only spills: negative points
    valid = valid_cells(np.array([[48, 30], [20, 48], [48, 48]]), input_size, frame)
    uniforms = rng.random((3, 4)).astype(np.float32)
    uniforms[2, 3] = np.float32(0.99999994)  # the largest float32 below 1
    points, labels = corrective_points(targets, predicted, valid, uniforms, input_size=input_size)
    expected_points, expected_labels = brute_force_corrective(targets, predicted, valid, uniforms, input_size)
    assert points.dtype == np.float32 and labels.dtype == np.int64
    np.testing.assert_array_equal(points, expected_points)
    np.testing.assert_array_equal(labels, expected_labels)
    assert labels[1, 2] == 0 and labels[0, 0] == 1 and tuple(points[0, 1]) == (2.0, 2.0)


def test_valid_cells_round_up_partial_cells():
    valid = valid_cells(np.array([[128, 100]]), 128, 32)
    assert valid[0].sum(0).max() == 32 and valid[0].sum(1).max() == 25  # 100 / 4 = 25 columns
    valid = valid_cells(np.array([[50, 128]]), 128, 32)
    assert valid[0].sum(1).max() == 32 and valid[0].sum(0).max() == 13  # ceil(50 / 4)


# ---------------------------------------------------------------------------------------------------- split, config
def test_split_arrays_cuts_along_the_batch():
    source = BatchSource(1, 4, 2, processor_for_config(micro_config()), dict(SCENE),
                         prompts=PromptMix(corrective_rounds=1))  # fmt: skip
    arrays = source.arrays(0)
    halves = split_arrays(arrays, 2)
    for name, value in arrays.items():
        if name == "multimask":
            assert all(h[name] == value for h in halves)
        elif name == "corrective_uniforms":
            np.testing.assert_array_equal(np.concatenate([h[name] for h in halves], axis=1), value)
        else:
            np.testing.assert_array_equal(np.concatenate([h[name] for h in halves]), value)
    with pytest.raises(ValueError, match="parts"):
        split_arrays(arrays, 3)


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(batch_size=6, grad_accum_steps=4), "multiple of grad_accum_steps"),
        (dict(grad_accum_steps=0), "grad_accum_steps"),
        (dict(autocast="fp16"), "autocast"),
        (dict(total_steps=0), "total_steps"),
    ],
)
def test_train_config_rejects_bad_values(overrides, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**overrides)


def test_train_config_round_trips_and_reads_older_checkpoints():
    config = TrainConfig(batch_size=4, grad_accum_steps=2, autocast="bf16", prompts=PromptMix(boxes=False))
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.micro_batch_size == 2
    old = config.to_dict()
    del old["grad_accum_steps"], old["autocast"]
    assert TrainConfig.from_dict(old).grad_accum_steps == 1


# ---------------------------------------------------------------------------------------------------- evaluation
def test_per_category_miou_hand_computed():
    """Two items, three objects: category 5 gets IoUs 1 and 1/2 (points), category 7 gets 0; boxes all 1/4."""
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    a = np.zeros((4, 4), dtype=bool)
    a[0:2, 0:2] = True  # 4 pixels
    b = np.zeros((4, 4), dtype=bool)
    b[2:4, 0:4] = True  # 8 pixels
    c = np.zeros((4, 4), dtype=bool)
    c[0:2, 2:4] = True
    items = [DatasetItem(image, np.stack([a, b]), [5, 7], "one"), DatasetItem(image, np.stack([c]), [5], "two")]
    half_of_c = c & (np.arange(4)[None, :] == 2)  # 2 of c's 4 pixels

    def first_quarter(mask):  # the first quarter of the mask's pixels in row-major order: IoU 1/4
        flat = mask.ravel() & (np.cumsum(mask.ravel()) <= mask.sum() // 4)
        return flat.reshape(mask.shape)

    def predict(item, points, boxes):
        by_point = np.stack([a, np.zeros_like(b)]) if len(item.masks) == 2 else half_of_c[None]
        return by_point, np.stack([first_quarter(m) for m in item.masks])

    result = evaluate_predictions(items, predict)
    np.testing.assert_array_equal(result.category_ids, [5, 7, 5])
    np.testing.assert_allclose(result.point_ious, [1.0, 0.0, 0.5])
    assert result.point_miou == pytest.approx(0.5)
    per = result.per_category()
    assert per[5]["point_miou"] == pytest.approx(0.75) and per[5]["objects"] == 2
    assert per[7]["point_miou"] == 0.0 and per[7]["objects"] == 1
    summary = result.summary()
    assert summary["objects"] == 3 and set(summary["per_category"]) == {"5", "7"}
    np.testing.assert_allclose(result.box_ious, [0.25, 0.25, 0.25])
    assert per[7]["box_miou"] == pytest.approx(0.25)
