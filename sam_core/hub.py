"""Finding a file in a local directory or, for a Hugging Face Hub id, in the Hub cache.

Nothing here touches the network at import time; ``huggingface_hub`` is imported only when a hub id is
actually resolved, and it is optional (``pip install 'dualsam[hub]'``).
"""

from __future__ import annotations

import os
from typing import Any


def _looks_like_local_path(name: str) -> bool:
    """True for strings that can only be meant as a filesystem path (hub ids are "name" or "owner/name")."""
    return (
        os.path.isabs(name)
        or name.startswith((".", "~"))
        or "\\" in name
        or name.count("/") > 1
        or os.path.exists(name)
    )


def resolve_file(
    name_or_path: str | os.PathLike, filename: str, *, required: bool = True, **hub_kwargs: Any
) -> str | None:
    """Returns the local path of ``filename`` inside a directory or a Hub repository.

    Args:
        name_or_path: a local directory, or a Hub id such as "facebook/sam-vit-base".
        filename: the file's name inside the directory / repository (may contain "/").
        required: when False, a missing file gives None instead of an error.
        **hub_kwargs: passed to ``huggingface_hub.hf_hub_download`` (revision, cache_dir, token,
            local_files_only, subfolder, ...). Ignored for local directories.

    Returns:
        The path of the file, or None when it is missing and ``required`` is False.

    Raises:
        FileNotFoundError: the file (or the local directory) does not exist and ``required`` is True.
        ImportError: ``name_or_path`` is a Hub id but huggingface_hub is not installed.
    """
    name = os.fspath(name_or_path)
    if os.path.isdir(name):
        path = os.path.join(name, filename)
        if os.path.isfile(path):
            return path
        if required:
            raise FileNotFoundError(f"{filename} not found in directory {name}")
        return None
    if _looks_like_local_path(name):
        if os.path.isfile(name):
            raise FileNotFoundError(f"{name} is a file; pass the directory that holds {filename}")
        raise FileNotFoundError(f"directory {name} does not exist (looking for {filename})")
    return _download(name, filename, required=required, **hub_kwargs)


def _download(repo_id: str, filename: str, *, required: bool, **hub_kwargs: Any) -> str | None:
    try:
        import huggingface_hub
    except ImportError as error:
        raise ImportError(
            f"{repo_id!r} is not a local directory, so it is read as a Hugging Face Hub id, which needs the "
            "huggingface_hub package: pip install 'dualsam[hub]', or pass a local directory instead."
        ) from error
    missing_errors = _missing_file_errors(huggingface_hub)
    try:
        return huggingface_hub.hf_hub_download(repo_id=repo_id, filename=filename, **hub_kwargs)
    except missing_errors:
        if required:
            raise
        return None


def _missing_file_errors(module: Any) -> tuple[type[BaseException], ...]:
    """The exception types huggingface_hub raises for a file absent from an existing repository."""
    errors = getattr(module, "errors", None)
    found = [getattr(errors, name, None) for name in ("EntryNotFoundError", "RemoteEntryNotFoundError")]
    found = [e for e in found if isinstance(e, type) and issubclass(e, BaseException)]
    return tuple(found) or (FileNotFoundError,)
