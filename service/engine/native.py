"""Bounds on the memory a worker holds outside Python: oneDNN's kernel cache and glibc's malloc
arenas. Both are set before the worker's first forward pass, from the settings.

  * oneDNN keeps a compiled kernel per input shape (batch size x text length), up to 1,024 by
    default: under texts of every length, a worker grew from 440 to 730 MiB in a minute
    (python -m benchmarks.memory). Kept to SENTIMENT_ONEDNN_CACHE_CAPACITY (16), it stays near
    its size after warm-up: almost every batch of such traffic is a new shape anyway, so the
    cache saves little there.
  * glibc gives each thread that allocates its own arena, up to 8 per CPU, and memory freed in
    one arena is not reused by another: with the cache bounded, 2 arenas
    (SENTIMENT_MALLOC_ARENAS) took a worker's peak from 520 to 440 MiB.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import logging
import os
import sys

from service.settings import Settings

log = logging.getLogger("service.native")
M_ARENA_MAX = -8  # glibc's malloc.h


def bound_native_memory(settings: Settings) -> None:
    """Apply both bounds to this process; call it before torch runs its first oneDNN kernel."""
    bound(settings.onednn_cache_capacity, settings.malloc_arenas)


def bound(onednn_cache_capacity: int, malloc_arenas: int) -> None:
    """The two bounds, as values: the service passes its settings, bulk scoring their defaults."""
    os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] = str(onednn_cache_capacity)
    if malloc_arenas and sys.platform.startswith("linux"):
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name or "libc.so.6")
            if libc.mallopt(M_ARENA_MAX, malloc_arenas) != 1:
                log.warning("glibc refused M_ARENA_MAX=%d", malloc_arenas)
        except (OSError, AttributeError):  # not glibc (musl, say): nothing to bound
            log.info("no glibc mallopt here; malloc arenas left as they are")


def release_memory() -> None:
    """After a model is dropped: collect it now and hand freed heap back to the kernel, so that
    resident memory falls back to one model's instead of waiting for the next allocation."""
    gc.collect()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
            ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
