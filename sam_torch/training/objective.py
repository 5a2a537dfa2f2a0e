"""One training step's loss from the training arrays (``sam_core.training.training_arrays``): the image is encoded
once, then decoded for point prompts (best of 3 masks for one point, the single mask for several), box prompts
(single mask), and optional corrective rounds that add a point on the previous error
(``sam_core.training.corrective_points``, from the pre-drawn ``corrective_uniforms``) and feed the previous low-res
logits back as ``input_masks``.

The default recipe has no corrective rounds, so the default model's training does not depend on how the corrective
points are picked.

Shape legend: B images, P prompts per image, N points, K masks, C channels, g grid, L = 4g mask frame, R rounds.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import numpy as np
import torch

from sam_core.training.config import LossWeights, PromptMix
from sam_core.training.corrective import corrective_points

from .losses import LossParts, sam_loss

__all__ = ["LossWeights", "PromptMix", "autocast_context", "step_loss"]


def autocast_context(device: torch.device, dtype: str | None) -> AbstractContextManager:
    """bfloat16 autocast on ``device`` for ``dtype`` "bf16" (``TrainConfig.autocast``), else a no-op."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def step_loss(
    model: torch.nn.Module,
    arrays: dict[str, torch.Tensor],
    weights: LossWeights | None = None,
    autocast: str | None = None,
    embeddings: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The summed loss of every prompt pass of one batch, and its parts for logging.

    Args:
        model: a SamModel.
        arrays: the step's training arrays as tensors on the model's device (``data.as_tensors``); the corrective
            rounds run when ``corrective_uniforms`` is present (R of them).
        weights: focal / dice / IoU weights of every pass (default: SAM's 20 : 1 : 1).
        autocast: ``"bf16"`` runs the model under bfloat16 autocast (the losses stay in float32), None: float32.
        embeddings: (B, C, g, g) image embeddings of ``pixel_values`` when they are known already (a frozen
            image encoder's, from the trainer's cache); None: computed here.

    Returns:
        (scalar loss with gradient, {"loss", "point", "box", "correct", "focal", "dice", "iou", "point_iou",
        "box_iou"} floats; the focal / dice / iou parts are averaged over the passes).
    """
    loss_kwargs = (weights or LossWeights()).as_kwargs()
    pixel_values, targets = arrays["pixel_values"], arrays["targets"]
    multimask = bool(arrays["multimask"])
    cast = lambda: autocast_context(pixel_values.device, autocast)  # noqa: E731
    passes: dict[str, LossParts] = {}
    with cast():
        if embeddings is None:
            embeddings = model.vision_encoder(pixel_values)[0]  # (B, C, g, g)
        out = model(
            image_embeddings=embeddings, input_points=arrays["input_points"], input_labels=arrays["input_labels"],
            multimask_output=multimask,
        )  # fmt: skip
    point_logits = out.pred_masks.float()
    passes["point"], _ = sam_loss(point_logits, out.iou_scores.float(), targets, **loss_kwargs)
    if "input_boxes" in arrays:
        with cast():
            out_box = model(image_embeddings=embeddings, input_boxes=arrays["input_boxes"], multimask_output=False)
        passes["box"], _ = sam_loss(out_box.pred_masks.float(), out_box.iou_scores.float(), targets, **loss_kwargs)
    if "corrective_uniforms" in arrays:
        chosen = out.iou_scores.detach().argmax(-1) if multimask else torch.zeros_like(out.iou_scores[..., 0].long())
        logits = point_logits.detach().gather(
            2, chosen[:, :, None, None, None].expand(-1, -1, 1, *point_logits.shape[-2:])
        )[:, :, 0]  # (B, P, L, L)
        with cast():
            passes["correct"] = _corrective_rounds(model, arrays, embeddings, logits, loss_kwargs)
    total = sum(parts.total for parts in passes.values())
    logged = {"loss": float(total.detach())}
    logged.update({name: float(parts.total.detach()) for name, parts in passes.items()})
    for part in ("focal", "dice", "iou"):
        logged[part] = float(np.mean([float(getattr(p, part).detach()) for p in passes.values()]))
    logged.update({f"{name}_iou": float(parts.mask_iou) for name, parts in passes.items() if name != "correct"})
    return total, logged


def _corrective_rounds(
    model: torch.nn.Module,
    arrays: dict[str, torch.Tensor],
    embeddings: torch.Tensor,
    logits: torch.Tensor,
    loss_kwargs: dict[str, float],
) -> LossParts:
    """Rounds of one corrective point each; every prompt becomes its own 'image' so it can get its own mask input.

    Args:
        logits: (B, P, L, L) the point pass's chosen low-res logits (no gradient).

    Returns:
        The rounds' mean LossParts.
    """
    batch_size, prompts, frame = logits.shape[0], logits.shape[1], logits.shape[-1]
    input_size = arrays["pixel_values"].shape[-1]
    targets = arrays["targets"]
    truth = targets.cpu().numpy() > 0.5
    valid = arrays["valid_cells"].cpu().numpy()
    points, labels = arrays["input_points"], arrays["input_labels"]
    flat_embeddings = embeddings.repeat_interleave(prompts, 0)
    rounds = []
    for uniforms in arrays["corrective_uniforms"].cpu().numpy():
        new_points, new_labels = corrective_points(
            truth, logits.float().cpu().numpy() > 0, valid, uniforms, input_size=input_size
        )
        points = torch.cat([points, torch.from_numpy(new_points)[:, :, None].to(points)], dim=2)
        labels = torch.cat([labels, torch.from_numpy(new_labels)[:, :, None].to(labels)], dim=2)
        out = model(
            image_embeddings=flat_embeddings,
            input_points=points.reshape(batch_size * prompts, 1, -1, 2),
            input_labels=labels.reshape(batch_size * prompts, 1, -1),
            input_masks=logits.reshape(batch_size * prompts, 1, frame, frame).to(flat_embeddings.dtype),
            multimask_output=False,
        )
        pred = out.pred_masks.float().reshape(batch_size, prompts, 1, frame, frame)
        scores = out.iou_scores.float().reshape(batch_size, prompts, 1)
        parts, _ = sam_loss(pred, scores, targets, **loss_kwargs)
        rounds.append(parts)
        logits = pred[:, :, 0].detach()
    mean = lambda name: torch.stack([getattr(r, name) for r in rounds]).mean()  # noqa: E731
    return LossParts(*(mean(n) for n in ("total", "focal", "dice", "iou", "mask_iou")))
