"""Helpers of the ``dualsam serve`` API tests: requests through FastAPI's TestClient (upload, segment, poll a job),
the one-line JSON error check, the masks of a reply (RLE and PNG) and hostile uploads."""

from __future__ import annotations

import base64
import io
import struct
import time
import zlib

import numpy as np
from PIL import Image

from dualsam.resources import EXAMPLE_IMAGE
from sam_core.amg.rle import coco_rle_to_mask

POLL_S = 0.05
JOB_TIMEOUT_S = 120


def png_bytes(array: np.ndarray, **save_args) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=save_args.pop("format", "PNG"), **save_args)
    return buffer.getvalue()


def upload(client, data: bytes, name: str = "image.png"):
    return client.post("/api/images", files={"file": (name, data, "image/png")})


def upload_ok(client, data: bytes) -> dict:
    reply = upload(client, data)
    assert reply.status_code == 200, reply.text
    return reply.json()


def example_id(client) -> str:
    return upload_ok(client, EXAMPLE_IMAGE.read_bytes())["image_id"]


def segment(client, image_id: str, **body):
    return client.post(f"/api/images/{image_id}/segment", json=body)


def assert_error(reply, status: int, code: str, *needles: str) -> None:
    """A JSON error: the status, the code, and one line naming what was wrong."""
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["code"] == code, body
    assert "\n" not in body["detail"]
    for needle in needles:
        assert needle in body["detail"], body


def rle_mask(mask_json: dict) -> np.ndarray:
    return coco_rle_to_mask(mask_json["rle"])


def png_mask(mask_json: dict) -> np.ndarray:
    header, data = mask_json["png"].split(",", 1)
    assert header == "data:image/png;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("L")) > 127


def low_res_logits(mask_json: dict, shape: tuple[int, ...]) -> np.ndarray:
    """A mask's ``mask_input`` (base64 little-endian float32) as an array of ``shape``."""
    return np.frombuffer(base64.b64decode(mask_json["mask_input"]), "<f4").reshape(shape)


def bomb_png(side: int = 30000) -> bytes:
    """A valid PNG header claiming side x side RGB pixels (above Pillow's decompression-bomb limit), with no data."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def wait_for(client, job_id: str) -> dict:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(POLL_S)
    raise AssertionError(f"job {job_id} did not finish in {JOB_TIMEOUT_S} s")
