"""The machine a figure was measured on, as every figure states it: the CPU's model name (as
lscpu prints it), whether it has native bf16, and the CPUs this process may use."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_description() -> str:
    """E.g. 'AMD EPYC, no native bf16, 2 CPUs'."""
    from model.runtime import cpu_has_native_bf16
    from service.settings import usable_cpus

    bf16 = "native bf16" if cpu_has_native_bf16() else "no native bf16"
    return f"{cpu_model()}, {bf16}, {usable_cpus()} CPUs"


def settled_load(below: float, wait_s: float = 120.0) -> float:
    """The 1-minute load average once it is below `below`, waiting up to `wait_s` seconds: the
    average still counts a benchmark that ended a minute ago, which would mark the next one's
    figures as measured on a shared machine. After the wait, whatever it is."""
    import os
    import time

    deadline = time.monotonic() + wait_s
    load = os.getloadavg()[0]
    if load >= below:
        print(f"load average {load:.2f}: waiting up to {wait_s:.0f} s for it to settle", flush=True)
    while load >= below and time.monotonic() < deadline:
        time.sleep(5)
        load = os.getloadavg()[0]
    return load
