"""sam_core.datasets: COCO, mask-folder and synthetic readers, the seeded split, and the no-framework import."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from sam_core.datasets import (
    CocoInstances,
    DatasetItem,
    FolderInstances,
    SyntheticInstances,
    TrainingDataset,
    open_dataset,
    split,
)

H, W = 37, 53  # odd, non-square


def _rect(top: int, left: int, bottom: int, right: int) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    mask[top:bottom, left:right] = True
    return mask


def _blob(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((H, W)) > 0.6


def _image(seed: int, size: tuple[int, int] = (H, W)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def _uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE of ``mask``: run lengths in column-major order, starting with the zeros run."""
    flat = mask.T.ravel()
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    return {"size": [H, W], "counts": [0, *counts] if flat[0] else counts}


@pytest.fixture
def coco_file(tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    for image_id, name in ((3, "b.png"), (1, "a.png"), (2, "empty.png")):
        PIL.Image.fromarray(_image(image_id)).save(images / name)
    compressed = mask_utils.encode(np.asfortranarray(_blob(1).astype(np.uint8)))
    compressed["counts"] = compressed["counts"].decode("ascii")
    annotations = [
        {"id": 7, "image_id": 1, "category_id": 2, "iscrowd": 0,
         "segmentation": [[4.0, 3.0, 30.0, 5.0, 20.0, 28.0], [35.0, 10.0, 50.0, 10.0, 50.0, 30.0, 35.0, 30.0]]},
        {"id": 5, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": compressed},
        {"id": 9, "image_id": 3, "category_id": 3, "iscrowd": 0, "segmentation": _uncompressed_rle(_blob(2))},
        {"id": 11, "image_id": 3, "category_id": 1, "iscrowd": 1, "segmentation": _uncompressed_rle(_blob(3))},
    ]  # fmt: skip
    data = {
        "images": [{"id": i, "file_name": n, "height": H, "width": W}
                   for i, n in ((3, "b.png"), (1, "a.png"), (2, "empty.png"))],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}, {"id": 3, "name": "three"}],
    }  # fmt: skip
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    return path, images


def test_uncompressed_rle_helper_roundtrips():
    mask = _blob(2)
    decoded = mask_utils.decode(mask_utils.frPyObjects(_uncompressed_rle(mask), H, W)).astype(bool)
    np.testing.assert_array_equal(decoded, mask)


def test_coco_masks_equal_ann_to_mask(coco_file):
    path, images = coco_file
    dataset = CocoInstances(path, images)
    oracle = COCO(str(path))
    assert isinstance(dataset, TrainingDataset)
    assert len(dataset) == 2  # image 2 has no annotations
    assert dataset.skipped == {"crowd": 1, "no_segmentation": 0, "images_without_annotations": 1}
    first, second = dataset[0], dataset[1]
    assert (first.key, second.key) == ("a.png", "b.png")  # image-id order
    np.testing.assert_array_equal(first.image, _image(1))
    np.testing.assert_array_equal(first.category_ids, [1, 2])  # annotation-id order: 5, 7
    np.testing.assert_array_equal(second.category_ids, [3])
    for item, ann_ids in ((first, [5, 7]), (second, [9])):
        expected = np.stack([oracle.annToMask(oracle.anns[a]) for a in ann_ids]).astype(bool)
        assert item.masks.dtype == bool and item.masks.shape == (len(ann_ids), H, W)
        np.testing.assert_array_equal(item.masks, expected)
    np.testing.assert_array_equal(first.masks[0], _blob(1))  # the compressed RLE's known mask
    np.testing.assert_array_equal(second.masks[0], _blob(2))  # the uncompressed RLE's known mask
    assert first.masks[1].sum() > 200  # the two polygons, merged


def test_coco_crowd_kept_and_category_filter(coco_file):
    path, images = coco_file
    with_crowd = CocoInstances(path, images, skip_crowd=False)
    assert with_crowd.skipped["crowd"] == 0
    np.testing.assert_array_equal(with_crowd[1].masks[1], _blob(3))
    only_two = CocoInstances(path, images, category_ids=[2])
    assert len(only_two) == 1 and only_two[0].key == "a.png"
    np.testing.assert_array_equal(only_two[0].category_ids, [2])


def test_coco_image_size_mismatch_names_the_file(coco_file):
    path, images = coco_file
    PIL.Image.fromarray(_image(1, (H + 1, W))).save(images / "a.png")
    with pytest.raises(ValueError, match="a.png"):
        CocoInstances(path, images)[0]


KNOWN = [_rect(2, 3, 20, 30), _rect(10, 25, 36, 50), _blob(4)]


def _folder(tmp_path, *, image: np.ndarray | None = None) -> None:
    (tmp_path / "images").mkdir()
    PIL.Image.fromarray(_image(0) if image is None else image).save(tmp_path / "images" / "scene.png")


def test_folder_per_instance_masks(tmp_path):
    _folder(tmp_path)
    (tmp_path / "images" / "unlabelled.jpg").write_bytes(b"")  # skipped: no masks
    masks = tmp_path / "masks" / "scene"
    masks.mkdir(parents=True)
    for k, mask in zip((2, 10, 1), KNOWN):  # numeric order: 1, 2, 10
        PIL.Image.fromarray(mask.astype(np.uint8) * 255).save(masks / f"{k}.png")
    dataset = FolderInstances(tmp_path)
    assert dataset.layout == "masks" and len(dataset) == 1
    assert dataset.skipped == {"images_without_masks": 1, "masks_without_image": 0}
    item = dataset[0]
    assert item.key == "scene"
    np.testing.assert_array_equal(item.image, _image(0))
    np.testing.assert_array_equal(item.masks, np.stack([KNOWN[2], KNOWN[0], KNOWN[1]]))
    np.testing.assert_array_equal(item.category_ids, [0, 0, 0])


