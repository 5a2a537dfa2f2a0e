"""The machine line every benchmark prints: architecture, CPU count and model, Python, and the load average (figures
from a busy machine are not comparable)."""

from __future__ import annotations

import os
import platform
import resource


def cpu_model() -> str:
    """The CPU's model name (Linux), else the platform string."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.platform()


def machine_line() -> str:
    return f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {cpu_model()}, python {platform.python_version()}"


def load_line(when: str) -> str:
    return f"load average {when}: {os.getloadavg()[0]:.2f}"


def peak_rss_kib() -> int:
    """This process's peak resident memory (KiB): VmHWM, which starts afresh at exec. (getrusage's ru_maxrss does
    not: a spawned child would report at least its parent's peak at the fork.)"""
    with open("/proc/self/status", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # no /proc: an upper bound
