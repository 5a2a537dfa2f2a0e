"""One written rule from canonical weight names to the Keras layouts, with the per-tensor transposes as data.

Canonical names are transformers' SamModel state-dict keys (``vision_encoder.layers.3.attn.qkv.weight``). Two Keras
layouts derive from them:

* ``keras``: the variable paths of ``sam_tf.TFSamModel`` without the model's own name
  (``vision_encoder/layers_3/attn/qkv/kernel``): dots become slashes and a list index ``.3`` becomes ``_3``.
* ``hf_tf``: the Keras 2 h5 names that transformers 4.x ``TFSamModel`` writes, as (group, weight name)
  (``("vision_encoder", "tf_sam_model/vision_encoder/layers_._3/attn/qkv/kernel:0")``): list indices become
  ``_._3``, embeddings keep ``.weight`` inside the variable name, channel layer norms keep weight/bias.

Which transpose and which leaf names a tensor gets depends only on the kind of module that owns it, found from the
canonical module path by the ``MODULE_KINDS`` table. Framework-free (numpy only).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .weights import TIED_KEYS


@dataclass(frozen=True)
class ModuleKind:
    """How one kind of module stores its tensors in the Keras layouts.

    Attributes:
        name: the kind's name.
        permutation: axes order taking the torch ``weight`` to the Keras kernel (None: same layout).
        keras_leaves: canonical leaf -> Keras variable name.
        hf_tf_leaves: canonical leaf -> transformers-TF variable name.
        hf_tf_joiner: what joins the module path and the leaf in transformers-TF ("/" or ".").
    """

    name: str
    permutation: tuple[int, ...] | None
    keras_leaves: Mapping[str, str]
    hf_tf_leaves: Mapping[str, str]
    hf_tf_joiner: str = "/"


_KERNEL = {"weight": "kernel", "bias": "bias"}
_NORM = {"weight": "gamma", "bias": "beta"}
_SAME = {"weight": "weight", "bias": "bias"}

#: The tensor kinds and their transposes: dense (transpose), conv2d (torch OIHW -> Keras HWIO), conv-transpose
#: (torch (in, out, kh, kw) -> Keras (kh, kw, out, in)), and none.
KINDS: dict[str, ModuleKind] = {
    kind.name: kind
    for kind in (
        ModuleKind("dense", (1, 0), _KERNEL, _KERNEL),
        ModuleKind("conv2d", (2, 3, 1, 0), _KERNEL, _KERNEL),
        ModuleKind("conv_transpose2d", (2, 3, 1, 0), _KERNEL, _KERNEL),
        ModuleKind("layer_norm", None, _NORM, _NORM),
        ModuleKind("layer_norm_2d", None, _NORM, _SAME),
        ModuleKind("embedding", None, {"weight": "embeddings"}, {"weight": "weight"}, hf_tf_joiner="."),
    )
}
#: Parameters owned directly by a layer (pos_embed, rel_pos_h/w, positional_embedding): no transpose, same name.
PARAMETER = ModuleKind("parameter", None, {}, {})

#: Canonical module path -> kind, first match wins. A key matching nothing is an error, never a guess.
MODULE_KINDS: tuple[tuple[str, str], ...] = (
    (r"\.upscale_conv\d$", "conv_transpose2d"),
    (r"\.(patch_embed\.projection|neck\.conv\d|mask_embed\.conv\d)$", "conv2d"),
    (r"\.(neck\.layer_norm\d|mask_embed\.layer_norm\d|upscale_layer_norm)$", "layer_norm_2d"),
    (r"\.layer_norm(\d|_final_attn)$", "layer_norm"),
    (r"\.(iou_token|mask_tokens|no_mask_embed|not_a_point_embed|point_embed\.\d+)$", "embedding"),
    (r"\.(qkv|proj|lin\d|[qkv]_proj|out_proj|proj_in|proj_out|layers\.\d+)$", "dense"),
)
_PARAMETERS = re.compile(r"\.(pos_embed|rel_pos_h|rel_pos_w|positional_embedding)$")

#: The model name transformers' TFSamModel writes in front of every h5 weight name.
HF_TF_MODEL_NAME = "tf_sam_model"
#: Tied canonical keys stored under another layer's group in the transformers-TF h5: key -> (group, path).
HF_TF_ALIASES: dict[str, tuple[str, str]] = {
    "prompt_encoder.shared_embedding.positional_embedding": (
        "prompt_encoder", "shared_image_embedding/positional_embedding"
    ),
}
#: The top-level layers (h5 groups), in the order transformers writes them.
HF_TF_GROUPS = ("shared_image_embedding", "vision_encoder", "prompt_encoder", "mask_decoder")


def split_key(key: str) -> tuple[str, str, ModuleKind]:
    """Splits a canonical key into (module path, leaf, kind).

    Raises:
        KeyError: the key matches no entry of the kind tables.
    """
    if _PARAMETERS.search("." + key):
        module, _, leaf = key.rpartition(".")
        return module, leaf, PARAMETER
    module, _, leaf = key.rpartition(".")
    for pattern, kind in MODULE_KINDS:
        if re.search(pattern, "." + module) and leaf in KINDS[kind].keras_leaves:
            return module, leaf, KINDS[kind]
    raise KeyError(f"no layout rule for weight {key!r}")


def _join(module: str, leaf: str, index_sep: str, joiner: str = "/") -> str:
    parts: list[str] = []
    for part in module.split(".") if module else []:
        if part.isdigit():
            parts[-1] += index_sep + part
        else:
            parts.append(part)
    path = "/".join(parts)
    return f"{path}{joiner}{leaf}" if path else leaf


def _split_indices(path: str, index_sep: str) -> str:
    """Inverse of the index rule: ``a/layers_3/b`` -> ``a.layers.3.b``."""
    pattern = re.compile(rf"^(.+){re.escape(index_sep)}(\d+)$")
    return ".".join(pattern.sub(r"\1.\2", part) for part in path.split("/"))


def keras_path(key: str) -> str:
    """Canonical key -> Keras variable path (without the model name)."""
    module, leaf, kind = split_key(key)
    return _join(module, kind.keras_leaves.get(leaf, leaf), "_")


def canonical_key(path: str) -> str:
    """Keras variable path (with or without a leading model name segment) -> canonical key.

    Raises:
        KeyError: the path does not come from a canonical key by the rule.
    """
    parts = path.split("/")
    if parts[0] not in HF_TF_GROUPS:
        parts = parts[1:]
    module, leaf = _split_indices("/".join(parts[:-1]), "_"), parts[-1]
    for candidate in (f"{module}.{leaf}", f"{module}.weight", f"{module}.bias"):
        try:
            if keras_path(candidate) == "/".join(parts):
                return candidate
        except KeyError:
            continue
    raise KeyError(f"Keras variable {path!r} maps to no canonical weight name")


def hf_tf_name(key: str) -> tuple[str, str]:
    """Canonical key -> (h5 group, weight name) in transformers' TFSamModel h5."""
    if key in HF_TF_ALIASES:
        group, path = HF_TF_ALIASES[key]
        return group, f"{HF_TF_MODEL_NAME}/{path}:0"
    module, leaf, kind = split_key(key)
    name = _join(module, kind.hf_tf_leaves.get(leaf, leaf), "_._", kind.hf_tf_joiner)
    return key.split(".", 1)[0], f"{HF_TF_MODEL_NAME}/{name}:0"


