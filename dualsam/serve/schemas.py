"""Request and response bodies of the JSON API (pydantic; they document /docs).

Coordinates are image pixels (x right, y down) of the uploaded image after its EXIF orientation; boxes in requests
are [x1, y1, x2, y2]. Masks come as COCO RLE (column-major, pycocotools' compressed ``counts``) and as a PNG data URL.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Rle(BaseModel):
    """COCO-compressed run-length encoding of an (H, W) mask."""

    size: list[int] = Field(description="[H, W]")
    counts: str


class ImageInfo(BaseModel):
    """An uploaded image: its id (a content hash of the decoded pixels) and size."""

    image_id: str
    width: int
    height: int
    cached: bool = Field(description="true when the same pixels were uploaded before and their embedding was reused")
    embed_ms: float = Field(description="time spent encoding (0 when cached)")


class SegmentRequest(BaseModel):
    """Prompts for one click: points with labels and/or a box, optionally the previous low-res mask."""

    model_config = ConfigDict(extra="forbid")

    points: list[tuple[float, float]] | None = Field(None, description="[[x, y], ...] in image pixels")
    labels: list[int] | None = Field(None, description="one per point: 1 foreground, 0 background (default all 1)")
    box: tuple[float, float, float, float] | None = Field(None, description="[x1, y1, x2, y2] in image pixels")
    mask_input: str | None = Field(None, description="a previous reply's mask_input (base64 float32 L x L logits)")
    multimask: bool = Field(False, description="SAM's three candidate masks instead of one")
    return_mask_input: bool = Field(False, description="include each mask's low-res logits, for the next mask_input")


class MaskOut(BaseModel):
    """One predicted mask."""

    rle: Rle
    png: str = Field(description="data:image/png;base64 of a 1-bit mask at the image size")
    score: float = Field(description="predicted IoU")
    area: int
    box: list[int] | None = Field(description="tight [x1, y1, x2, y2], inclusive pixel indices; null when empty")
    mask_input: str | None = None


class SegmentResponse(BaseModel):
    image_id: str
    width: int
    height: int
    masks: list[MaskOut]
    best: int = Field(description="index of the mask with the highest score")
    decode_ms: float


class GenerateRequest(BaseModel):
    """Options of the automatic mask generator (unset: its defaults, as ``dualsam generate``)."""

    model_config = ConfigDict(extra="forbid")

    points_per_side: int | None = Field(None, ge=1, le=128)
    points_per_batch: int | None = Field(None, ge=1, le=1024)
    pred_iou_thresh: float | None = Field(None, ge=0, le=1)
    stability_score_thresh: float | None = Field(None, ge=0, le=1)
    box_nms_thresh: float | None = Field(None, ge=0, le=1)
    min_mask_region_area: int | None = Field(None, ge=0)

    def options(self) -> dict:
        """The options that were set."""
        return self.model_dump(exclude_none=True)


class GeneratedMask(BaseModel):
    """One record of the automatic mask generator (Meta's fields)."""

    rle: Rle
    png: str
    area: int
    bbox: list[float] = Field(description="[x, y, w, h]")
    predicted_iou: float
    stability_score: float
    point_coords: list[list[float]]


class JobInfo(BaseModel):
    """A segment-everything job."""

    job_id: str
    image_id: str
    status: Literal["queued", "running", "done", "failed"]
    progress: float = Field(description="fraction of point batches done, 0..1")
    error: str | None = None
    elapsed_s: float | None = None
    masks: list[GeneratedMask] | None = Field(None, description="when done, largest first")


class ErrorBody(BaseModel):
    """Every error: one line, and a code a page can act on (image_not_found: upload again)."""

    detail: str
    code: str


class Health(BaseModel):
    status: Literal["ok"]
    model: dict
    cache: dict
    max_upload_bytes: int
    jobs: dict
