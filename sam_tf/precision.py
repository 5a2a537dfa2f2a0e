"""The bf16 mode: float32 weights, the image encoder's GEMMs in bfloat16 (Keras 3; mirrors sam_torch/precision.py).

``TFSamModel.from_pretrained(..., dtype="bfloat16")`` (or ``set_compute_dtype(model, "bfloat16")``) gives the image
encoder's heavy layers, its Dense layers (attention qkv and proj, the MLPs), its Conv2D layers (patch embedding,
neck) and the MLP activation, the ``mixed_bfloat16`` dtype policy: float32 variables (so ``save_pretrained`` writes
float32), bfloat16 compute. Every other layer keeps the float32 policy, and the blocks cast explicitly where a
bfloat16 tensor meets the float32 stream. Float32 islands, as in sam_torch:

- the residual stream between blocks (each block casts its bfloat16 output up), hence the layer norms' inputs;
- the neck's layer norms (a float32-policy layer casts its bfloat16 input up), so the embeddings are float32;
- the relative-position terms and their bias, and the attention logits they are added to;
- the softmax;
- everything outside the image encoder: the positional embeddings, the prompt encoder and the mask decoder (the
  IoU head included).

The measured ViT-B costs are in README.md ("Precision").
"""

from __future__ import annotations

import keras

#: Compute dtypes ``set_compute_dtype`` takes ("float32": the default, everything in float32).
COMPUTE_DTYPES = ("float32", "bfloat16")
#: The dtype policy of the heavy layers in each compute dtype.
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
#: The image encoder's layer types that compute in the bf16 mode's bfloat16.
HEAVY_LAYERS = (keras.layers.Dense, keras.layers.Conv2D, keras.layers.Activation)


def set_compute_dtype(model: keras.Model, dtype: str) -> None:
    """Runs ``model``'s image encoder in ``dtype`` ("bfloat16": the mixed_bfloat16 policy on its heavy layers;
    "float32": the float32 policy). Variables are unchanged.

    Raises:
        ValueError: an unknown dtype.
    """
    if dtype not in COMPUTE_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(COMPUTE_DTYPES)}, got {dtype!r}")
    for layer in heavy_layers(model):
        layer.dtype_policy = POLICIES[dtype]


def compute_dtype(model: keras.Model) -> str:
    """The compute dtype of ``model``'s image encoder: "bfloat16" in the bf16 mode, else "float32"."""
    projection = model.vision_encoder.patch_embed.projection
    return "bfloat16" if projection.compute_dtype == "bfloat16" else "float32"


def heavy_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The image encoder's Dense, Conv2D and Activation layers (Keras' recursive layer walk)."""
    return [layer for layer in model.vision_encoder._flatten_layers() if isinstance(layer, HEAVY_LAYERS)]
