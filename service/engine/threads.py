"""The thread policy: how many batches run at once on CPU, with how many torch threads each, and
the set-up of each thread that runs torch (its own OpenMP thread count, and a lower priority for
explanation threads)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from dataclasses import dataclass

import torch

from model.runtime import resolve_device
from service.settings import Settings, usable_cpus

log = logging.getLogger("service.threads")

# On CPU, batches run side by side, each on one inference thread with few intra-op threads:
# on 2 CPUs, two batches on one torch thread each scored 25-56% more texts per second than one
# batch at a time on two torch threads, which spend much of their time synchronising (two runs
# of python -m benchmarks.threads --concurrency). Beyond four, batches would get small; larger
# machines give each of the four more intra-op threads instead.
MAX_CONCURRENT_BATCHES = 4


@dataclass(frozen=True)
class Parallelism:
    batches: int  # batches that run at once, each on its own inference thread
    torch_threads: int  # intra-op threads of each of those


def parallelism(settings: Settings) -> Parallelism:
    """The CPUs this process may use (shared among workers), split so that batches x threads
    never exceeds them. A GPU runs one batch at a time."""
    return split_cpus(
        max(1, usable_cpus() // settings.workers),
        cuda=resolve_device(settings.device).type == "cuda",
        batches=settings.inference_threads,
        torch_threads=settings.torch_threads,
    )


def split_cpus(cpus: int, cuda: bool, batches: int = 0, torch_threads: int = 0) -> Parallelism:
    """`cpus` split into concurrent batches and torch threads each; a 0 is chosen by the policy
    above. The service and bulk scoring (bulk.local) share it."""
    if cuda:
        return Parallelism(batches or 1, torch_threads or cpus)
    batches = batches or min(cpus, MAX_CONCURRENT_BATCHES)
    return Parallelism(batches, torch_threads or max(1, cpus // batches))


def init_inference_thread(torch_threads: int) -> None:
    """Each inference thread's own torch thread count (OpenMP keeps it per thread)."""
    torch.set_num_threads(torch_threads)


def lower_priority(nice: int) -> None:
    """Raise this thread's niceness to `nice`, so that it gets the CPU only when /predict's
    threads leave some. Linux gives each thread its own; elsewhere this does nothing."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, thread) < nice:
            os.setpriority(os.PRIO_PROCESS, thread, nice)
    except OSError as exc:  # a sandbox that forbids it: run at the process's priority
        log.warning("could not lower the priority of a background thread: %s", exc)


def name_thread(name: str) -> None:
    """Give this thread a name the kernel shows (/proc/<pid>/task/<tid>/comm, top -H), so that
    its CPU time can be told apart: the shadow's, the loader's, the explainers'."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import ctypes.util

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME; 15 characters at most
