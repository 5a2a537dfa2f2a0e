"""A synthetic mask decoder shared by dualsam's tests and the Meta oracle (torch only, no dualsam imports).

Random SAM weights give masks that cover most of the image wherever the point is, so after NMS almost nothing
is left to compare. For the mask generator's logic (NMS within and across crops, crop-edge filtering, small
regions) the tests swap in this decoder on both sides: each point prompt yields textured discs of four radii
around the point, so masks are local, overlap their neighbours, touch crop edges and have specks and holes.
The image still matters: the texture is the real image embedding's first channel.

Shape legend: P prompts, K masks (4 before Meta's multimask slicing), L low-res side (256), g grid (64).
"""

from __future__ import annotations

import torch

#: Disc radii in the model's 1024-pixel frame, for the single-mask output and the three multimask outputs.
RADII = (70.0, 45.0, 110.0, 220.0)
#: Logit at the disc centre (the logit falls linearly to 0 at the rim).
SCALE = 30.0
#: Amplitude of the image-embedding texture (jitters rims, adds specks and holes).
TEXTURE = 6.0


def synthetic_decode(embeddings: torch.Tensor, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask logits and IoU scores for single-point prompts.

    Args:
        embeddings: (1, C, g, g) image embeddings.
        points: (P, 2) xy in the 1024 frame.

    Returns:
        (P, 4, L, L) float32 logits and (P, 4) float32 scores; index 0 is the single-mask output.
    """
    points = points.to(torch.float32)
    side = embeddings.shape[-1] * 4
    centres = torch.arange(side, dtype=torch.float32) * 4.0 + 2.0
    dx = centres[None, None, :] - points[:, 0, None, None]
    dy = centres[None, :, None] - points[:, 1, None, None]
    distance = torch.sqrt(dx * dx + dy * dy)  # (P, L, L)
    radii = torch.tensor(RADII, dtype=torch.float32)[None, :, None, None]
    texture = embeddings[0, 0].to(torch.float32).repeat_interleave(4, 0).repeat_interleave(4, 1)
    logits = SCALE * (1.0 - distance[:, None] / radii) + TEXTURE * texture[None, None]
    phase = torch.arange(4, dtype=torch.float32)[None, :] * 1.3
    scores = 0.6 + 0.4 * torch.sin(0.013 * points[:, 0, None] + 0.007 * points[:, 1, None] + phase)
    return logits.contiguous(), scores
