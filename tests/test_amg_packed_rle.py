"""sam_core.amg.packed_rle: packed RLE counts unpack to the same counts, in fewer bytes than raw uint32 for noisy
masks."""

from __future__ import annotations

import numpy as np
import pytest

from sam_core.amg.packed_rle import PackedRle
from sam_core.amg.rle import masks_to_rle


@pytest.mark.parametrize(
    "counts, dtype",
    [([], "<u2"), ([12], "<u2"), ([0, 5, 65535, 3], "<u2"), ([70000, 4, 2], "<u4"), ([2**32 + 5, 1], "<u8")],
)
def test_round_trip(counts, dtype):
    packed = PackedRle.pack({"size": [7, 9], "counts": np.asarray(counts, dtype=np.uint64)})
    assert packed.dtype == dtype
    rle = packed.unpack()
    assert rle["size"] == [7, 9] and rle["counts"].tolist() == counts


def test_noisy_mask_packs_below_a_byte_a_run():
    """Runs of a few pixels (a noisy mask): well under the 4 bytes a run of uint32 counts."""
    mask = np.random.default_rng(0).random((300, 400)) < 0.5
    rle = masks_to_rle(mask[None])[0]
    packed = PackedRle.pack(rle)
    assert packed.nbytes < len(rle["counts"])
    assert packed.unpack()["counts"].tolist() == rle["counts"]