def canonical_from_hf_tf(group: str, name: str) -> str:
    """(h5 group, weight name) of a transformers-TF h5 -> canonical key; the model-name prefix is ignored.

    Raises:
        KeyError: the name does not come from a canonical key by the rule.
    """
    path = name.split("/", 1)[1] if "/" in name else name
    path = path[:-2] if path.endswith(":0") else path
    for key, (alias_group, alias_path) in HF_TF_ALIASES.items():
        if (group, path) == (alias_group, alias_path):
            return key
    head, _, leaf = path.rpartition("/")
    if "." in leaf:  # embeddings: ".../point_embed_._0.weight"
        owner, _, leaf = leaf.rpartition(".")
        head = f"{head}/{owner}" if head else owner
    module = _split_indices(head, "_._")
    for candidate in (f"{module}.{leaf}", f"{module}.weight", f"{module}.bias"):
        try:
            if hf_tf_name(candidate) == (group, f"{HF_TF_MODEL_NAME}/{path}:0"):
                return candidate
        except KeyError:
            continue
    raise KeyError(f"h5 weight {group}/{name} maps to no canonical weight name")


def to_keras(key: str, value: np.ndarray) -> np.ndarray:
    """A canonical (torch-layout) tensor in its Keras layout."""
    permutation = split_key(key)[2].permutation
    value = np.asarray(value)
    return value if permutation is None or key.endswith(".bias") else np.transpose(value, permutation)


def from_keras(key: str, value: np.ndarray) -> np.ndarray:
    """A Keras-layout tensor back in its canonical (torch) layout."""
    permutation = split_key(key)[2].permutation
    value = np.asarray(value)
    return value if permutation is None or key.endswith(".bias") else np.transpose(value, np.argsort(permutation))


def canonical_shape(key: str, keras_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The canonical shape of a tensor whose Keras shape is ``keras_shape``."""
    permutation = split_key(key)[2].permutation
    if permutation is None or key.endswith(".bias"):
        return tuple(keras_shape)
    return tuple(keras_shape[i] for i in np.argsort(permutation))


def hf_tf_to_canonical(groups: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Every tensor of a transformers-TF h5 (group -> weight name -> Keras-layout array) in canonical form.

    A weight name that maps to no canonical key is kept under ``"group/name"``, untransposed, so that the shape
    check reports it as unexpected together with the missing and mis-shaped keys.
    """
    state: dict[str, np.ndarray] = {}
    for group, tensors in groups.items():
        for name, value in tensors.items():
            try:
                key = canonical_from_hf_tf(group, name)
            except KeyError:
                state[f"{group}/{name}"] = np.asarray(value)
                continue
            state[key] = from_keras(key, value)
    return state


def canonical_to_hf_tf(state: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Canonical tensors -> group -> weight name -> Keras-layout array, in transformers' group order.

    Both tied keys are written, as transformers writes them.
    """
    full = dict(state)
    for copy, source in TIED_KEYS.items():
        if copy not in full and source in full:
            full[copy] = full[source]
    groups: dict[str, dict[str, np.ndarray]] = {group: {} for group in HF_TF_GROUPS}
    for key in sorted(full):
        group, name = hf_tf_name(key)
        groups.setdefault(group, {})[name] = to_keras(key, full[key])
    return groups
