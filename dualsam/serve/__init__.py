"""``dualsam serve``: a click-to-segment page and its JSON API, on FastAPI and uvicorn (``dualsam[serve]``).

The image is encoded once when it is uploaded; each click runs only the prompt encoder and mask decoder on the
cached embedding. One concept a module: ``cache`` (the embedding LRU, bounded in bytes), ``session`` (the one model
and its slots), ``jobs`` (segment-everything jobs), ``schemas`` (request and response bodies), ``masks`` (masks as
COCO RLE and PNG data URLs), ``memory`` (a flat RSS under traffic), ``app`` (``create_app``). Importing this package
imports neither FastAPI nor a framework; ``require_serve`` says how to install what is missing.
"""

from __future__ import annotations

import importlib.util

#: The modules ``dualsam serve`` needs, installed by the extra.
SERVE_MODULES = ("fastapi", "uvicorn", "python_multipart")
INSTALL_HINT = "pip install 'dualsam[serve]'"


class ServeMissingError(ImportError):
    """FastAPI, uvicorn or python-multipart is missing; the message is the one-line install hint."""


def require_serve() -> None:
    """Raises ServeMissingError (with the pip line) unless the serve extra's modules can be imported."""
    missing = [name for name in SERVE_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise ServeMissingError(f"dualsam serve needs {', '.join(missing)}: {INSTALL_HINT}")
