"""Load test of ``dualsam serve``, on 127.0.0.1 only: C concurrent clients, each uploading its own image once and then
clicking N times (a positive point, three candidate masks, as the page asks), against a server this script starts.

Reports errors, p50 / p95 click-to-mask latency (request sent to reply parsed, at the client; and the server's own
time in the handler, which leaves out the wait for a thread and the HTTP round trip), requests/s, the server's CPU
time per click (its uploads included), and the server's resident memory (VmRSS): at start, before the load (after a
warm-up round at the same concurrency on other images) and after it, with the bytes the load added to the embedding
cache. Targets (issue #17): 0 errors, p95 <= 50 ms with the default model and <= 150 ms with a ViT-B-sized model, RSS
after <= RSS before + the cache.

Bounded: C x (N + 1) requests, each with a timeout, and the whole run with --deadline-s; the server is stopped at the
end. The clients' images are the shipped example, each with one pixel changed (a different content hash, so each
client's upload is encoded).

    python bench/serve_load.py [--clients 8] [--clicks 50] [--model DIR] [--vitb] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from batch import vitb_model  # noqa: E402
from machine import load_line, machine_line  # noqa: E402

from dualsam.resources import EXAMPLE_IMAGE  # noqa: E402

HOST = "127.0.0.1"
#: Seconds one request may take (a ViT-B upload queued behind seven others on two cores takes minutes).
REQUEST_TIMEOUT_S = 600
START_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def rss_mib(pid: int) -> float:
    """The resident set size of process ``pid`` in MiB (Linux /proc)."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used (Linux /proc)."""
    with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client_image(index: int) -> bytes:
    """The example image as PNG bytes with pixel (0, 0) set from ``index`` (a distinct content hash per client)."""
    rgb = np.array(Image.open(EXAMPLE_IMAGE).convert("RGB"))
    rgb[0, 0] = [index % 256, (index * 7) % 256, 255 - index % 256]
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def multipart(field: str, name: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body holding one file, and its Content-Type."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class Client:
    """One keep-alive HTTP connection to the server."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_S)

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"):
        """(status, parsed JSON body)."""
        headers = {"Content-Type": content_type} if body is not None else {}
        self.connection.request(method, path, body=body, headers=headers)
        reply = self.connection.getresponse()
        return reply.status, json.loads(reply.read() or b"null")

    def close(self) -> None:
        self.connection.close()


def run_client(index: int, port: int, clicks: int, deadline: float, out: dict) -> None:
    """Uploads this client's image, then clicks ``clicks`` times at random points; fills ``out``."""
    rng = np.random.default_rng(index)
    latencies, decode_ms, errors = [], [], []
    client = Client(port)
    try:
        body, content_type = multipart("file", f"client{index}.png", client_image(index))
        start = time.perf_counter()
        status, info = client.request("POST", "/api/images", body, content_type)
        out["upload_s"] = time.perf_counter() - start
        if status != 200:
            errors.append(f"upload: HTTP {status} {info}")
            return
        width, height = info["width"], info["height"]
        for _ in range(clicks):
            if time.monotonic() > deadline:
                errors.append("deadline reached")
                break
            point = [float(rng.uniform(0, width)), float(rng.uniform(0, height))]
            prompt = json.dumps({"points": [point], "labels": [1], "multimask": True}).encode()
            start = time.perf_counter()
            status, reply = client.request("POST", f"/api/images/{info['image_id']}/segment", prompt)
            latencies.append(time.perf_counter() - start)
            if status != 200 or len(reply["masks"]) != 3:
                errors.append(f"segment: HTTP {status} {str(reply)[:200]}")
            else:
                decode_ms.append(reply["decode_ms"])
    except (OSError, http.client.HTTPException, ValueError) as error:
        errors.append(f"{type(error).__name__}: {error}")
    finally:
        client.close()
        out["latencies"], out["decode_ms"], out["errors"] = latencies, decode_ms, errors


def start_server(port: int, model: str | None, backend: str | None, cache_mb: float) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "dualsam",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--cache-mb",
        str(cache_mb),
    ]
    if model:
        command += ["--model", model]
    if backend:
        command += ["--backend", backend]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dualsam serve exited: {process.stderr.read()}")
        try:
            client = Client(port)
            status, _ = client.request("GET", "/api/health")
            client.close()
            if status == 200:
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"dualsam serve did not answer within {START_TIMEOUT_S} s")


