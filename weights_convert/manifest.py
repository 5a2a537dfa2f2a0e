"""The conversion manifest (``dualsam_manifest.json``): each output file's sha256, the source and the settings."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

from sam_core.atomic import write_json

MANIFEST_NAME = "dualsam_manifest.json"
MANIFEST_VERSION = 1
_CHUNK = 1 << 22


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_entries(paths: list[str], root: str | None = None) -> dict[str, dict[str, Any]]:
    """name -> {sha256, bytes}; names are relative to ``root`` (or base names)."""
    entries = {}
    for path in paths:
        name = os.path.relpath(path, root) if root else os.path.basename(path)
        entries[name] = {"sha256": sha256_file(path), "bytes": os.path.getsize(path)}
    return entries


def _version() -> str:
    try:
        return metadata.version("dualsam")
    except metadata.PackageNotFoundError:
        return "unknown"


def write_manifest(directory: str, *, source: dict[str, Any], settings: dict[str, Any], **sections: Any) -> dict:
    """Hashes every file already in ``directory`` and writes the manifest next to them.

    Args:
        directory: the (temporary) output directory, complete except for the manifest.
        source: the source's path, format, naming and file hashes.
        settings: the conversion settings (targets, dtype, config origin, ...).
        **sections: further JSON-ready sections (notes, warnings, dropped keys, verify results).

    Returns:
        The manifest dict.
    """
    names = sorted(n for n in os.listdir(directory) if n != MANIFEST_NAME)
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "dualsam_version": _version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": file_entries([os.path.join(directory, n) for n in names]),
        "source": source,
        "settings": settings,
        **sections,
    }
    write_json(os.path.join(directory, MANIFEST_NAME), manifest, sort_keys=True)
    return manifest


def check_manifest(directory: str) -> list[str]:
    """Names of the files whose sha256 or size no longer match the manifest (or that are missing)."""
    with open(os.path.join(directory, MANIFEST_NAME), encoding="utf-8") as handle:
        manifest = json.load(handle)
    bad = []
    for name, entry in manifest["files"].items():
        path = os.path.join(directory, name)
        if not os.path.isfile(path) or os.path.getsize(path) != entry["bytes"] or sha256_file(path) != entry["sha256"]:
            bad.append(name)
    return bad
