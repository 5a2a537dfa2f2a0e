"""--verify: the converted files reproduce the source model on a fixed probe.

The source-side model is dualsam's model of the source's framework (TFSamModel for a Keras h5, SamModel otherwise)
filled in memory from the source tensors (after the rename and the dtype rounding; so a bfloat16 conversion is
checked against the bfloat16-rounded source, not against float32 arithmetic). The destination-side models are
loaded from the written directory by dualsam's own ``from_pretrained`` of each backend written. The probe is one
image with point, box, point+box and mask prompts, multimask on and off; every output must satisfy
max|Δ| <= VERIFY_RTOL * max(1, max|ref|).

Shape legend: S image size, L low-res mask side (4 * S / patch).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sam_core.backend import as_backend
from sam_core.checkpoint.read import TRANSFORMERS_TF
from sam_core.config import SamConfig
from sam_core.frameworks import is_installed, require_backend
from sam_core.probe import Deviation, deviation, probe_inputs
from sam_core.tensors import to_numpy

#: Outputs relative to max(1, max|ref|): float32 accumulation order differs between backends.
VERIFY_RTOL = 1e-4


#: One output of one destination model against the source-side model (``model`` names the destination).
Comparison = Deviation


def run_probe(model, config: SamConfig) -> dict[str, np.ndarray]:
    """Runs the probe on a torch or Keras SAM model; returns output name -> numpy array."""
    backend = as_backend(model)
    pixels, prompts = probe_inputs(config)
    embeddings = backend.embed(pixels)
    outputs = {"image_embeddings": to_numpy(embeddings)}
    for prompt in prompts:
        for multimask in (True, False):
            logits, iou = backend.decode(
                embeddings,
                points=prompt.get("points"),
                labels=prompt.get("labels"),
                boxes=prompt.get("boxes"),
                masks=prompt.get("masks"),
                multimask_output=multimask,
            )
            tag = f"{prompt['name']}/{'multi' if multimask else 'single'}"
            outputs[f"{tag}/pred_masks"], outputs[f"{tag}/iou_scores"] = logits, iou
    return outputs


def compare(model: str, ours: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> list[Comparison]:
    """max|Δ| per output against the bound VERIFY_RTOL * max(1, max|ref|)."""
    return [deviation(name, ours[name], ref, VERIFY_RTOL, model) for name, ref in reference.items()]


def source_model(config: SamConfig, state: dict[str, np.ndarray], framework: str):
    """dualsam's model of the source's framework ("torch" or "tf") with the source tensors loaded in memory.

    Args:
        config: the output config.
        state: float32 tensors under canonical names, in torch layout (the Keras loader transposes them).
        framework: "tf" for a Keras source, else "torch" (the other one where that framework is not installed).
    """
    if framework == "tf":
        from sam_tf import TFSamModel
        from sam_tf.pretrained import load_state_into

        model = TFSamModel(config)
    else:
        from sam_torch import SamModel
        from sam_torch.pretrained import load_state_into

        model = SamModel(config)
    load_state_into(model, state, source="source tensors")
    return model


def destination_model(directory: str, target: str):
    """The written directory loaded by dualsam's ``from_pretrained`` of one backend ("torch" or "tf")."""
    if target == "torch":
        from sam_torch import SamModel

        return SamModel.from_pretrained(directory)
    from sam_tf import TFSamModel

    return TFSamModel.from_pretrained(directory)


def verify_directory(
    directory: str,
    config: SamConfig,
    state: dict[str, np.ndarray],
    layout: str,
    targets: tuple[str, ...],
    log: Callable[[str], None],
) -> list[Comparison]:
    """Runs the probe on the source-side model and on each written backend; logs one line per output.

    Args:
        directory: the written (not yet published) output directory.
        config: the output config.
        state: the converted tensors as float32, canonical names.
        layout: the source naming; a Keras source is modelled by TFSamModel, the others by SamModel.
        targets: the backends written ("torch", "tf"); those whose framework is not installed are skipped (logged).
        log: where the comparison lines go.
    """
    checked = [target for target in targets if is_installed(target)]
    if not checked:
        require_backend(targets[0], f"verifying the {targets[0]} output")
    for target in sorted(set(targets) - set(checked)):
        log(f"verify: the {target} output is not checked: its framework is not installed")
    framework = "tf" if layout == TRANSFORMERS_TF else "torch"
    framework = framework if is_installed(framework) else checked[0]
    reference = run_probe(source_model(config, state, framework), config)
    comparisons: list[Comparison] = []
    for target in checked:
        ours = run_probe(destination_model(directory, target), config)
        comparisons.extend(compare(target, ours, reference))
    log(f"verify: {layout} source ({framework} model) vs {', '.join(checked)} output, {len(reference)} outputs each")
    for comparison in comparisons:
        log(str(comparison))
    return comparisons
