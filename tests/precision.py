"""Tests that need native bf16 run where the CPU has it; elsewhere the refusal tests (the
detection patched either way) cover what such a CPU does with an explicit bf16."""

from __future__ import annotations

import pytest

from model import runtime

NATIVE_BF16 = runtime.cpu_has_native_bf16()
needs_native_bf16 = pytest.mark.skipif(
    not NATIVE_BF16,
    reason="this CPU has no native bf16: an explicit bf16 is refused here, which the tests "
    "named *refused* check",
)
no_native_bf16 = pytest.mark.skipif(
    NATIVE_BF16, reason="this CPU has native bf16: the bf16 tests run it for real"
)


def pretend_cpu(monkeypatch: pytest.MonkeyPatch, native_bf16: bool) -> None:
    """Make model.runtime see a CPU with (or without) native bf16."""
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: native_bf16)
