"""The fine-tuning demo's data (sam_core.datasets.demo) and its writers: reproducible items, a COCO file whose masks
pycocotools decodes to the items' masks, and both folder layouts reading back pycocotools' decoding."""

from __future__ import annotations

import numpy as np
import PIL.Image
from pycocotools.coco import COCO

from sam_core.datasets import CocoInstances, FolderInstances, open_dataset
from sam_core.datasets.demo import DEMO_CATEGORIES, DemoShapes, write_coco, write_masks_folder

DATA = DemoShapes(7, 4, long_side=(48, 80))


def test_demo_items_are_reproducible_and_well_formed():
    again = DemoShapes(7, 4, long_side=(48, 80))
    for index in range(len(DATA)):
        item, other = DATA[index], again[index]
        np.testing.assert_array_equal(item.image, other.image)
        np.testing.assert_array_equal(item.masks, other.masks)
        assert 48 <= max(item.image.shape[:2]) <= 80
        assert set(item.category_ids.tolist()) <= set(DEMO_CATEGORIES)
        assert (item.masks.sum(axis=(1, 2)) >= 80).all()
        assert item.masks.sum(axis=0).max() <= 1  # visible parts: disjoint
    assert not np.array_equal(DATA[0].image, DemoShapes(8, 1, long_side=(48, 80))[0].image)


def test_coco_writer_round_trips_through_pycocotools(tmp_path):
    path = write_coco(DATA, tmp_path / "coco")
    oracle = COCO(str(path))
    dataset = open_dataset(path)
    assert isinstance(dataset, CocoInstances) and dataset.categories == DEMO_CATEGORIES
    for index in range(len(DATA)):
        item = dataset[index]
        annotations = oracle.loadAnns(oracle.getAnnIds(imgIds=[index + 1]))
        decoded = np.stack([oracle.annToMask(a) for a in annotations]).astype(bool)
        np.testing.assert_array_equal(item.masks, decoded)
        np.testing.assert_array_equal(item.masks, DATA[index].masks)
        np.testing.assert_array_equal(item.image, DATA[index].image)
        np.testing.assert_array_equal(item.category_ids, DATA[index].category_ids)


def test_both_folder_layouts_read_back_pycocotools_decoding(tmp_path):
    """The COCO file's masks as pycocotools decodes them, written in each folder layout, read back unchanged."""
    oracle = COCO(str(write_coco(DATA, tmp_path / "coco")))
    per_instance = tmp_path / "per_instance"
    id_maps = tmp_path / "id_maps"
    for index in range(len(DATA)):
        decoded = np.stack([oracle.annToMask(a) for a in oracle.loadAnns(oracle.getAnnIds(imgIds=[index + 1]))])
        name = f"item{index}"
        for root in (per_instance, id_maps):
            (root / "images").mkdir(parents=True, exist_ok=True)
            PIL.Image.fromarray(DATA[index].image).save(root / "images" / f"{name}.png")
        (per_instance / "masks" / name).mkdir(parents=True)
        for k, mask in enumerate(decoded):
            PIL.Image.fromarray(mask * 255).save(per_instance / "masks" / name / f"{k}.png")
        ids = np.zeros(decoded.shape[1:], dtype=np.uint16)
        for k, mask in enumerate(decoded):
            ids[mask.astype(bool)] = 300 + k  # 16-bit ids, in instance order
        (id_maps / "instances").mkdir(exist_ok=True)
        PIL.Image.fromarray(ids).save(id_maps / "instances" / f"{name}.png")
        for root in (per_instance, id_maps):
            item = FolderInstances(root)[index]
            np.testing.assert_array_equal(item.masks, decoded.astype(bool), err_msg=str(root))


def test_masks_folder_writer_round_trips(tmp_path):
    dataset = FolderInstances(write_masks_folder(DATA, tmp_path / "folder"))
    assert dataset.layout == "masks" and len(dataset) == len(DATA)
    for index in range(len(DATA)):
        np.testing.assert_array_equal(dataset[index].masks, DATA[index].masks)
        np.testing.assert_array_equal(dataset[index].image, DATA[index].image)