def run_round(port: int, indices: list[int], clicks: int, deadline: float) -> tuple[list[dict], float]:
    """One client thread per index, all at once; returns their results and the wall time."""
    results = [{} for _ in indices]
    threads = [
        threading.Thread(target=run_client, args=(index, port, clicks, deadline, out))
        for index, out in zip(indices, results)
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - start


def health(port: int) -> dict:
    client = Client(port)
    try:
        return client.request("GET", "/api/health")[1]
    finally:
        client.close()


def stop(server: subprocess.Popen) -> None:
    """SIGTERM (uvicorn finishes the requests in flight), then SIGKILL after a minute."""
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def load_test(args: argparse.Namespace, model: str | None) -> dict:
    port = free_port()
    server = start_server(port, model, args.backend, args.cache_mb)
    try:
        rss_start = rss_mib(server.pid)
        # A warm-up round at the same concurrency on other images (one upload and five clicks each), so that lazy
        # initialization, the server's worker threads and their allocator arenas exist before "RSS before".
        warm, _ = run_round(port, [10_000 + i for i in range(args.clients)], 5, time.monotonic() + args.deadline_s)
        if any(r["errors"] for r in warm):
            raise RuntimeError(f"warm-up failed: {[r['errors'] for r in warm]}")
        rss_before, cache_before = rss_mib(server.pid), health(port)["cache"]["bytes"] / 2**20
        cpu_before = cpu_s(server.pid)
        results, wall = run_round(port, list(range(args.clients)), args.clicks, time.monotonic() + args.deadline_s)
        server_cpu = cpu_s(server.pid) - cpu_before
        rss_after, after = rss_mib(server.pid), health(port)
    finally:
        stop(server)
    latencies = np.array([x for r in results for x in r.get("latencies", [])]) * 1000
    errors = [e for r in results for e in r.get("errors", [])]
    requests = len(latencies) + sum("upload_s" in r for r in results)
    cache_added = after["cache"]["bytes"] / 2**20 - cache_before
    percentile = lambda q: round(float(np.percentile(latencies, q)), 1) if len(latencies) else None  # noqa: E731
    return {
        "model": after["model"]["spec"],
        "backend": after["model"]["backend"],
        "clients": args.clients,
        "clicks_per_client": args.clicks,
        "clicks": int(len(latencies)),
        "errors": len(errors),
        "error_samples": errors[:5],
        "click_p50_ms": percentile(50),
        "click_p95_ms": percentile(95),
        "server_decode_p50_ms": round(float(np.median([x for r in results for x in r.get("decode_ms", [])] or [0])), 1),
        "upload_p50_ms": round(1000 * float(np.median([r["upload_s"] for r in results if "upload_s" in r])), 1),
        "requests_per_s": round(requests / wall, 1),
        "clicks_per_s": round(len(latencies) / wall, 1),
        "wall_s": round(wall, 2),
        # The server's CPU time over the round (its uploads included) per click: the cores it needs per click.
        "server_cpu_ms_per_click": round(1000 * server_cpu / max(1, len(latencies)), 1),
        "rss_start_mib": round(rss_start, 1),
        "rss_before_mib": round(rss_before, 1),
        "rss_after_mib": round(rss_after, 1),
        "cache_added_mib": round(cache_added, 2),
        "cache_limit_mib": args.cache_mb,
        "rss_growth_within_cache_added": rss_after <= rss_before + cache_added,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--clicks", type=int, default=50, help="clicks per client")
    parser.add_argument("--model", help="a model directory (default: the shipped default model)")
    parser.add_argument("--vitb", action="store_true", help="a ViT-B-sized model with random weights instead")
    parser.add_argument("--backend", help="torch, tf or onnx (default: torch if installed)")
    parser.add_argument("--cache-mb", type=float, default=1024)
    parser.add_argument("--deadline-s", type=float, default=600, help="stop clicking after this long")
    parser.add_argument("--json", help="also write the report here")
    args = parser.parse_args()
    if not (0 < args.clients <= 64 and 0 < args.clicks <= 1000):
        parser.error("--clients must be 1..64 and --clicks 1..1000")
    load_before = load_line("before")
    with tempfile.TemporaryDirectory() as scratch:
        model = vitb_model(os.path.join(scratch, "vitb")) if args.vitb else args.model
        report = load_test(args, model)
    report["machine"] = machine_line()
    report["load"] = f"{load_before}, {load_line('after')}"
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
    if report["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
