"""Images and instance masks from a folder, in one of two layouts.

Per-instance masks (``masks``)::

    ROOT/images/NAME.ext        the image (.jpg, .jpeg, .png, .bmp, .tif, .tiff, .webp)
    ROOT/masks/NAME/K.png       one PNG per instance; nonzero pixels are the object

Instance-id maps (``instances``)::

    ROOT/images/NAME.ext
    ROOT/instances/NAME.png     8- or 16-bit single-channel (or palette) PNG: 0 background, each other value one
                                instance

The layout is detected from which of ``masks/`` and ``instances/`` exists (both: ValueError). Instances are ordered
by ``K`` (numeric names first, numerically) or by id value. Images are read in display orientation (EXIF
orientation applied), and so are masks; every mask must have the image's size (ValueError naming the file). Images
without masks are skipped (counted in ``skipped``); an id map with no nonzero value gives an item with no
instances. Folder layouts carry no categories: every ``category_id`` is 0.

Shape legend: H x W image size, O instances.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import IMAGE_EXTENSIONS, DatasetItem, check_index, open_oriented, read_rgb

LAYOUTS = ("masks", "instances")


def detect_layout(root: str | os.PathLike[str]) -> str:
    """``"masks"`` or ``"instances"``: which layout ``root`` holds; ValueError for neither, both, or no images/."""
    root = Path(root)
    if not (root / "images").is_dir():
        raise ValueError(f"{root} has no images/ folder (expected images/ plus masks/ or instances/)")
    present = [name for name in LAYOUTS if (root / name).is_dir()]
    if len(present) != 1:
        found = "both " + " and ".join(f"{root / n}/" for n in present) if present else "neither masks/ nor instances/"
        raise ValueError(f"{root} must hold exactly one of masks/ or instances/ next to images/, found {found}")
    return present[0]


def _instance_order(path: Path) -> tuple[int, int, str]:
    return (0, int(path.stem), path.name) if path.stem.isdigit() else (1, 0, path.name)


def _read_mask(path: Path, size: tuple[int, int], *, binary: bool) -> np.ndarray:
    """(H, W) bool (``binary``) or integer id array from a PNG; ValueError when it is not ``size`` (H, W)."""
    array = np.asarray(open_oriented(path))
    if array.shape[:2] != size:
        raise ValueError(f"mask {path} is {array.shape[1]}x{array.shape[0]} but its image is {size[1]}x{size[0]}")
    if array.ndim == 3:
        if not binary:
            raise ValueError(f"instance map {path} must be a single-channel (8- or 16-bit) PNG, got {array.shape[2]}")
        array = array[..., :3] if array.shape[2] == 4 else array
        return array.any(axis=-1)
    return array != 0 if binary else array.astype(np.int64)


class FolderInstances:
    """A folder in one of the two documented layouts (see the module docstring).

    Args:
        root: the folder holding ``images/`` and ``masks/`` or ``instances/``.

    Attributes:
        layout: ``"masks"`` or ``"instances"``.
        names: the item names (image file stems), sorted.
        skipped: ``images_without_masks`` and ``masks_without_image`` counts.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.layout = detect_layout(self.root)
        images: dict[str, Path] = {}
        for path in sorted((self.root / "images").iterdir()):
            if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
                if path.stem in images:
                    raise ValueError(f"two images share the name {path.stem!r}: {images[path.stem]} and {path}")
                images[path.stem] = path
        if self.layout == "masks":
            labelled = {p.name for p in (self.root / "masks").iterdir() if p.is_dir() and any(p.glob("*.png"))}
        else:
            labelled = {p.stem for p in (self.root / "instances").glob("*.png") if p.is_file()}
        self.names = sorted(set(images) & labelled)
        self._images = images
        self.skipped = {
            "images_without_masks": len(set(images) - labelled),
            "masks_without_image": len(labelled - set(images)),
        }

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> DatasetItem:
        """Item ``index``: the image and its (O, H, W) masks."""
        name = self.names[check_index(index, len(self))]
        image = read_rgb(self._images[name])
        size = image.shape[:2]
        if self.layout == "masks":
            files = sorted((self.root / "masks" / name).glob("*.png"), key=_instance_order)
            masks = [_read_mask(path, size, binary=True) for path in files]
        else:
            ids = _read_mask(self.root / "instances" / f"{name}.png", size, binary=False)
            masks = [ids == value for value in np.unique(ids) if value != 0]
        stacked = np.stack(masks) if masks else np.zeros((0, *size), dtype=bool)
        return DatasetItem(image=image, masks=stacked, category_ids=np.zeros(len(masks), np.int64), key=name)
