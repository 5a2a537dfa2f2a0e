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


def _busy_and_total_jiffies() -> tuple[int, int]:
    with open("/proc/stat", encoding="utf-8") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def wait_quiet(idle_share: float = 0.9, interval_s: float = 1.0, timeout_s: float = 60.0) -> float:
    """Waits until the machine's CPUs were at least ``idle_share`` idle over one ``interval_s`` (Linux /proc/stat),
    or ``timeout_s`` passed; returns the seconds waited. Used after starting background services (a Ray cluster)
    so that their own start-up does not land in the next timing."""
    import time

    start = time.perf_counter()
    busy, total = _busy_and_total_jiffies()
    while time.perf_counter() - start < timeout_s:
        time.sleep(interval_s)
        now_busy, now_total = _busy_and_total_jiffies()
        if now_total > total and (now_busy - busy) / (now_total - total) <= 1 - idle_share:
            break
        busy, total = now_busy, now_total
    return time.perf_counter() - start
