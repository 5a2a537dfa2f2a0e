"""Which backends are installed, judged without importing them, and the one-line install hint for a missing one."""

from __future__ import annotations

import importlib.util

#: Backend name -> the modules it needs, and the extra that installs them.
BACKENDS: dict[str, tuple[tuple[str, ...], str]] = {
    "torch": (("torch",), "torch"),
    "tf": (("tensorflow", "keras"), "tf"),
}


class BackendMissingError(ImportError):
    """A backend's framework is not installed; the message is the one-line ``pip install 'dualsam[...]'`` hint."""


def is_installed(backend: str) -> bool:
    """True when every module ``backend`` needs can be found (nothing is imported)."""
    modules, _ = BACKENDS[backend]
    return all(importlib.util.find_spec(name) is not None for name in modules)


def installed_backends() -> list[str]:
    """The installed backends, torch first."""
    return [name for name in BACKENDS if is_installed(name)]


def install_hint(backend: str) -> str:
    """``pip install 'dualsam[EXTRA]'`` for ``backend``."""
    return f"pip install 'dualsam[{BACKENDS[backend][1]}]'"


def require_backend(backend: str, purpose: str = "") -> None:
    """Raises BackendMissingError (one line, with the install hint) unless ``backend`` is installed.

    Args:
        backend: "torch" or "tf".
        purpose: what needs it, for the message (e.g. "verifying the tf output").
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if not is_installed(backend):
        what = f" for {purpose}" if purpose else ""
        raise BackendMissingError(f"the {backend} backend is needed{what} but not installed: {install_hint(backend)}")