@pytest.mark.parametrize("dtype, offset", [(np.uint8, 0), (np.uint16, 1000)])
def test_folder_instance_id_map(tmp_path, dtype, offset):
    _folder(tmp_path)
    ids = np.zeros((H, W), dtype=dtype)
    for value, mask in zip((offset + 7, offset + 3, offset + 5), KNOWN):  # later instances overwrite
        ids[mask] = value
    (tmp_path / "instances").mkdir()
    PIL.Image.fromarray(ids).save(tmp_path / "instances" / "scene.png")
    item = open_dataset(tmp_path)[0]
    expected = np.stack([ids == offset + 3, ids == offset + 5, ids == offset + 7])
    assert expected.sum() > 0 and expected.any(axis=(1, 2)).all()
    np.testing.assert_array_equal(item.masks, expected)
    np.testing.assert_array_equal(item.masks[1], KNOWN[2])  # the last drawn is whole


def test_folder_mask_size_mismatch_names_the_file(tmp_path):
    _folder(tmp_path)
    (tmp_path / "masks" / "scene").mkdir(parents=True)
    PIL.Image.fromarray(np.ones((W, H), dtype=np.uint8)).save(tmp_path / "masks" / "scene" / "0.png")
    with pytest.raises(ValueError, match=r"masks/scene/0\.png"):
        FolderInstances(tmp_path)[0]


def test_folder_both_layouts_is_an_error(tmp_path):
    _folder(tmp_path)
    (tmp_path / "masks").mkdir()
    (tmp_path / "instances").mkdir()
    with pytest.raises(ValueError, match="masks/.*instances/"):
        FolderInstances(tmp_path)


def test_folder_exif_rotated_jpeg_reads_in_display_orientation(tmp_path):
    (tmp_path / "images").mkdir()
    stored = np.zeros((20, 40, 3), dtype=np.uint8)  # stored landscape, left half bright
    stored[:, :20] = 255
    exif = PIL.Image.Exif()
    exif[0x0112] = 6  # orientation 6: display = stored rotated 90 degrees clockwise
    PIL.Image.fromarray(stored).save(tmp_path / "images" / "photo.jpg", exif=exif, quality=95)
    displayed = np.zeros((40, 20), dtype=bool)
    displayed[:20] = True  # the bright half is on top once displayed
    (tmp_path / "masks" / "photo").mkdir(parents=True)
    PIL.Image.fromarray(displayed).save(tmp_path / "masks" / "photo" / "0.png")
    item = FolderInstances(tmp_path)[0]
    assert item.image.shape == (40, 20, 3) and item.masks.shape == (1, 40, 20)
    assert item.image[:18].mean() > 240 and item.image[22:].mean() < 15
    np.testing.assert_array_equal(item.masks[0], displayed)


def test_synthetic_reproducible_and_open_dataset():
    first, again = SyntheticInstances(5, 3, long_side=(64, 96)), SyntheticInstances(5, 3, long_side=(64, 96))
    other = SyntheticInstances(6, 3, long_side=(64, 96))
    assert len(first) == 3
    for index in (2, 0):  # access order does not matter
        a, b = first[index], again[index]
        assert isinstance(a, DatasetItem) and a.key == f"5:{index}"
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.masks, b.masks)
        np.testing.assert_array_equal(a.category_ids, b.category_ids)
        assert a.masks.shape[1:] == a.image.shape[:2] and len(a.masks) >= 1 and a.masks.any(axis=(1, 2)).all()
        assert ((a.category_ids >= 1) & (a.category_ids <= 4)).all()
    assert first[0].image.shape != other[0].image.shape or not np.array_equal(first[0].image, other[0].image)
    opened = open_dataset("synthetic:5:4")
    assert isinstance(opened, SyntheticInstances) and len(opened) == 4 and opened.seed == 5
    with pytest.raises(ValueError, match="SEED:COUNT"):
        open_dataset("synthetic:5")
    with pytest.raises(IndexError):
        first[3]


def test_split_deterministic_and_disjoint():
    train, val = split(50, 0.2, seed=3)
    assert (train, val) == split(list(range(50)), 0.2, seed=3)
    assert len(val) == 10 and len(train) == 40
    assert not set(train) & set(val) and sorted(train + val) == list(range(50))
    assert split(50, 0.2, seed=4) != (train, val)
    assert split(5, 0.01, seed=0)[1] != [] and split(5, 0.0, seed=0) == ([0, 1, 2, 3, 4], [])
    with pytest.raises(ValueError):
        split(5, 1.0, seed=0)


def test_open_dataset_dispatch(coco_file, tmp_path):
    path, images = coco_file
    assert isinstance(open_dataset(path, images), CocoInstances)
    with pytest.raises(FileNotFoundError):
        open_dataset(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="images_root"):
        open_dataset("synthetic:1:2", images_root=images)


def test_import_leaves_frameworks_out():
    code = (
        "import sys, sam_core.datasets; "
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'tf_keras', 'jax') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
