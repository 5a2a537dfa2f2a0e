"""The FastAPI application: the page, and the JSON API over one model, an embedding cache and a job runner.

Routes (documented at /docs):

- ``GET /``: the click-to-segment page (``static/``), no build step and nothing from a CDN.
- ``POST /api/images``: upload an image (multipart field ``file``); decoded, EXIF-oriented, embedded once.
- ``POST /api/images/{image_id}/segment``: masks for points / a box / a previous mask.
- ``POST /api/images/{image_id}/generate``: start segment-everything; ``GET /api/jobs/{job_id}`` polls it.
- ``GET /api/health``.

Every error is JSON ``{"detail": one line, "code": ...}``: 413 upload too large, 422 a non-image, a decompression
bomb or a bad prompt (the argument named), 404 an unknown or evicted image (``image_not_found``: upload it again).
No path a client sends is ever opened: images arrive as bytes, ids are checked against their pattern.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import Body, FastAPI, File, Path, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from sam_core.amg.rle import coco_rle_to_mask, mask_to_coco_rle

from ..images import ImageReadError, decode_image
from ..models import LoadedModel
from .cache import ID_LENGTH, CachedImage, EmbeddingCache, EntryTooLargeError
from .cache import image_id as content_hash
from .jobs import JOB_ID_LENGTH, Job, JobRunner, QueueFullError
from .masks import decode_logits, encode_logits, png_data_url
from .schemas import (
    ErrorBody,
    GenerateRequest,
    Health,
    ImageInfo,
    JobInfo,
    SegmentRequest,
    SegmentResponse,
)
from .session import ModelSession

STATIC_DIR = FilePath(__file__).resolve().parent / "static"
#: Bytes of multipart framing allowed above --max-upload-mb before the Content-Length alone refuses a request.
MULTIPART_SLACK = 64 * 1024
READ_CHUNK = 1 << 20
#: The image id in a route's path (checked against its pattern by the route, for a one-line 422).
ImageIdPath = Annotated[str, Path(description=f"the id POST /api/images returned ({ID_LENGTH} hex digits)")]
ERRORS = {code: {"model": ErrorBody} for code in (404, 413, 422)}


class ApiError(Exception):
    """An error reply: HTTP ``status``, a ``code`` for programs and a one-line ``detail``."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, " ".join(str(detail).split())


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status)


def _location(loc: tuple) -> str:
    """('body', 'points', 0, 1) -> 'points[0][1]'; ('body', 18) (bad JSON) -> 'request body at character 18'."""
    parts = [str(p) for p in loc if p not in ("body", "path", "query")]
    if not parts or loc[1:2] and isinstance(loc[1], int):
        return "request body" + "".join(f" at character {p}" for p in parts)
    return parts[0] + "".join(f"[{p}]" for p in parts[1:])


def _hex_id(name: str, value: str, length: int) -> str:
    """``value`` when it is ``length`` lower-case hex digits (an id this server made), else a 422 naming ``name``."""
    if len(value) != length or value.strip("0123456789abcdef"):
        raise ApiError(422, f"bad_{name}", f"{name} must be {length} lower-case hex digits, got {value[:80]!r}")
    return value


