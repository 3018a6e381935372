"""Where and in which precision the network runs: device and dtype choice, autocast."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "fp32", "bf16", "fp16")
_TORCH_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_native_bf16() -> bool:
    """True on CPUs with AVX512-BF16 or AMX, where bf16 matmuls beat fp32 several times over.
    The CPU's own flags decide: oneDNN's "bf16 supported" check also says yes where bf16 is
    only emulated, and its bf16 LSTM then fails outright (AVX2-only AMD EPYC, for one)."""
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    if any(getattr(cpu, name, lambda: False)() for name in checks):
        return True
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_device(device: str) -> torch.device:
    """'auto' is CUDA when available, else CPU; 'cuda' without CUDA is an error."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but torch sees no CUDA device")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


class PrecisionError(ValueError):
    """A precision this device cannot run; the message says which to use instead."""


NO_NATIVE_BF16 = (
    "this CPU has no native bf16; use auto or fp32 (it has neither AVX512-BF16 nor AMX, without "
    "which oneDNN's bf16 LSTM fails or is emulated)"
)


def resolve_dtype(dtype: str, device: torch.device) -> str:
    """'auto' is bf16 on GPUs and on CPUs with native bf16, fp32 elsewhere. An explicit bf16 on
    a CPU without native bf16 is refused (PrecisionError), as is fp16 on any CPU: the first
    fails inside oneDNN on the first forward pass, with a message that names neither cause nor
    fix, or runs emulated at a fraction of fp32's speed."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if dtype == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_native_bf16() else "fp32"
    if dtype == "fp16" and device.type == "cpu":
        raise PrecisionError("dtype 'fp16' needs a CUDA device; use 'bf16' or 'fp32' on CPU")
    if dtype == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        raise PrecisionError(f"dtype 'bf16' was asked for, but {NO_NATIVE_BF16}")
    return dtype


@contextlib.contextmanager
def autocast(device: torch.device, dtype: str) -> Iterator[None]:
    """Mixed precision for `dtype` on `device`; fp32 runs as is."""
    if dtype == "fp32":
        yield
        return
    with torch.autocast(device.type, dtype=_TORCH_DTYPES[dtype]):
        yield
