"""A small folder of awkward images for the dataset-run tests: several sizes, grayscale, an EXIF-rotated JPEG, a
palette PNG with transparency, a very thin image, and two broken files."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from tests.helpers.images import synthetic_image

#: (file name, what it is); the broken ones are listed in BROKEN.
BROKEN = ("broken_truncated.png", "broken_empty.jpg")


def write_dataset_images(directory: str) -> dict[str, str]:
    """Writes 12 images (2 broken) into ``directory`` (one in a subfolder); returns file name -> description."""
    os.makedirs(os.path.join(directory, "sub"), exist_ok=True)
    made = {}
    for index, (height, width) in enumerate([(48, 64), (64, 48), (57, 91), (40, 40), (73, 55), (30, 100)]):
        name = f"rgb_{index}.png" if index < 5 else "sub/rgb_5.png"
        Image.fromarray(synthetic_image(height, width, seed=index)).save(os.path.join(directory, name))
        made[name] = "rgb"
    Image.fromarray(synthetic_image(50, 70, seed=7, channels=1)).save(os.path.join(directory, "gray.png"))
    made["gray.png"] = "grayscale"
    rotated = Image.fromarray(synthetic_image(40, 60, seed=8))
    exif = rotated.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    rotated.save(os.path.join(directory, "exif_rotated.jpg"), exif=exif, quality=95)
    made["exif_rotated.jpg"] = "EXIF orientation 6"
    palette = Image.fromarray(synthetic_image(45, 45, seed=9)).quantize(colors=16)
    palette.info["transparency"] = 0
    palette.save(os.path.join(directory, "palette.png"), transparency=0)
    made["palette.png"] = "palette with transparency"
    Image.fromarray(synthetic_image(3, 120, seed=10)).save(os.path.join(directory, "thin.png"))
    made["thin.png"] = "3 x 120"
    whole = open(os.path.join(directory, "rgb_0.png"), "rb").read()
    with open(os.path.join(directory, BROKEN[0]), "wb") as handle:
        handle.write(whole[: len(whole) // 2])
    open(os.path.join(directory, BROKEN[1]), "wb").close()
    made.update({BROKEN[0]: "truncated", BROKEN[1]: "empty"})
    assert len(made) == 12
    return made


def prompt_point(width: int, height: int) -> list[float]:
    """A point inside any image: a third of the way in."""
    return [round(width / 3, 1), round(height / 3, 1)]


def image_size(path: str) -> tuple[int, int]:
    """(width, height) as displayed (EXIF orientation applied)."""
    from PIL import ImageOps

    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).size


def as_array(path: str) -> np.ndarray:
    from dualsam.images import read_image

    return read_image(path)