class RefuseLargeBodies:
    """ASGI middleware: 413 for a POST whose Content-Length alone exceeds ``limit``, before its body is received.

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware runs every request through
    a task group and a memory stream, which cost ~0.7 ms of CPU a request here (measured on a bare FastAPI app).
    """

    def __init__(self, app: Any, *, limit: int, max_upload_mb: float) -> None:
        self.app, self.limit, self.max_upload_mb = app, limit, max_upload_mb

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > self.limit:
                detail = f"the upload exceeds the server's limit of {self.max_upload_mb:g} MiB"
                await _error(413, "upload_too_large", detail)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The uploaded bytes, refusing more than ``limit`` (413) without reading further."""
    chunks, size = [], 0
    while chunk := upload.file.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "upload_too_large", f"the upload exceeds the server's limit of {limit / 2**20:g} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(loaded_model: LoadedModel, *, cache_mb: float = 1024, max_upload_mb: float = 25) -> FastAPI:
    """The application for one loaded model.

    Args:
        loaded_model: from ``dualsam.models.load_model`` (torch, tf or onnx).
        cache_mb: the embedding cache's budget in MiB (pixels and embeddings of uploaded images).
        max_upload_mb: the largest upload accepted, in MiB (413 beyond).
    """
    if cache_mb <= 0:
        raise ValueError(f"cache_mb must be positive, got {cache_mb}")
    if max_upload_mb <= 0:
        raise ValueError(f"max_upload_mb must be positive, got {max_upload_mb}")
    session = ModelSession(loaded_model)
    cache = EmbeddingCache(int(cache_mb * 2**20))
    jobs = JobRunner()
    # Clicks run on as many threads as the model has slots: a burst of clicks waits in this pool's queue, not as
    # threads blocked on the slots (with anyio's default pool, eight clients kept eight threads switching).
    clicks = ThreadPoolExecutor(max_workers=session.slots, thread_name_prefix="dualsam-click")
    upload_limit = int(max_upload_mb * 2**20)
    app = FastAPI(
        title="dualsam serve",
        description="Segment Anything: upload an image once, then segment it click by click.",
        version="1",
    )
    app.state.session, app.state.cache, app.state.jobs = session, cache, jobs
    app.router.add_event_handler("shutdown", jobs.shutdown)
    app.router.add_event_handler("shutdown", lambda: clicks.shutdown(wait=False, cancel_futures=True))

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return _error(error.status, error.code, error.detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error(error.status_code, "not_found" if error.status_code == 404 else "http_error", str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = [f"{_location(tuple(e['loc']))}: {e['msg']}" for e in error.errors()]
        return _error(422, "invalid_request", "; ".join(problems))

    @app.exception_handler(Exception)
    async def internal_error(_: Request, error: Exception) -> JSONResponse:
        return _error(500, "internal_error", f"{type(error).__name__}: {' '.join(str(error).split())}")

    app.add_middleware(RefuseLargeBodies, limit=upload_limit + MULTIPART_SLACK, max_upload_mb=max_upload_mb)

    def cached(image_id: str) -> CachedImage:
        entry = cache.get(_hex_id("image_id", image_id, ID_LENGTH))
        if entry is None:
            raise ApiError(
                404, "image_not_found",
                f"image {image_id} is not in the server's cache (evicted or never uploaded): upload it again",
            )  # fmt: skip
        return entry

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/api/health", response_model=Health)
    def health() -> dict:
        return {
            "status": "ok", "model": session.describe(), "cache": cache.stats(), "max_upload_bytes": upload_limit,
            "jobs": jobs.stats(),
        }  # fmt: skip

    @app.post("/api/images", response_model=ImageInfo, responses=ERRORS)
    def upload_image(file: Annotated[UploadFile, File(description="the image file (any format Pillow reads)")]) -> dict:
        data = read_upload(file, upload_limit)
        try:
            rgb = decode_image(data, "upload" if not file.filename else repr(file.filename))
        except ImageReadError as error:
            raise ApiError(422, "bad_image", str(error)) from error
        start = time.perf_counter()
        entry = cache.get(content_hash(rgb))
        known = entry is not None
        if entry is None:
            entry = session.encode(rgb)
            try:
                cache.put(entry)
            except EntryTooLargeError as error:
                raise ApiError(413, "image_too_large_for_cache", str(error)) from error
        height, width = entry.size
        return {
            "image_id": entry.image_id, "width": width, "height": height, "cached": known,
            "embed_ms": round(1000 * (time.perf_counter() - start), 2),
        }  # fmt: skip

    @app.post("/api/images/{image_id}/segment", response_model=SegmentResponse, responses=ERRORS)
    async def segment(image_id: ImageIdPath, request: SegmentRequest) -> JSONResponse:
        entry = cached(image_id)
        return await asyncio.get_running_loop().run_in_executor(clicks, _segment_reply, session, entry, request)

    @app.post("/api/images/{image_id}/generate", response_model=JobInfo, status_code=202, responses=ERRORS)
    def generate(image_id: ImageIdPath, request: Annotated[GenerateRequest | None, Body()] = None) -> dict:
        entry = cached(image_id)
        options = (request or GenerateRequest()).options()

        def work(progress) -> list[dict]:
            records = session.generate(entry, progress=progress, **options)
            return [_generated(record) for record in sorted(records, key=lambda r: -r["area"])]

        try:
            job = jobs.submit(image_id, work)
        except QueueFullError as error:
            raise ApiError(429, "busy", str(error)) from error
        return _job_info(job)

    @app.get("/api/jobs/{job_id}", response_model=JobInfo, responses=ERRORS)
    def job_status(job_id: str) -> dict:
        job = jobs.get(_hex_id("job_id", job_id, JOB_ID_LENGTH))
        if job is None:
            raise ApiError(404, "job_not_found", f"job {job_id} is unknown (finished long ago, or never started)")
        return _job_info(job)

    return app


def _segment_reply(session: ModelSession, entry: CachedImage, request: SegmentRequest) -> JSONResponse:
    """The masks for one click, rendered to JSON in the calling thread (the click pool's, not the event loop's)."""
    start = time.perf_counter()
    try:
        mask_input = None
        if request.mask_input is not None:
            mask_input = decode_logits(request.mask_input, session.low_res_size)
        result = session.segment(
            entry, points=request.points, labels=request.labels, box=request.box,
            multimask=request.multimask, mask_input=mask_input,
        )  # fmt: skip
    except ValueError as error:
        raise ApiError(422, "bad_prompt", str(error)) from error
    masks = [
        {
            "rle": mask_to_coco_rle(mask),
            "png": png_data_url(mask),
            "score": float(score),
            "area": area,
            "box": box,
            "mask_input": encode_logits(logits) if request.return_mask_input else None,
        }  # fmt: skip
        for mask, score, area, box, logits in zip(
            result.masks, result.scores, result.areas, result.boxes, result.low_res_logits
        )
    ]
    height, width = entry.size
    # Built from plain Python values as SegmentResponse describes them, and sent as they are: validating and
    # re-encoding the masks' strings through the response model would cost each click again.
    return JSONResponse({
        "image_id": entry.image_id, "width": width, "height": height, "masks": masks, "best": result.best,
        "decode_ms": round(1000 * (time.perf_counter() - start), 2),
    })  # fmt: skip


def _generated(record: dict) -> dict:
    """A mask generator record (COCO RLE) -> GeneratedMask fields, with its PNG."""
    rle = record["segmentation"]
    return {
        "rle": rle, "png": png_data_url(coco_rle_to_mask(rle)), "area": int(record["area"]),
        "bbox": [float(v) for v in record["bbox"]], "predicted_iou": float(record["predicted_iou"]),
        "stability_score": float(record["stability_score"]), "point_coords": record["point_coords"],
    }  # fmt: skip


def _job_info(job: Job) -> dict:
    return {
        "job_id": job.job_id, "image_id": job.image_id, "status": job.status, "progress": job.progress,
        "error": job.error, "elapsed_s": job.elapsed_s(), "masks": job.result if job.status == "done" else None,
    }  # fmt: skip
